"""Shared safety nets for the SDK tests: short timeouts and no leaked job threads."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest

from ango_plugins_sdk import _connection, _runner


@pytest.fixture(autouse=True)
def _short_sdk_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that forgets to finish its jobs fails fast instead of waiting 10 s."""
    monkeypatch.setattr(_runner, "SHUTDOWN_GRACE", 0.5)
    monkeypatch.setattr(_connection, "WELCOME_TIMEOUT", 1.0)


def _job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("plugin-job")]


@pytest.fixture(autouse=True)
def _no_leaked_job_threads() -> Iterator[None]:
    """Every worker thread a test started must be gone shortly after it ends."""
    before = set(_job_threads())
    yield
    deadline = time.monotonic() + 2.0
    while (
        leaked := [t for t in _job_threads() if t not in before]
    ) and time.monotonic() < deadline:
        gc.collect()  # a pool nobody references wakes its idle threads so they end
        time.sleep(0.01)
    assert not leaked, f"job threads still alive after the test: {leaked}"
