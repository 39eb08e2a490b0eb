"""Reconnect delays: exponential, capped, with full jitter on every delay.

Full jitter (a uniform draw between 0 and the capped exponential) spreads a
fleet of plugins that lost the hub at the same instant, so a restarted hub is
not hit by all of them in the same millisecond.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

DEFAULT_INITIAL_DELAY = 0.5
DEFAULT_MAX_DELAY = 30.0
DEFAULT_MULTIPLIER = 2.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """The reconnect schedule. Attempt 0 is the first retry after a drop."""

    initial: float = DEFAULT_INITIAL_DELAY
    maximum: float = DEFAULT_MAX_DELAY
    multiplier: float = DEFAULT_MULTIPLIER

    def __post_init__(self) -> None:
        # Each test is "not <valid>" so that NaN, which fails every comparison, is refused.
        if not self.initial > 0:
            raise ValueError(f"initial delay must be > 0, got {self.initial}")
        if not self.initial <= self.maximum < math.inf:
            raise ValueError(f"maximum {self.maximum} must be finite and >= initial {self.initial}")
        if not self.multiplier >= 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")

    def ceiling(self, attempt: int) -> float:
        """The largest delay attempt `attempt` may draw: min(maximum, initial * multiplier**n)."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        # Compare exponents instead of computing a huge power for large attempts.
        delay = self.initial
        for _ in range(attempt):
            delay *= self.multiplier
            if delay >= self.maximum:
                return self.maximum
        return delay

    def delay(
        self, attempt: int, uniform: Callable[[float, float], float] = random.uniform
    ) -> float:
        """A jittered delay for `attempt`, drawn uniformly from [0, ceiling(attempt)]."""
        return uniform(0.0, self.ceiling(attempt))

    def delays(self, uniform: Callable[[float, float], float] = random.uniform) -> Iterator[float]:
        """An endless schedule of jittered delays: attempt 0, 1, 2, ..."""
        attempt = 0
        while True:
            yield self.delay(attempt, uniform)
            attempt += 1
