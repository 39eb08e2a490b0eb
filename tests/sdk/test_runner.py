"""JobRunner through a served plugin: callbacks, outcomes, logs, progress, cancel, outbox."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from typing import Any

import pytest
from pydantic import BaseModel

from ango_plugins_sdk import CustomJob, PluginStopped, _runner
from ango_plugins_sdk.protocol import (
    Accepted,
    Ack,
    Cancel,
    Failed,
    Heartbeat,
    JobRef,
    Log,
    Progress,
    Release,
    Result,
)
from tests.sdk.fakehub import (
    FakeChannel,
    FakeHub,
    custom_plugin,
    eventually,
    hub_connection,
    job,
    serving,
)
from tests.timing import PATIENCE


async def no_later_message(channel: FakeChannel, *, heartbeats: int = 2) -> None:
    """Let the plugin send whatever it was going to: a heartbeat comes after it."""
    seen = len(channel.of_type(Heartbeat))
    await eventually(
        lambda: len(channel.of_type(Heartbeat)) >= seen + heartbeats, what="heartbeats"
    )


# --- callbacks and results ------------------------------------------------------------


async def test_a_sync_callback_gets_the_job_and_its_result_is_sent() -> None:
    seen: list[Any] = []

    def callback(job: CustomJob[Any]) -> dict[str, Any]:
        seen.append((job, threading.current_thread().name))
        return {"sum": job.config["a"] + job.config["b"]}

    hub = FakeHub()
    async with serving(custom_plugin(callback), hub):
        channel = await hub.session(0)
        channel.push(
            job("j1", 3, config={"a": 1, "b": 2}, operation="op", input={"k": "v"}, timeout_s=9)
        )
        result = await channel.wait_for(Result, job_id="j1")
    assert result.attempt == 3
    assert result.output == {"sum": 3}
    assert channel.types_for("j1") == ["accepted", "result"]
    [(received, thread)] = seen
    assert isinstance(received, CustomJob)
    assert (received.id, received.attempt) == ("j1", 3)
    assert received.config == {"a": 1, "b": 2}
    assert (received.operation, received.input, received.timeout_s) == ("op", {"k": "v"}, 9)
    assert not received.cancelled
    assert thread.startswith("plugin-job")  # off the event loop


async def test_an_async_callback_gets_the_job_and_its_result_is_sent() -> None:
    seen: list[Any] = []

    async def callback(job: CustomJob[Any]) -> list[Any]:
        await asyncio.sleep(0)
        seen.append((job, threading.current_thread() is threading.main_thread()))
        return [job.id, job.config["x"]]

    hub = FakeHub()
    async with serving(custom_plugin(callback), hub):
        channel = await hub.session(0)
        channel.push(job("j2", 2, config={"x": None}))
        result = await channel.wait_for(Result, job_id="j2")
    assert result.output == ["j2", None]
    assert result.attempt == 2
    assert channel.types_for("j2") == ["accepted", "result"]
    [(received, on_loop_thread)] = seen
    assert isinstance(received, CustomJob)
    assert (received.id, received.attempt, received.config) == ("j2", 2, {"x": None})
    assert on_loop_thread


async def test_an_async_callable_object_is_awaited() -> None:
    class Handler:
        async def __call__(self, job: CustomJob[Any]) -> str:
            await asyncio.sleep(0)
            return f"handled {job.id}"

    hub = FakeHub()
    async with serving(custom_plugin(Handler()), hub):
        channel = await hub.session(0)
        channel.push(job("obj"))
        result = await channel.wait_for(Result, job_id="obj")
    assert result.output == "handled obj"


async def test_a_pydantic_model_result_is_sent_as_json() -> None:
    class Output(BaseModel):
        when: datetime.date
        count: int

    hub = FakeHub()
    async with serving(
        custom_plugin(lambda job: Output(when=datetime.date(2024, 5, 1), count=2)), hub
    ):
        channel = await hub.session(0)
        channel.push(job())
        result = await channel.wait_for(Result)
    assert result.output == {"when": "2024-05-01", "count": 2}


# --- failures -------------------------------------------------------------------------


class BoomError(RuntimeError):
    pass


def raise_sync(job: CustomJob[Any]) -> None:
    raise BoomError(f"boom in {job.id}")


async def raise_async(job: CustomJob[Any]) -> None:
    await asyncio.sleep(0)
    raise BoomError(f"boom in {job.id}")


@pytest.mark.parametrize("callback", [raise_sync, raise_async], ids=["sync", "async"])
async def test_a_raising_callback_fails_the_job_with_its_traceback(callback: Any) -> None:
    hub = FakeHub()
    async with serving(custom_plugin(callback), hub):
        channel = await hub.session(0)
        channel.push(job("bad"))
        failed = await channel.wait_for(Failed, job_id="bad")
    assert failed.error.message == "boom in bad"
    assert failed.error.kind == "BoomError"
    assert failed.error.retryable is False
    assert failed.error.traceback is not None
    assert "BoomError: boom in bad" in failed.error.traceback
    assert callback.__name__ in failed.error.traceback  # where it was raised
    assert channel.types_for("bad")[0] == "accepted"
    assert channel.types_for("bad")[-1] == "failed"


@pytest.mark.parametrize("callback", [raise_sync, raise_async], ids=["sync", "async"])
async def test_a_raising_callback_logs_its_traceback_before_failing(callback: Any) -> None:
    hub = FakeHub()
    async with serving(custom_plugin(callback), hub):
        channel = await hub.session(0)
        channel.push(job("bad"))
        await channel.wait_for(Failed, job_id="bad")
        await no_later_message(channel)
    types = channel.types_for("bad")
    assert "log" in types, types
    assert types.index("log") < types.index("failed")
    records = [r for m in channel.of_type(Log) for r in m.records]
    [error] = [r for r in records if r.level == "ERROR"]
    assert "Traceback" in error.message
    assert "BoomError: boom in bad" in error.message


@pytest.mark.parametrize(
    "value",
    [object(), {"x": float("nan")}, {"when": datetime.datetime(2024, 1, 1)}, {1, 2}],
    ids=["object", "nan", "datetime", "set"],
)
async def test_a_result_that_is_not_json_fails_as_invalid_result(value: Any) -> None:
    hub = FakeHub()
    async with serving(custom_plugin(lambda job: value), hub):
        channel = await hub.session(0)
        channel.push(job())
        failed = await channel.wait_for(Failed)
    assert failed.error.kind == "InvalidResult"
    assert failed.error.message.startswith("the result is not JSON")
    assert not channel.of_type(Result)


async def test_a_result_over_the_hubs_size_limit_fails_as_result_too_large() -> None:
    hub = FakeHub(max_message_size=2048)
    async with serving(custom_plugin(lambda job: {"blob": "é" * 1500}), hub):
        channel = await hub.session(0)
        channel.push(job())
        failed = await channel.wait_for(Failed)
    # 1500 characters but 3000 UTF-8 bytes: the limit counts bytes.
    assert failed.error.kind == "ResultTooLarge"
    assert "2048" in failed.error.message
    assert not channel.of_type(Result)


async def test_a_result_just_under_the_limit_is_sent() -> None:
    hub = FakeHub(max_message_size=2048)
    async with serving(custom_plugin(lambda job: {"blob": "x" * 1900}), hub):
        channel = await hub.session(0)
        channel.push(job())
        result = await channel.wait_for(Result)
    assert len(channel.raw_received[channel.received.index(result)].encode()) <= 2048


async def test_a_failure_with_a_huge_message_still_fits_the_hubs_limit() -> None:
    def huge(job: CustomJob[Any]) -> None:
        raise ValueError("x" * 5000)

    hub = FakeHub(max_message_size=2048)
    async with serving(custom_plugin(huge), hub):
        channel = await hub.session(0)
        channel.push(job("huge"))
        await eventually(lambda: channel.of_type(Failed) or channel.refused, what="an outcome")
        assert channel.refused == []
        failed = await channel.wait_for(Failed, job_id="huge")
    assert failed.error.kind == "ValueError"


async def test_log_batches_fit_the_hubs_limit() -> None:
    def chatty(job: CustomJob[Any]) -> str:
        for i in range(10):
            job.logger.info("line %d %s", i, "y" * 500)
        return "ok"

    hub = FakeHub(max_message_size=2048)
    async with serving(custom_plugin(chatty), hub):
        channel = await hub.session(0)
        channel.push(job("chatty"))
        await eventually(lambda: channel.of_type(Result) or channel.refused, what="an outcome")
        assert channel.refused == []
        assert hub.connects == 1
    records = [r for m in channel.of_type(Log) for r in m.records]
    assert len(records) == 10


# --- logs and progress ----------------------------------------------------------------


async def test_logs_arrive_batched_and_before_the_outcome() -> None:
    def chatty(job: CustomJob[Any]) -> str:
        for i in range(50):
            job.logger.info("step %d", i)
        job.logger.warning("careful", extra={"fields": {"rows": 7}})
        job.logger.debug("details")
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            job.logger.exception("division went wrong")
        return "done"

    started = time.time()
    hub = FakeHub()
    async with serving(custom_plugin(chatty), hub):
        channel = await hub.session(0)
        channel.push(job("chatty"))
        await channel.wait_for(Result, job_id="chatty")
    types = channel.types_for("chatty")
    assert types[0] == "accepted"
    assert types[-1] == "result"
    logs = channel.of_type(Log)
    assert 1 <= len(logs) < 10  # batched, not one frame per line
    assert all(types.index("log") < types.index("result") for _ in logs)
    records = [r for m in logs for r in m.records]
    assert [r.message for r in records[:50]] == [f"step {i}" for i in range(50)]
    assert [r.level for r in records[50:]] == ["WARNING", "DEBUG", "ERROR"]
    assert records[50].fields == {"rows": 7}
    assert "ZeroDivisionError" in records[52].message
    assert all(started - 1 <= r.time <= time.time() + 1 for r in records)


async def test_logs_of_an_async_callback_arrive_before_the_outcome() -> None:
    async def chatty(job: CustomJob[Any]) -> str:
        job.logger.info("starting")
        job.progress(1, 1, "all done")
        return "done"

    hub = FakeHub()
    async with serving(custom_plugin(chatty), hub):
        channel = await hub.session(0)
        channel.push(job("async-log"))
        await channel.wait_for(Result, job_id="async-log")
        await no_later_message(channel)
    assert channel.types_for("async-log") == ["accepted", "log", "progress", "result"]


async def test_progress_is_throttled_and_ends_on_the_last_value() -> None:
    took: list[float] = []

    def busy(job: CustomJob[Any]) -> str:
        started = time.monotonic()
        for i in range(1, 101):
            job.progress(i, 100, f"item {i}")
        took.append(time.monotonic() - started)
        return "done"

    hub = FakeHub()
    async with serving(custom_plugin(busy), hub):
        channel = await hub.session(0)
        channel.push(job("busy"))
        await channel.wait_for(Result, job_id="busy")
    updates = channel.of_type(Progress)
    # Far fewer than the 100 calls: one per flush interval the loop took (a loaded machine
    # takes longer, and may send more), plus the final one.
    assert 1 <= len(updates) <= took[0] / _runner.FLUSH_INTERVAL + 2, [u.current for u in updates]
    last = updates[-1]
    assert (last.current, last.total, last.message) == (100, 100, "item 100")
    types = channel.types_for("busy")
    assert types.index("accepted") < types.index("progress") < types.index("result")


async def test_progress_spread_over_time_is_sent_a_few_times_a_second() -> None:
    took: list[float] = []

    def paced(job: CustomJob[Any]) -> str:
        started = time.monotonic()
        for i in range(1, 61):
            job.progress(i)
            time.sleep(0.003)
        took.append(time.monotonic() - started)
        return "done"

    hub = FakeHub()
    async with serving(custom_plugin(paced), hub):
        channel = await hub.session(0)
        channel.push(job("paced"))
        await channel.wait_for(Result, job_id="paced")
    updates = [u.current for u in channel.of_type(Progress)]
    # One update per flush interval, plus the final one: not one per call.
    assert 1 <= len(updates) <= took[0] / _runner.FLUSH_INTERVAL + 2, updates
    assert updates == sorted(updates)
    assert updates[-1] == 60


async def test_progress_is_sent_while_a_job_runs() -> None:
    gate = threading.Event()

    def stepwise(job: CustomJob[Any]) -> str:
        job.progress(1, 2)
        gate.wait(2.0)
        job.progress(2, 2)
        return "done"

    hub = FakeHub()
    try:
        async with serving(custom_plugin(stepwise), hub):
            channel = await hub.session(0)
            channel.push(job("steps"))
            first = await channel.wait_for(Progress, job_id="steps")
            assert first.current == 1
            assert not channel.of_type(Result)
            gate.set()
            await channel.wait_for(Result, job_id="steps")
    finally:
        gate.set()
    assert [p.current for p in channel.of_type(Progress)] == [1, 2]


# --- concurrency ----------------------------------------------------------------------


class Gauge:
    """How many callbacks run at once, at most."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_concurrency_bounds_how_many_callbacks_run_at_once(kind: str) -> None:
    gauge = Gauge()

    def sync_callback(job: CustomJob[Any]) -> str:
        gauge.enter()
        time.sleep(0.05)
        gauge.leave()
        return job.id

    async def async_callback(job: CustomJob[Any]) -> str:
        gauge.enter()
        await asyncio.sleep(0.05)
        gauge.leave()
        return job.id

    callback = sync_callback if kind == "sync" else async_callback
    hub = FakeHub()
    async with serving(custom_plugin(callback, concurrency=2), hub):
        channel = await hub.session(0)
        for i in range(5):
            channel.push(job(f"c{i}"))
        await eventually(lambda: len(channel.of_type(Result)) == 5, what="5 results")
    assert gauge.peak == 2  # never more than 2, and the 2 slots were used
    assert sorted(r.output for r in channel.of_type(Result)) == [f"c{i}" for i in range(5)]


# --- config models --------------------------------------------------------------------


class Settings(BaseModel):
    threshold: int
    label: str = "default"


async def test_a_config_model_validates_the_config() -> None:
    seen: list[Any] = []

    def callback(job: CustomJob[Settings]) -> int:
        seen.append(job.config)
        return job.config.threshold * 2

    hub = FakeHub()
    async with serving(custom_plugin(callback, config_model=Settings), hub):
        channel = await hub.session(0)
        channel.push(job("cfg", config={"threshold": 21}))
        result = await channel.wait_for(Result, job_id="cfg")
    assert result.output == 42
    assert seen == [Settings(threshold=21, label="default")]


async def test_an_invalid_config_fails_without_calling_the_callback() -> None:
    calls: list[str] = []

    def callback(job: CustomJob[Settings]) -> None:
        calls.append(job.id)

    hub = FakeHub()
    async with serving(custom_plugin(callback, config_model=Settings), hub):
        channel = await hub.session(0)
        channel.push(job("cfg", config={"threshold": "high"}))
        failed = await channel.wait_for(Failed, job_id="cfg")
        # The outcome waits in the outbox like any other: listed until acked.
        await eventually(
            lambda: (
                JobRef(job_id="cfg", attempt=1) in channel.of_type(Heartbeat)[-1].jobs
                if channel.of_type(Heartbeat)
                else False
            ),
            what="a heartbeat naming the job",
        )
    assert failed.error.kind == "ConfigError"
    assert failed.error.message == (
        "invalid config: threshold should be a valid integer, "
        'unable to parse string as an integer, got "high"'
    )
    assert calls == []


# --- cancel ---------------------------------------------------------------------------


async def test_cancel_sets_the_flag_of_a_sync_callback() -> None:
    observed: list[bool] = []

    def patient(job: CustomJob[Any]) -> str:
        observed.append(job.wait_cancelled(PATIENCE))
        observed.append(job.cancelled)
        return "stopped early"

    hub = FakeHub()
    async with serving(custom_plugin(patient), hub):
        channel = await hub.session(0)
        channel.push(job("c"))
        await channel.wait_for(Accepted, job_id="c")
        channel.push(Cancel(job_id="c", attempt=1, grace_s=5, reason="user"))
        failed = await channel.wait_for(Failed, job_id="c")
    assert observed == [True, True]
    assert failed.error.kind == "Cancelled"
    assert not channel.of_type(Result)


async def test_cancel_cancels_an_async_callback() -> None:
    events: list[str] = []

    async def sleeper(job: CustomJob[Any]) -> str:
        events.append("started")
        try:
            await asyncio.sleep(3600)  # only a cancel ends it
        except asyncio.CancelledError:
            events.append(f"cancelled, flag={job.cancelled}")
            raise
        return "overslept"

    hub = FakeHub()
    async with serving(custom_plugin(sleeper), hub):
        channel = await hub.session(0)
        channel.push(job("a"))
        await eventually(lambda: events == ["started"], what="the callback to start")
        channel.push(Cancel(job_id="a", attempt=1, grace_s=0))
        failed = await channel.wait_for(Failed, job_id="a")
    assert events == ["started", "cancelled, flag=True"]
    assert failed.error.kind == "Cancelled"


async def test_a_cancel_for_another_attempt_is_ignored() -> None:
    gate = threading.Event()

    def callback(job: CustomJob[Any]) -> bool:
        gate.wait(2.0)
        return job.cancelled

    hub = FakeHub()
    try:
        async with serving(custom_plugin(callback), hub):
            channel = await hub.session(0)
            channel.push(job("j", attempt=2))
            await channel.wait_for(Accepted, job_id="j")
            channel.push(Cancel(job_id="j", attempt=1, grace_s=0))
            channel.push(Cancel(job_id="unknown", attempt=1, grace_s=0))
            await no_later_message(channel)
            gate.set()
            result = await channel.wait_for(Result, job_id="j")
    finally:
        gate.set()
    assert result.output is False


async def test_a_job_cancelled_while_queued_never_runs() -> None:
    gate = threading.Event()
    ran: list[str] = []

    def callback(job: CustomJob[Any]) -> str:
        ran.append(job.id)
        gate.wait(2.0)
        return job.id

    hub = FakeHub()
    try:
        async with serving(custom_plugin(callback, concurrency=1), hub):
            channel = await hub.session(0)
            channel.push(job("first"))
            channel.push(job("queued"))
            await channel.wait_for(Accepted, job_id="queued")
            channel.push(Cancel(job_id="queued", attempt=1, grace_s=5))
            await no_later_message(channel)
            gate.set()
            failed = await channel.wait_for(Failed, job_id="queued")
            assert failed.error.kind == "Cancelled"
    finally:
        gate.set()
    assert ran == ["first"]


# --- the outbox -----------------------------------------------------------------------


async def test_an_unacked_outcome_is_named_in_hello_and_sent_again() -> None:
    hub = FakeHub()
    async with serving(custom_plugin(lambda job: "out"), hub):
        first = await hub.session(0)
        first.push(job("o", 4))
        await first.wait_for(Result, job_id="o")
        await eventually(
            lambda: any(hb.jobs for hb in first.of_type(Heartbeat)), what="a held heartbeat"
        )
        assert first.of_type(Heartbeat)[-1].jobs == [JobRef(job_id="o", attempt=4)]
        first.hang_up(1012)  # the hub restarted before storing it

        second = await hub.session(1)
        assert second.first.jobs == [JobRef(job_id="o", attempt=4)]
        again = await second.wait_for(Result, job_id="o")
        assert second.received.index(again) > 0  # after the hello
        assert again.output == "out"
        second.push(Ack(job_id="o", attempt=4))
        await eventually(
            lambda: second.of_type(Heartbeat) and second.of_type(Heartbeat)[-1].jobs == [],
            what="a heartbeat without the job",
        )
        second.hang_up(1006)

        third = await hub.session(2)
        await no_later_message(third)
    assert third.first.jobs == []
    assert third.job_messages("o") == []


async def test_an_acked_outcome_is_not_sent_again() -> None:
    hub = FakeHub()
    async with serving(custom_plugin(lambda job: "out"), hub):
        first = await hub.session(0)
        first.push(job("o"))
        await first.wait_for(Result, job_id="o")
        first.push(Ack(job_id="o", attempt=1))
        await eventually(
            lambda: first.of_type(Heartbeat) and first.of_type(Heartbeat)[-1].jobs == [],
            what="a heartbeat without the job",
        )
        first.hang_up(1006)
        second = await hub.session(1)
        await no_later_message(second)
    assert second.first.jobs == []
    assert second.job_messages("o") == []


async def test_an_outcome_reached_while_disconnected_is_sent_on_the_next_session() -> None:
    gate = threading.Event()
    returning = threading.Event()

    def callback(job: CustomJob[Any]) -> str:
        gate.wait(2.0)
        returning.set()
        return "late"

    hub = FakeHub()
    try:
        async with serving(custom_plugin(callback), hub):
            first = await hub.session(0)
            first.push(job("late"))
            await first.wait_for(Accepted, job_id="late")
            hub.fail_next(1000)  # the hub is gone for a while
            first.hang_up(1006)
            await eventually(lambda: hub.connects >= 3, what="failed dials")
            gate.set()
            await eventually(returning.is_set, what="the callback to return")
            dials = hub.connects
            # Two more failed dials: the outcome was reached with no session up.
            await eventually(lambda: hub.connects >= dials + 2, what="more failed dials")
            assert len(hub.channels) == 1
            hub.recover()
            second = await hub.session(1)
            result = await second.wait_for(Result, job_id="late")
    finally:
        gate.set()
    assert result.output == "late"
    assert second.first.jobs == [JobRef(job_id="late", attempt=1)]


async def test_a_duplicate_job_for_a_held_attempt_is_ignored() -> None:
    gate = threading.Event()
    calls: list[tuple[str, int]] = []

    def callback(job: CustomJob[Any]) -> str:
        calls.append((job.id, job.attempt))
        gate.wait(2.0)
        return "once"

    hub = FakeHub()
    try:
        async with serving(custom_plugin(callback, concurrency=2), hub):
            channel = await hub.session(0)
            channel.push(job("dup"))
            await channel.wait_for(Accepted, job_id="dup")
            channel.push(job("dup"))  # while it runs
            await no_later_message(channel)
            gate.set()
            await channel.wait_for(Result, job_id="dup")
            channel.push(job("dup"))  # while its outcome waits for the ack
            await no_later_message(channel)
            channel.push(job("dup", attempt=2))  # a new attempt is new work
            await eventually(lambda: len(channel.of_type(Result)) == 2, what="second result")
    finally:
        gate.set()
    assert calls == [("dup", 1), ("dup", 2)]
    assert channel.types_for("dup") == ["accepted", "result", "accepted", "result"]


# --- shutdown -------------------------------------------------------------------------


async def test_stop_releases_a_job_still_running_after_the_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Long enough that the job pushed below arrives while stopping, however loaded the machine.
    monkeypatch.setattr(_runner, "SHUTDOWN_GRACE", 1.0)
    seen: list[CustomJob[Any]] = []

    def stubborn(job: CustomJob[Any]) -> str:
        seen.append(job)
        job.wait_cancelled(PATIENCE)
        return "too late"

    hub = FakeHub()
    async with serving(custom_plugin(stubborn, concurrency=2), hub) as served:
        channel = await hub.session(0)
        channel.push(job("long"))
        await channel.wait_for(Accepted, job_id="long")
        served.stop.set()
        await asyncio.sleep(0.02)  # shutdown has begun: the grace period is 1 s
        channel.push(job("new"))  # no new work is taken while stopping
        await served.finished()
    long_release = await channel.wait_for(Release, job_id="long", timeout=0)
    new_release = await channel.wait_for(Release, job_id="new", timeout=0)
    assert long_release.attempt == 1
    assert "shutting down" in long_release.reason
    assert "shutting down" in new_release.reason
    assert channel.types_for("long") == ["accepted", "release"]
    assert channel.types_for("new") == ["release"]
    assert [job.id for job in seen] == ["long"]
    assert seen[0].cancelled
    assert (channel.closed_by, channel.closed_code) == ("plugin", 1000)


async def test_stop_lets_a_job_finish_within_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_runner, "SHUTDOWN_GRACE", PATIENCE)

    def quick(job: CustomJob[Any]) -> str:
        time.sleep(0.1)
        return "finished"

    hub = FakeHub()
    async with serving(custom_plugin(quick), hub) as served:
        channel = await hub.session(0)
        channel.push(job("q"))
        await channel.wait_for(Accepted, job_id="q")
        await served.stopped()
    assert channel.types_for("q") == ["accepted", "result"]
    assert channel.closed_code == 1000


async def test_a_final_close_stops_running_jobs() -> None:
    seen: list[CustomJob[Any]] = []

    def stubborn(job: CustomJob[Any]) -> None:
        seen.append(job)
        job.wait_cancelled(2.0)

    hub = FakeHub()
    connection, runner = hub_connection(custom_plugin(stubborn), hub)
    task = asyncio.create_task(connection.run(asyncio.Event()))
    try:
        channel = await hub.session(0)
        channel.push(job("orphan"))
        await channel.wait_for(Accepted, job_id="orphan")
        channel.hang_up(4001, "secret rotated")
        with pytest.raises(PluginStopped):
            await asyncio.wait_for(task, 1.0)
        assert seen
        assert seen[0].cancelled, "the job keeps running after the plugin stopped for good"
    finally:
        await runner.shutdown(None)  # what the SDK should have done itself


@pytest.mark.parametrize(("error", "retryable"), [("busy", True), ("bad", False)])
async def test_a_retryable_error_asks_the_hub_for_another_attempt(
    error: str, retryable: bool
) -> None:
    from ango_plugins_sdk import RetryableError

    class GpuBusy(RetryableError):
        pass

    def flaky(job: CustomJob[Any]) -> None:
        raise GpuBusy("the GPU is busy") if error == "busy" else ValueError("bad input")

    hub = FakeHub()
    async with serving(custom_plugin(flaky), hub):
        channel = await hub.session(0)
        channel.push(job("j"))
        failed = await channel.wait_for(Failed, job_id="j")
    assert failed.error.retryable is retryable
    assert failed.error.kind == ("GpuBusy" if retryable else "ValueError")
