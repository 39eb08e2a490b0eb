"""Failed sign-ins, counted per email in memory, to slow down password guessing.

After `limit` failures within `window` seconds an email is refused until the oldest of them
ages out. Per email rather than per address: behind a proxy every client has the proxy's
address, and a guesser spreading over addresses still hits the same account. The price is
that someone can keep an account locked by failing on purpose; the window is short for that.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

SWEEP_AT = 10_000
"""How many keys the table holds before a new failure first sweeps out the aged ones; the
next sweep waits until the table has doubled again, so sweeping costs O(1) per failure."""
MAX_KEYS = 100_000
"""A hard bound: past it the keys that failed first are forgotten. Flooding the table with
fresh emails can thus clear one account's count; that costs the flooder 100,000 requests."""


class FailureThrottle:
    def __init__(
        self, *, limit: int = 10, window: float = 900.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._sweep_at = SWEEP_AT

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        failures = self._recent(key)
        if failures is None or len(failures) < self._limit:
            return 0.0
        return failures[0] + self._window - self._clock()

    def failed(self, key: str) -> None:
        failures = self._recent(key)
        if failures is None:
            if len(self._failures) >= self._sweep_at:
                self._sweep()
            failures = self._failures[key] = deque()
        failures.append(self._clock())

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float] | None:
        """The key's failures within the window (None when there are none, and then the key
        is forgotten: the table holds only keys failing right now)."""
        failures = self._failures.get(key)
        if failures is None:
            return None
        horizon = self._clock() - self._window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def _sweep(self) -> None:
        """Forget every key whose failures all aged out (many emails tried once each), and
        past `MAX_KEYS` the oldest keys (a dict keeps insertion order)."""
        for key in list(self._failures):
            self._recent(key)
        excess = len(self._failures) - (MAX_KEYS - 1)
        for key in list(self._failures)[: max(0, excess)]:
            del self._failures[key]
        self._sweep_at = min(MAX_KEYS, max(SWEEP_AT, 2 * len(self._failures)))
