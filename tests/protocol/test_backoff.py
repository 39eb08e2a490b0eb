"""The reconnect schedule: exponential, capped, full jitter."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from ango_plugins_sdk.protocol import Backoff
from ango_plugins_sdk.protocol.backoff import (
    DEFAULT_INITIAL_DELAY,
    DEFAULT_MAX_DELAY,
    DEFAULT_MULTIPLIER,
)


def lowest(low: float, high: float) -> float:
    return low


def highest(low: float, high: float) -> float:
    return high


class Recorder:
    """A `uniform` that remembers its bounds and returns the midpoint."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    def __call__(self, low: float, high: float) -> float:
        self.calls.append((low, high))
        return (low + high) / 2


def test_defaults() -> None:
    assert (DEFAULT_INITIAL_DELAY, DEFAULT_MAX_DELAY, DEFAULT_MULTIPLIER) == (0.5, 30.0, 2.0)
    backoff = Backoff()
    assert (backoff.initial, backoff.maximum, backoff.multiplier) == (0.5, 30.0, 2.0)


def test_ceiling_doubles_then_caps() -> None:
    backoff = Backoff()
    assert [backoff.ceiling(n) for n in range(10)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        30.0,
        30.0,
        30.0,
        30.0,
    ]


def test_ceiling_is_exact_at_the_cap() -> None:
    backoff = Backoff(initial=1, maximum=8, multiplier=2)
    assert [backoff.ceiling(n) for n in range(6)] == [1, 2, 4, 8, 8, 8]


def test_ceiling_of_a_huge_attempt_is_the_maximum_and_quick() -> None:
    assert Backoff().ceiling(10**9) == 30.0
    assert Backoff(initial=1, maximum=1e300, multiplier=1e10).ceiling(10**9) == 1e300


def test_multiplier_one_keeps_the_initial_delay() -> None:
    backoff = Backoff(initial=2, maximum=10, multiplier=1)
    assert {backoff.ceiling(n) for n in range(50)} == {2}


def test_initial_equal_to_maximum_is_constant() -> None:
    backoff = Backoff(initial=3, maximum=3)
    assert [backoff.ceiling(n) for n in range(4)] == [3, 3, 3, 3]


@pytest.mark.parametrize("attempt", [0, 1, 5, 6, 7, 100])
def test_delay_draws_between_zero_and_the_ceiling(attempt: int) -> None:
    backoff = Backoff()
    recorder = Recorder()
    delay = backoff.delay(attempt, uniform=recorder)
    assert recorder.calls == [(0.0, backoff.ceiling(attempt))]
    assert delay == backoff.ceiling(attempt) / 2
    assert backoff.delay(attempt, uniform=lowest) == 0.0
    assert backoff.delay(attempt, uniform=highest) == backoff.ceiling(attempt)


def test_real_jitter_stays_within_bounds_and_varies() -> None:
    backoff = Backoff()
    for attempt in range(12):
        draws = [backoff.delay(attempt) for _ in range(200)]
        assert all(0.0 <= d <= backoff.ceiling(attempt) for d in draws)
        assert len(set(draws)) > 1  # full jitter, not a fixed delay


def test_delays_yields_the_schedule() -> None:
    backoff = Backoff(initial=0.25, maximum=5, multiplier=3)
    assert list(itertools.islice(backoff.delays(uniform=highest), 6)) == [
        0.25,
        0.75,
        2.25,
        5,
        5,
        5,
    ]
    recorder = Recorder()
    schedule = backoff.delays(uniform=recorder)
    first = [next(schedule) for _ in range(4)]
    assert recorder.calls == [(0.0, 0.25), (0.0, 0.75), (0.0, 2.25), (0.0, 5)]
    assert first == [0.125, 0.375, 1.125, 2.5]


def test_delays_is_endless_and_within_bounds_with_real_randomness() -> None:
    backoff = Backoff()
    for attempt, delay in enumerate(itertools.islice(backoff.delays(), 1000)):
        assert 0.0 <= delay <= backoff.ceiling(attempt) <= 30.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": 0}, "initial delay must be > 0, got 0"),
        ({"initial": -1}, "initial delay must be > 0, got -1"),
        ({"initial": math.nan}, "initial delay must be > 0, got nan"),
        ({"initial": 31}, "maximum 30.0 must be finite and >= initial 31"),
        ({"initial": 2, "maximum": 1}, "maximum 1 must be finite and >= initial 2"),
        ({"maximum": math.nan}, "maximum nan must be finite and >= initial 0.5"),
        ({"maximum": math.inf}, "maximum inf must be finite and >= initial 0.5"),
        ({"initial": math.inf, "maximum": math.inf}, "maximum inf must be finite"),
        ({"multiplier": 0.5}, "multiplier must be >= 1, got 0.5"),
        ({"multiplier": 0}, "multiplier must be >= 1, got 0"),
        ({"multiplier": math.nan}, "multiplier must be >= 1, got nan"),
    ],
)
def test_invalid_arguments_raise(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.")):
        Backoff(**kwargs)


def test_negative_attempt_raises() -> None:
    with pytest.raises(ValueError, match=r"^attempt must be >= 0, got -1$"):
        Backoff().ceiling(-1)
    with pytest.raises(ValueError, match="attempt must be >= 0"):
        Backoff().delay(-3, uniform=highest)


def test_backoff_is_immutable() -> None:
    backoff = Backoff()
    with pytest.raises(dataclasses.FrozenInstanceError):
        backoff.initial = 1  # type: ignore[misc]
    assert Backoff() == backoff
