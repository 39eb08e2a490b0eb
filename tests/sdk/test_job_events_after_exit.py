"""A released sync job's thread that logs after the process's loop has closed (SIGTERM,
grace over) must not print a logging error: there is nobody left to send the record to."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ango_plugins_sdk import CustomPlugin
from ango_plugins_sdk._runner import JobRunner, _Events
from ango_plugins_sdk.protocol import LogRecord


def test_a_log_from_a_thread_after_the_loop_closed_is_dropped_quietly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def make() -> _Events:
        runner = JobRunner(CustomPlugin(callback=lambda job: None, version="1"))
        return _Events(runner, ("job", 1))

    loop = asyncio.new_event_loop()
    events = loop.run_until_complete(make())
    loop.close()
    errors: list[BaseException] = []

    def log_late() -> None:
        try:
            events.log(LogRecord(level="INFO", message="still here", time=0.0))
            events.progress(1, 2, None)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=log_late)
    thread.start()
    thread.join()
    assert errors == []
    assert "Logging error" not in capsys.readouterr().err
