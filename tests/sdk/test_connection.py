"""HubConnection against the in-memory hub: handshake, heartbeats, reconnects, stops."""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import ango_plugins_sdk
from ango_plugins_sdk import CustomJob, PluginStopped, _connection
from ango_plugins_sdk.protocol import (
    Accepted,
    Ack,
    Backoff,
    CloseCode,
    Error,
    ErrorCode,
    Heartbeat,
    JobRef,
    Result,
    encode,
)
from tests.sdk.fakehub import (
    HEARTBEAT_INTERVAL,
    PLUGIN_ID,
    SECRET,
    FakeHub,
    custom_plugin,
    eventually,
    heartbeats,
    hub_connection,
    job,
    serving,
)
from tests.timing import PATIENCE


def echo(job: CustomJob[Any]) -> dict[str, Any]:
    return {"echo": job.config}


class RecordingBackoff(Backoff):
    """A fast backoff that records the retry numbers asked for (and can force a delay)."""

    attempts: list[int]
    fixed: float | None

    def __init__(self, fixed: float | None = None) -> None:
        super().__init__(initial=0.01, maximum=0.05)
        # Backoff is a frozen dataclass: its __setattr__ refuses, so go around it.
        object.__setattr__(self, "attempts", [])
        object.__setattr__(self, "fixed", fixed)

    def delay(
        self, attempt: int, uniform: Callable[[float, float], float] = random.uniform
    ) -> float:
        self.attempts.append(attempt)
        drawn = super().delay(attempt, uniform)
        assert 0 <= drawn <= self.ceiling(attempt)
        return drawn if self.fixed is None else self.fixed


# --- handshake ------------------------------------------------------------------------


async def test_hello_follows_welcome_and_describes_the_process() -> None:
    hub = FakeHub()
    async with serving(custom_plugin(echo, concurrency=3, version="2.5.1"), hub):
        channel = await hub.session(0)
        hello = channel.first  # the very first frame the plugin sends
    assert hello.sdk_version == ango_plugins_sdk.__version__
    assert hello.plugin_version == "2.5.1"
    assert hello.hostname == socket.gethostname()[:255]
    assert hello.pid == os.getpid()
    assert hello.capacity == 3
    assert hello.jobs == []
    assert hello.protocol == 1


async def test_credentials_travel_only_in_the_basic_auth_header() -> None:
    hub = FakeHub()
    async with serving(custom_plugin(echo), hub):
        channel = await hub.session(0)
        await eventually(lambda: len(heartbeats(channel)) >= 1, what="a heartbeat")
    assert channel.url == "ws://hub.test/ws/plugin"
    expected = base64.b64encode(f"{PLUGIN_ID}:{SECRET}".encode()).decode()
    assert channel.headers == {"Authorization": f"Basic {expected}"}
    assert SECRET not in channel.url
    assert not [frame for frame in channel.raw_received if SECRET in frame]


# --- heartbeats -----------------------------------------------------------------------


async def test_heartbeats_arrive_at_about_the_interval() -> None:
    hub = FakeHub()
    async with serving(custom_plugin(echo), hub):
        channel = await hub.session(0)
        await eventually(lambda: len(heartbeats(channel)) >= 8, what="8 heartbeats")
    times = [
        t
        for m, t in zip(channel.received, channel.received_at, strict=True)
        if m.type == "heartbeat"
    ]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Never faster than asked (how much slower is a loaded machine's business).
    assert min(gaps) >= HEARTBEAT_INTERVAL * 0.8, gaps
    assert all(hb.jobs == [] for hb in heartbeats(channel))


async def test_heartbeats_keep_flowing_while_a_sync_callback_blocks() -> None:
    release = threading.Event()

    def blocking(job: CustomJob[Any]) -> str:
        release.wait(PATIENCE)  # blocks its thread until the test has seen the heartbeats
        return "done"

    def running() -> list[Heartbeat]:
        return [m for m in heartbeats(channel) if m.jobs]

    hub = FakeHub()
    async with serving(custom_plugin(blocking), hub):
        channel = await hub.session(0)
        channel.push(job("slow"))
        try:
            # A loop blocked by the callback would send none while it runs.
            await eventually(lambda: len(running()) >= 3, what="heartbeats during the job")
        finally:
            release.set()
        await channel.wait_for(Result, job_id="slow")
    assert running()[0].jobs == [JobRef(job_id="slow", attempt=1)]


# --- reconnecting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [1006, CloseCode.SERVICE_RESTART, CloseCode.PROTOCOL_ERROR, CloseCode.HEARTBEAT_TIMEOUT],
)
async def test_reconnects_after_a_non_final_close(code: int) -> None:
    backoff = RecordingBackoff()
    hub = FakeHub()
    async with serving(custom_plugin(echo), hub, backoff=backoff):
        first = await hub.session(0)
        first.hang_up(code, "bye")
        second = await hub.session(1)
        # The new session works: jobs flow on it.
        second.push(job("after"))
        result = await second.wait_for(Result, job_id="after")
    assert result.output == {"echo": {}}
    assert hub.connects == 2
    assert backoff.attempts == [0]  # a session that reached hello restarts the schedule


async def test_reconnect_waits_for_the_backoff_delay() -> None:
    backoff = RecordingBackoff(fixed=0.15)
    hub = FakeHub()
    async with serving(custom_plugin(echo), hub, backoff=backoff):
        first = await hub.session(0)
        dropped = time.monotonic()
        first.hang_up(1006)
        await hub.session(1)
    # Not before the delay (how long after is a loaded machine's business).
    assert hub.connect_times[1] - dropped >= 0.15


async def test_reconnects_after_the_hub_is_unreachable_for_a_while() -> None:
    backoff = RecordingBackoff()
    hub = FakeHub()
    hub.fail_next(4)
    async with serving(custom_plugin(echo), hub, backoff=backoff):
        first = await hub.session(0)
        assert hub.connects == 5
        assert backoff.attempts == [0, 1, 2, 3]  # growing ceilings while nothing works
        first.hang_up(1012)
        await hub.session(1)
    assert backoff.attempts == [0, 1, 2, 3, 0]  # starts over once a session got to hello


async def test_after_a_restart_close_the_plugin_keeps_trying_every_second_or_less() -> None:
    """1012 says the hub is coming back: the growing waits meant for a hub that is down
    would keep the process away once it is up."""
    backoff = RecordingBackoff(fixed=3600)  # the schedule alone would wait an hour
    hub = FakeHub()
    async with serving(custom_plugin(echo), hub, backoff=backoff):
        first = await hub.session(0)
        hub.fail_next(3)  # the hub is restarting
        first.hang_up(int(CloseCode.SERVICE_RESTART))
        await hub.session(1, timeout=PATIENCE)
    assert hub.connects == 5
    assert backoff.attempts == [0, 1, 2, 3]


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_stop_the_plugin_without_retrying(status: int) -> None:
    hub = FakeHub()
    hub.refuse_next(status)
    async with serving(custom_plugin(echo), hub) as served:
        with pytest.raises(PluginStopped) as stopped:
            await served.finished()
    message = str(stopped.value)
    assert f"HTTP {status}" in message
    assert "bad secret" in message  # the hub's own explanation
    assert PLUGIN_ID in message
    assert "PLUGIN_SECRET" in message
    assert SECRET not in message
    assert hub.connects == 1


async def test_other_handshake_refusals_are_retried() -> None:
    hub = FakeHub()
    hub.refuse_next(503, "overloaded")
    async with serving(custom_plugin(echo), hub):
        await hub.session(0)
    assert hub.connects == 2


@pytest.mark.parametrize(
    "code",
    [CloseCode.CREDENTIALS_REVOKED, CloseCode.PLUGIN_DELETED, CloseCode.UNSUPPORTED_PROTOCOL],
)
async def test_a_final_close_code_stops_the_plugin(code: CloseCode) -> None:
    hub = FakeHub()
    async with serving(custom_plugin(echo), hub) as served:
        channel = await hub.session(0)
        channel.hang_up(code, "secret rotated")
        with pytest.raises(PluginStopped, match=code.name):
            await served.finished()
    assert hub.connects == 1


async def test_a_final_close_during_the_handshake_stops_the_plugin() -> None:
    hub = FakeHub()
    hub.first_frame_next(None)
    async with serving(custom_plugin(echo), hub) as served:
        channel = await hub.channel(0)
        channel.hang_up(CloseCode.CREDENTIALS_REVOKED)
        with pytest.raises(PluginStopped, match="CREDENTIALS_REVOKED"):
            await served.finished()
    assert hub.connects == 1


# --- stopping -------------------------------------------------------------------------


async def test_stop_ends_serve_and_closes_with_1000() -> None:
    hub = FakeHub()
    async with serving(custom_plugin(echo), hub) as served:
        channel = await hub.session(0)
        await served.stopped()
        assert served.task.result() is None
        assert channel.closed_by == "plugin"
        assert channel.closed_code == CloseCode.NORMAL
    assert hub.connects == 1


async def test_stop_while_the_hub_is_unreachable_ends_serve() -> None:
    backoff = RecordingBackoff(fixed=3600)  # a stop that waited for the retry would hang
    hub = FakeHub()
    hub.fail_next(1000)
    async with serving(custom_plugin(echo), hub, backoff=backoff) as served:
        await eventually(lambda: backoff.attempts, what="a failed dial and its retry delay")
        await served.stopped()
    assert hub.connects == 1
    assert hub.channels == []


async def test_stop_during_a_stalled_handshake_ends_serve_promptly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A stop that waited for the welcome to time out would hang.
    monkeypatch.setattr(_connection, "WELCOME_TIMEOUT", 3600)
    hub = FakeHub()
    hub.first_frame_next(None)  # the upgrade succeeds, then the hub says nothing
    async with serving(custom_plugin(echo), hub) as served:
        await hub.channel(0)
        await served.stopped()
    assert hub.connects == 1


# --- bad handshakes and bad frames ----------------------------------------------------


async def test_a_missing_welcome_is_a_failed_session_and_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_connection, "WELCOME_TIMEOUT", 0.1)
    backoff = RecordingBackoff()
    hub = FakeHub()
    hub.first_frame_next(None)
    async with serving(custom_plugin(echo), hub, backoff=backoff):
        await hub.session(1)
        first = hub.channels[0]
    assert first.received == []  # no hello without a welcome
    assert first.closed_by == "plugin"
    assert first.closed_code == CloseCode.PROTOCOL_ERROR
    assert backoff.attempts == [0]


@pytest.mark.parametrize(
    "frame",
    [
        encode(Ack(job_id="j", attempt=1)),  # valid, but not a welcome
        encode(job("too-early")),
        "not json at all",
        b"\x00binary",
        '{"type": "welcome"}',  # a welcome missing its fields
    ],
)
async def test_a_first_frame_that_is_not_a_welcome_fails_the_session(frame: str | bytes) -> None:
    backoff = RecordingBackoff()
    hub = FakeHub()
    hub.first_frame_next(frame)
    hub.first_frame_next(frame)
    async with serving(custom_plugin(echo), hub, backoff=backoff):
        third = await hub.session(2)
        third.push(job("ok"))
        await third.wait_for(Result, job_id="ok")
    for channel in hub.channels[:2]:
        assert channel.received == []
        assert channel.closed_code == CloseCode.PROTOCOL_ERROR
    assert backoff.attempts == [0, 1]  # failed handshakes do not reset the schedule
    # A job that came before the welcome was never started.
    assert not [m for channel in hub.channels for m in channel.job_messages("too-early")]


async def test_a_bad_frame_from_the_hub_is_skipped_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def record(job: CustomJob[Any]) -> str:
        calls.append(job.id)
        return job.id

    hub = FakeHub()
    async with serving(custom_plugin(record), hub):
        channel = await hub.session(0)
        with caplog.at_level(logging.WARNING, logger="ango_plugins_sdk"):
            channel.push_raw("{not json")
            channel.push_raw(b"\x01\x02")
            channel.push_raw('{"type": "no-such-type"}')
            channel.push_raw('{"type": "job", "job_id": "broken", "attempt": "1"}')
            channel.push_raw("x" * (hub.max_message_size + 1))
            channel.push(hub.welcome(99))  # a valid message the hub must not send now
            channel.push(job("good"))
            result = await channel.wait_for(Result, job_id="good")
    assert result.output == "good"
    assert calls == ["good"]
    assert hub.connects == 1
    assert channel.closed_by == "plugin"  # only when the test stopped it
    assert channel.job_messages("broken") == []  # bad frames are not answered
    assert not channel.of_type(Error)
    skipped = [r for r in caplog.records if "bad frame" in r.getMessage()]
    assert len(skipped) == 5


async def test_an_error_from_the_hub_is_logged_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = FakeHub()
    async with serving(custom_plugin(echo), hub):
        channel = await hub.session(0)
        with caplog.at_level(logging.ERROR, logger="ango_plugins_sdk"):
            channel.push(Error(code=ErrorCode.UNKNOWN_JOB, message="who is job-9?"))
            channel.push(job("next"))
            await channel.wait_for(Result, job_id="next")
    assert any("who is job-9?" in r.getMessage() for r in caplog.records)
    assert hub.connects == 1


# --- jobs across sessions -------------------------------------------------------------


async def test_a_running_job_survives_a_reconnect() -> None:
    release = threading.Event()

    def blocked(job: CustomJob[Any]) -> str:
        release.wait(2.0)
        return "finished"

    hub = FakeHub()
    try:
        async with serving(custom_plugin(blocked), hub):
            first = await hub.session(0)
            first.push(job("long", attempt=2))
            await first.wait_for(Accepted, job_id="long")
            first.hang_up(1006)
            second = await hub.session(1)
            assert second.first.jobs == [JobRef(job_id="long", attempt=2)]
            await eventually(lambda: any(hb.jobs for hb in heartbeats(second)), what="lease")
            release.set()
            result = await second.wait_for(Result, job_id="long")
    finally:
        release.set()
    assert result.attempt == 2
    assert result.output == "finished"
    assert first.of_type(Result) == []


async def test_the_connected_event_follows_the_session() -> None:
    hub = FakeHub()
    connection, _ = hub_connection(
        custom_plugin(echo), hub, host="https://hub.test/", backoff=RecordingBackoff(fixed=0.2)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(connection.run(stop))
    try:
        channel = await hub.session(0)
        assert channel.url == "wss://hub.test/ws/plugin"
        await eventually(connection.connected.is_set, what="connected")
        channel.hang_up(1006)
        await eventually(lambda: not connection.connected.is_set(), what="disconnected")
        await hub.session(1)
        await eventually(connection.connected.is_set, what="connected again")
    finally:
        stop.set()
        await asyncio.wait_for(task, 2.0)
    assert not connection.connected.is_set()
