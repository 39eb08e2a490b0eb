"""Failed sign-ins are throttled per email, and an unknown email takes as long as a known one."""

from __future__ import annotations

import pytest

from hub.services import throttle as throttle_module
from hub.services.throttle import FailureThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_holds_until_the_oldest_failure_ages_out() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("a@x") == 0
        throttle.failed("a@x")
        clock.now += 10
    assert throttle.retry_after("a@x") == 30  # the first failure was 30 s ago
    assert throttle.retry_after("b@x") == 0  # others are not affected
    clock.now += 30
    assert throttle.retry_after("a@x") == 0


def test_a_success_forgets_the_failures() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=2, window=60, clock=clock)
    throttle.failed("a@x")
    throttle.succeeded("a@x")
    throttle.failed("a@x")
    assert throttle.retry_after("a@x") == 0


def test_keys_are_forgotten_once_their_failures_age_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle_module, "SWEEP_AT", 5)
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60, clock=clock)
    for n in range(5):
        throttle.failed(f"user{n}@x")
    clock.now += 61
    throttle.failed("late@x")  # the table is full: the aged keys go
    assert set(throttle._failures) == {"late@x"}
    assert throttle.retry_after("never-failed@x") == 0
    assert "never-failed@x" not in throttle._failures
