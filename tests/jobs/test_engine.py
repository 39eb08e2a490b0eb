"""JobEngine against a real SQLite store, fake connections and a fake clock.

Time-based transitions happen only when a test moves the clock and calls `reap()` (the
background reaper calls it too, which changes nothing while the clock stands still).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from pydantic import BaseModel

from ango_plugins_sdk.protocol import (
    Accepted,
    Ack,
    Cancel,
    Failed,
    JobError,
    JobRef,
    Log,
    LogRecord,
    Progress,
    Release,
    Result,
)
from ango_plugins_sdk.protocol import Job as JobMessage
from hub.db import JobRow
from hub.jobs.state import ActiveJob
from tests.jobs.conftest import (
    ACCEPT_TIMEOUT,
    CANCEL_GRACE,
    LEASE_TTL,
    MAX_ATTEMPTS,
    RECONNECT_GRACE,
    RETRY_DELAY,
    RETRY_WAIT,
    FakePeer,
    Harness,
)

# --- helpers ---------------------------------------------------------------------------------


async def jobs_sent(peer: FakePeer, count: int) -> list[JobMessage]:
    """Wait until `peer` got at least `count` job messages; all of them."""
    await peer.harness.expect(
        lambda: len(peer.of_type(JobMessage)) >= count,
        what=f"{count} job messages to {peer.id}",
    )
    return peer.of_type(JobMessage)


async def acks(peer: FakePeer, count: int) -> list[Ack]:
    await peer.harness.expect(
        lambda: len(peer.of_type(Ack)) >= count, what=f"{count} acks to {peer.id}"
    )
    return peer.of_type(Ack)


async def accept(hub: Harness, peer: FakePeer, job_id: str, attempt: int) -> None:
    hub.engine.handle(peer.connection, Accepted(job_id=job_id, attempt=attempt))
    await hub.expect_row(job_id, lambda r: r.started_at is not None and r.attempt == attempt)


async def running_one(
    hub: Harness, *, capacity: int = 1, accepted: bool = True, **job_fields: Any
) -> tuple[ActiveJob, FakePeer]:
    """One job, dispatched as attempt 1 to a fresh connection (and accepted)."""
    [job] = await hub.submit(1, **job_fields)
    peer = await hub.connect(capacity)
    [message] = await jobs_sent(peer, 1)
    assert (message.job_id, message.attempt) == (job.id, 1)
    if accepted:
        await accept(hub, peer, job.id, 1)
    return job, peer


def result(job_id: str, attempt: int, output: Any = None) -> Result:
    return Result(job_id=job_id, attempt=attempt, output=output)


def failed(
    job_id: str, attempt: int, message: str, *, kind: str = "Error", retryable: bool = False
) -> Failed:
    return Failed(
        job_id=job_id,
        attempt=attempt,
        error=JobError(message=message, kind=kind, retryable=retryable),
    )


def failed_attempts_are(count: int) -> Callable[[JobRow], bool]:
    return lambda row: row.failed_attempts == count


async def hub_messages(hub: Harness, job_id: str) -> list[str]:
    return [log.message for log in await hub.logs(job_id, source="hub")]


async def lose_attempt(hub: Harness, job_id: str, failed_attempts: int) -> None:
    """Let the current attempt's lease (or accept timeout) lapse and wait for the requeue."""
    hub.clock.advance(LEASE_TTL + 0.01)
    hub.engine.reap()
    await hub.expect_row(
        job_id, lambda r: r.status == "queued" and r.failed_attempts == failed_attempts
    )


async def after_retry_delay(hub: Harness) -> None:
    hub.clock.advance(RETRY_WAIT)
    hub.engine.reap()


# --- queueing and dispatch -------------------------------------------------------------------


async def test_submitted_job_stays_queued_without_a_connection(hub: Harness) -> None:
    [job] = await hub.submit(1)
    row = await hub.row(job.id)  # submit returns after the insert is committed
    assert (row.status, row.attempt, row.connection_id) == ("queued", 0, None)
    await hub.step()
    hub.engine.reap()
    await hub.step()
    row = await hub.row(job.id)
    assert (row.status, row.attempt) == ("queued", 0)
    active = hub.engine.active(job.id)
    assert active is not None
    assert active.status == "queued"


async def test_connection_with_capacity_two_gets_exactly_two_jobs(hub: Harness) -> None:
    jobs = await hub.submit(3)
    peer = hub.register(capacity=2)
    hub.engine.connection_opened(peer.connection, [])
    await jobs_sent(peer, 2)
    await hub.step()
    sent = peer.of_type(JobMessage)
    assert len(sent) == 2
    assert all(m.attempt == 1 for m in sent)
    assert [m.job_id for m in sent] == [jobs[0].id, jobs[1].id]  # FIFO
    assert sent[0].config == {"n": 0}
    assert peer.connection.running == 2
    rows = {job.id: await hub.row(job.id) for job in jobs}
    for message in sent:
        row = rows[message.job_id]
        assert (row.status, row.attempt, row.connection_id) == ("running", 1, peer.id)
        assert row.started_at is None  # not accepted yet
    third = rows[jobs[2].id]
    assert (third.status, third.attempt, third.connection_id) == ("queued", 0, None)


async def test_job_message_is_sent_only_after_the_assignment_is_committed(hub: Harness) -> None:
    seen: list[tuple[str, int, str | None, int]] = []
    peer = hub.register(capacity=3)

    async def check_db(message: BaseModel) -> None:
        if isinstance(message, JobMessage):
            row = await hub.row(message.job_id)
            seen.append((row.status, row.attempt, row.connection_id, message.attempt))

    peer.on_send = check_db
    await hub.submit(2)  # queued before the connection announces itself
    hub.engine.connection_opened(peer.connection, [])
    await jobs_sent(peer, 2)
    await hub.submit(1)  # the insert and the assignment may share one transaction
    await jobs_sent(peer, 3)
    assert seen == [("running", 1, peer.id, 1)] * 3


async def test_several_connections_share_the_load(hub: Harness) -> None:
    a = hub.register(capacity=2)
    b = hub.register(capacity=2)
    hub.engine.connection_opened(a.connection, [])
    hub.engine.connection_opened(b.connection, [])
    await hub.submit(2)
    await hub.expect(lambda: len(a.sent) + len(b.sent) == 2)
    assert (len(a.of_type(JobMessage)), len(b.of_type(JobMessage))) == (1, 1)
    await hub.submit(3)
    await hub.expect(lambda: len(a.sent) + len(b.sent) == 4)
    await hub.step()
    assert (a.connection.running, b.connection.running) == (2, 2)
    assert len(a.sent) + len(b.sent) == 4  # the fifth waits for a free slot


async def test_least_loaded_connection_first(hub: Harness) -> None:
    jobs = await hub.submit(2)
    busy = await hub.connect(capacity=3)
    await jobs_sent(busy, 2)
    # busy has 1 free slot; a new connection with 3 free slots takes the next two.
    fresh = await hub.connect(capacity=3)
    more = await hub.submit(2)
    await jobs_sent(fresh, 2)
    await hub.step()
    assert {m.job_id for m in fresh.of_type(JobMessage)} == {j.id for j in more}
    assert {m.job_id for m in busy.of_type(JobMessage)} == {j.id for j in jobs}


async def test_capacity_frees_on_outcome_and_the_next_job_is_sent(hub: Harness) -> None:
    jobs = await hub.submit(3)
    peer = await hub.connect(capacity=1)
    [first] = await jobs_sent(peer, 1)
    await hub.step()
    assert len(peer.of_type(JobMessage)) == 1
    hub.engine.handle(peer.connection, result(first.job_id, 1, "ok"))
    second = (await jobs_sent(peer, 2))[1]
    assert second.job_id != first.job_id
    assert second.attempt == 1
    hub.engine.handle(peer.connection, failed(second.job_id, 1, "nope"))
    third = (await jobs_sent(peer, 3))[2]
    assert {first.job_id, second.job_id, third.job_id} == {j.id for j in jobs}
    assert peer.connection.running == 1


# --- outcomes --------------------------------------------------------------------------------


async def test_result_is_stored_before_the_ack(hub: Harness) -> None:
    job, peer = await running_one(hub)
    at_ack: list[tuple[str, Any]] = []

    async def check_db(message: BaseModel) -> None:
        if isinstance(message, Ack):
            row = await hub.row(message.job_id)
            at_ack.append((row.status, row.result))

    peer.on_send = check_db
    hub.engine.handle(peer.connection, result(job.id, 1, {"answer": 42}))
    [ack] = await acks(peer, 1)
    assert (ack.job_id, ack.attempt) == (job.id, 1)
    assert at_ack == [("succeeded", {"answer": 42})]
    row = await hub.row(job.id)
    assert row.finished_at == hub.clock.now
    assert row.error is None
    assert "succeeded on attempt 1" in await hub_messages(hub, job.id)
    assert peer.connection.running == 0
    await hub.expect(lambda: hub.engine.active(job.id) is None, what="finished job forgotten")


async def test_duplicate_result_is_acked_but_applied_once(hub: Harness) -> None:
    job, peer = await running_one(hub)
    hub.engine.handle(peer.connection, result(job.id, 1, "first"))
    hub.engine.handle(peer.connection, result(job.id, 1, "second"))  # same batch
    await acks(peer, 2)
    hub.engine.handle(peer.connection, result(job.id, 1, "third"))  # after the commit
    await acks(peer, 3)
    assert [(a.job_id, a.attempt) for a in peer.of_type(Ack)] == [(job.id, 1)] * 3
    row = await hub.row(job.id)
    assert (row.status, row.result) == ("succeeded", "first")
    messages = await hub_messages(hub, job.id)
    assert sum("succeeded" in m for m in messages) == 1
    assert peer.connection.running == 0  # capacity released once, not three times


async def test_outcome_of_an_old_attempt_is_acked_and_ignored(hub: Harness) -> None:
    job, peer = await running_one(hub)
    await lose_attempt(hub, job.id, failed_attempts=1)
    await after_retry_delay(hub)
    second = (await jobs_sent(peer, 2))[1]
    assert (second.job_id, second.attempt) == (job.id, 2)
    await accept(hub, peer, job.id, 2)

    stale = Log(
        job_id=job.id,
        attempt=1,
        records=[LogRecord(level="INFO", message="stale line", time=1.0)],
    )
    hub.engine.handle(peer.connection, Progress(job_id=job.id, attempt=1, current=7))
    hub.engine.handle(peer.connection, stale)
    hub.engine.handle(peer.connection, result(job.id, 1, "stale"))
    [ack] = await acks(peer, 1)
    assert (ack.job_id, ack.attempt) == (job.id, 1)
    await hub.step()
    row = await hub.row(job.id)
    assert (row.status, row.attempt, row.result, row.progress_current) == (
        "running",
        2,
        None,
        None,
    )
    assert await hub.logs(job.id, source="plugin") == []
    assert peer.connection.running == 1

    hub.engine.handle(peer.connection, result(job.id, 2, "fresh"))
    row = await hub.expect_status(job.id, "succeeded")
    assert row.result == "fresh"
    assert "succeeded on attempt 2" in await hub_messages(hub, job.id)


async def test_progress_and_logs_of_the_current_attempt_are_stored(hub: Harness) -> None:
    job, peer = await running_one(hub)
    hub.engine.handle(
        peer.connection,
        Progress(job_id=job.id, attempt=1, current=3, total=10, message="three"),
    )
    hub.engine.handle(
        peer.connection,
        Log(
            job_id=job.id,
            attempt=1,
            records=[
                LogRecord(level="INFO", message="one", time=5.0, fields={"k": 1}),
                LogRecord(level="ERROR", message="two", time=6.0),
            ],
        ),
    )
    row = await hub.expect_row(job.id, lambda r: r.progress_current == 3)
    assert (row.progress_total, row.progress_message) == (10, "three")
    await hub.step()
    logs = await hub.logs(job.id, source="plugin")
    assert [(r.level, r.message, r.fields, r.time, r.attempt) for r in logs] == [
        ("INFO", "one", {"k": 1}, 5.0, 1),
        ("ERROR", "two", {}, 6.0, 1),
    ]


# --- lost attempts ---------------------------------------------------------------------------


async def test_accept_timeout_requeues_with_a_retry_delay(hub: Harness) -> None:
    job, peer = await running_one(hub, accepted=False)
    hub.clock.advance(ACCEPT_TIMEOUT - 0.01)
    hub.engine.reap()
    await hub.step()
    assert (await hub.row(job.id)).status == "running"

    now = hub.clock.advance(0.02)
    hub.engine.reap()
    row = await hub.expect_status(job.id, "queued")
    assert (row.attempt, row.failed_attempts, row.connection_id) == (1, 1, None)
    assert row.not_before is not None
    assert now < row.not_before <= now + RETRY_DELAY  # first retry: jitter up to retry_delay
    assert any("not accepted within 2s" in m for m in await hub_messages(hub, job.id))
    assert peer.connection.running == 0

    await hub.step()
    hub.engine.reap()
    assert len(peer.of_type(JobMessage)) == 1  # not before the delay is over

    hub.clock.now = row.not_before
    hub.engine.reap()
    second = (await jobs_sent(peer, 2))[1]
    assert (second.job_id, second.attempt) == (job.id, 2)
    row = await hub.row(job.id)
    assert (row.status, row.attempt, row.not_before, row.connection_id) == (
        "running",
        2,
        None,
        peer.id,
    )


async def test_lease_lapse_requeues_an_accepted_job(hub: Harness) -> None:
    job, peer = await running_one(hub)
    hub.clock.advance(LEASE_TTL - 0.01)
    hub.engine.reap()
    await hub.step()
    assert (await hub.row(job.id)).status == "running"

    hub.clock.advance(0.02)
    hub.engine.reap()
    row = await hub.expect_status(job.id, "queued")
    assert (row.failed_attempts, row.started_at, row.connection_id) == (1, None, None)
    assert row.not_before is not None
    assert row.not_before > hub.clock.now
    assert any("lease expired" in m for m in await hub_messages(hub, job.id))

    await after_retry_delay(hub)
    assert (await jobs_sent(peer, 2))[1].attempt == 2


async def test_heartbeats_keep_a_job_running_past_the_lease(hub: Harness) -> None:
    job, peer = await running_one(hub)
    ref = JobRef(job_id=job.id, attempt=1)
    for _ in range(5):  # 3 lease periods in all
        hub.clock.advance(LEASE_TTL * 0.6)
        hub.engine.heartbeat(peer.connection, [ref])
        hub.engine.reap()
    await hub.step()
    row = await hub.row(job.id)
    assert (row.status, row.attempt, row.failed_attempts) == ("running", 1, 0)

    # A heartbeat naming another attempt renews nothing.
    hub.clock.advance(LEASE_TTL * 0.6)
    hub.engine.heartbeat(peer.connection, [JobRef(job_id=job.id, attempt=2)])
    hub.clock.advance(LEASE_TTL * 0.6)
    hub.engine.reap()
    await hub.expect_row(job.id, lambda r: r.status == "queued" and r.failed_attempts == 1)


@pytest.mark.parametrize(
    ("accepted", "why"),
    [(False, "not accepted within 2s"), (True, "lease expired")],
    ids=["never-accepted", "lease-lapsed"],
)
async def test_job_fails_after_max_attempts_lost(hub: Harness, accepted: bool, why: str) -> None:
    job, peer = await running_one(hub, accepted=accepted)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if attempt > 1:
            await after_retry_delay(hub)
            message = (await jobs_sent(peer, attempt))[-1]
            assert (message.job_id, message.attempt) == (job.id, attempt)
            if accepted:
                await accept(hub, peer, job.id, attempt)
        hub.clock.advance(LEASE_TTL + 0.01)
        hub.engine.reap()
        if attempt < MAX_ATTEMPTS:
            await hub.expect_row(job.id, failed_attempts_are(attempt))
    row = await hub.expect_status(job.id, "failed")
    assert row.error is not None
    assert row.error["kind"] == "AttemptsExhausted"
    assert f"gave up after {MAX_ATTEMPTS} lost attempts" in row.error["message"]
    assert why in row.error["message"]
    assert (row.attempt, row.failed_attempts) == (MAX_ATTEMPTS, MAX_ATTEMPTS)
    await after_retry_delay(hub)
    await hub.step()
    assert len(peer.of_type(JobMessage)) == MAX_ATTEMPTS
    assert peer.connection.running == 0


async def test_retryable_failure_requeues_until_max_attempts(hub: Harness) -> None:
    job, peer = await running_one(hub)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if attempt > 1:
            await after_retry_delay(hub)
            assert (await jobs_sent(peer, attempt))[-1].attempt == attempt
            await accept(hub, peer, job.id, attempt)
        now = hub.clock.now
        hub.engine.handle(
            peer.connection,
            failed(job.id, attempt, f"flaky {attempt}", kind="Flaky", retryable=True),
        )
        await acks(peer, attempt)
        if attempt < MAX_ATTEMPTS:
            row = await hub.expect_row(job.id, failed_attempts_are(attempt))
            assert row.status == "queued"
            assert row.not_before is not None
            assert row.not_before > now
    row = await hub.expect_status(job.id, "failed")
    assert row.error is not None
    assert (row.error["message"], row.error["kind"]) == (f"flaky {MAX_ATTEMPTS}", "Flaky")
    assert [a.attempt for a in peer.of_type(Ack)] == list(range(1, MAX_ATTEMPTS + 1))


async def test_non_retryable_failure_fails_at_once(hub: Harness) -> None:
    job, peer = await running_one(hub)
    at_ack: list[str] = []

    async def check_db(message: BaseModel) -> None:
        if isinstance(message, Ack):
            at_ack.append((await hub.row(message.job_id)).status)

    peer.on_send = check_db
    error = JobError(message="bad input", kind="ValueError", traceback="Traceback: boom")
    hub.engine.handle(peer.connection, Failed(job_id=job.id, attempt=1, error=error))
    await acks(peer, 1)
    assert at_ack == ["failed"]
    row = await hub.row(job.id)
    assert row.error == {
        "message": "bad input",
        "kind": "ValueError",
        "retryable": False,
        "traceback": "Traceback: boom",
    }
    assert (row.attempt, row.failed_attempts) == (1, 0)
    assert any("Traceback: boom" in m for m in await hub_messages(hub, job.id))


async def test_release_requeues_at_once_without_penalty(hub: Harness) -> None:
    job, peer = await running_one(hub)
    hub.engine.handle(peer.connection, Release(job_id=job.id, attempt=1, reason="shutting down"))
    # Re-dispatched at once (no clock movement) to the slot it freed.
    second = (await jobs_sent(peer, 2))[1]
    assert (second.job_id, second.attempt) == (job.id, 2)
    row = await hub.row(job.id)
    assert (row.status, row.attempt, row.failed_attempts) == ("running", 2, 0)
    assert any(
        "handed back by the plugin: shutting down" in m for m in await hub_messages(hub, job.id)
    )
    assert peer.of_type(Ack) == []  # release is not acked


async def test_release_from_a_process_that_reclaimed_the_job(hub: Harness) -> None:
    job, peer = await running_one(hub)
    await hub.disconnect(peer)  # accepted: still running on its lease
    other = await hub.connect(1, held=[JobRef(job_id=job.id, attempt=1)])
    hub.engine.handle(other.connection, Release(job_id=job.id, attempt=1))
    await jobs_sent(other, 1)
    row = await hub.row(job.id)
    assert (row.attempt, row.failed_attempts, row.not_before) == (2, 0, None)


# --- deadlines and cancellation --------------------------------------------------------------


async def test_timeout_counts_from_acceptance_and_fails_the_job(hub: Harness) -> None:
    job, peer = await running_one(hub, accepted=False, timeout_s=5.0)
    assert peer.of_type(JobMessage)[0].timeout_s == 5.0
    hub.clock.advance(ACCEPT_TIMEOUT * 0.75)  # time before acceptance does not count
    await accept(hub, peer, job.id, 1)
    hub.clock.advance(4.99)
    hub.engine.reap()
    await hub.step()
    assert (await hub.row(job.id)).status == "running"
    assert peer.of_type(Cancel) == []

    hub.clock.advance(0.02)
    hub.engine.reap()
    row = await hub.expect_status(job.id, "failed")
    assert row.error is not None
    assert row.error["kind"] == "Timeout"
    assert "timed out after 5s" in row.error["message"]
    await hub.expect(lambda: len(peer.of_type(Cancel)) == 1)
    [cancel] = peer.of_type(Cancel)
    assert (cancel.job_id, cancel.attempt, cancel.grace_s) == (job.id, 1, 0.0)
    assert peer.connection.running == 0

    # The plugin's late outcome changes nothing.
    hub.engine.handle(peer.connection, result(job.id, 1, "late"))
    await acks(peer, 1)
    row = await hub.row(job.id)
    assert (row.status, row.result) == ("failed", None)


async def test_cancel_queued_job_is_cancelled_at_once(hub: Harness) -> None:
    [job, other] = await hub.submit(2)
    await hub.engine.cancel(job)
    row = await hub.row(job.id)  # cancel returns after the commit
    assert row.status == "cancelled"
    assert row.error is not None
    assert row.error["kind"] == "Cancelled"
    assert row.finished_at == hub.clock.now
    peer = await hub.connect(capacity=2)
    [message] = await jobs_sent(peer, 1)
    await hub.step()
    assert message.job_id == other.id
    assert len(peer.of_type(JobMessage)) == 1


async def test_cancel_job_waiting_out_its_retry_delay(hub: Harness) -> None:
    job, peer = await running_one(hub)
    await lose_attempt(hub, job.id, failed_attempts=1)
    active = hub.engine.active(job.id)
    assert active is not None
    assert active.status == "queued"
    await hub.engine.cancel(active)
    assert (await hub.row(job.id)).status == "cancelled"
    await after_retry_delay(hub)
    await hub.step()
    assert len(peer.of_type(JobMessage)) == 1


async def test_cancel_running_job_ends_when_the_plugin_reports(hub: Harness) -> None:
    job, peer = await running_one(hub)
    await hub.engine.cancel(job, reason="stop it")
    row = await hub.row(job.id)
    assert (row.status, row.cancel_requested_at) == ("running", hub.clock.now)
    await hub.expect(lambda: len(peer.of_type(Cancel)) == 1)
    [cancel] = peer.of_type(Cancel)
    assert (cancel.job_id, cancel.attempt, cancel.grace_s) == (job.id, 1, CANCEL_GRACE)
    assert cancel.reason == "stop it"

    hub.engine.handle(peer.connection, failed(job.id, 1, "stopped", kind="Cancelled"))
    await acks(peer, 1)
    row = await hub.row(job.id)
    assert row.status == "cancelled"
    assert row.error is not None
    assert row.error["kind"] == "Cancelled"
    assert peer.connection.running == 0


async def test_result_after_cancel_still_marks_the_job_cancelled(hub: Harness) -> None:
    job, peer = await running_one(hub)
    await hub.engine.cancel(job)
    hub.engine.handle(peer.connection, result(job.id, 1, "finished anyway"))
    await acks(peer, 1)
    row = await hub.row(job.id)
    assert (row.status, row.result) == ("cancelled", None)


async def test_cancel_running_job_ends_when_the_grace_passes(hub: Harness) -> None:
    job, peer = await running_one(hub)
    await hub.engine.cancel(job)
    hub.clock.advance(CANCEL_GRACE - 0.01)
    hub.engine.reap()
    await hub.step()
    assert (await hub.row(job.id)).status == "running"

    hub.clock.advance(0.02)
    hub.engine.reap()
    row = await hub.expect_status(job.id, "cancelled")
    assert row.error is not None
    assert row.error["kind"] == "Cancelled"
    assert "did not stop in time" in row.error["message"]
    assert peer.connection.running == 0

    hub.engine.handle(peer.connection, result(job.id, 1, "too late"))
    [ack] = await acks(peer, 1)
    assert ack.attempt == 1
    await hub.step()
    row = await hub.row(job.id)
    assert (row.status, row.result) == ("cancelled", None)


async def test_retry_of_a_finished_job_continues_the_attempt_count(hub: Harness) -> None:
    job, peer = await running_one(hub)
    hub.engine.handle(peer.connection, failed(job.id, 1, "bad", kind="Bad"))
    await hub.expect_status(job.id, "failed")
    await hub.expect(lambda: hub.engine.active(job.id) is None)
    # No process to take it: the retried job must be seen queued, not already re-dispatched.
    await hub.disconnect(peer)

    retried = await hub.engine.retry(await hub.row(job.id))
    assert retried.status == "queued"
    row = await hub.row(job.id)
    assert (row.status, row.attempt, row.failed_attempts) == ("queued", 1, 0)
    assert (row.error, row.result, row.finished_at, row.started_at) == (None, None, None, None)
    assert "retried by user" in await hub_messages(hub, job.id)

    again = await hub.connect(1)
    [second] = await jobs_sent(again, 1)
    assert (second.job_id, second.attempt) == (job.id, 2)
    await accept(hub, again, job.id, 2)
    hub.engine.handle(again.connection, result(job.id, 2, "ok now"))
    row = await hub.expect_status(job.id, "succeeded")
    assert (row.result, row.attempt) == ("ok now", 2)


@pytest.mark.parametrize("settings_overrides", [{"max_attempts": 2}])
async def test_retry_of_an_exhausted_job_gets_a_fresh_attempt_budget(hub: Harness) -> None:
    job, peer = await running_one(hub, accepted=False)
    await lose_attempt(hub, job.id, failed_attempts=1)
    await after_retry_delay(hub)
    await jobs_sent(peer, 2)
    hub.clock.advance(ACCEPT_TIMEOUT)
    hub.engine.reap()
    row = await hub.expect_status(job.id, "failed")
    assert row.error is not None
    assert row.error["kind"] == "AttemptsExhausted"
    await hub.expect(lambda: hub.engine.active(job.id) is None)

    await hub.engine.retry(row)
    assert (await hub.row(job.id)).failed_attempts == 0
    third = (await jobs_sent(peer, 3))[2]
    assert third.attempt == 3
    # One lost attempt after the retry is a retry again, not the end.
    await lose_attempt(hub, job.id, failed_attempts=1)


# --- connections coming and going -------------------------------------------------------------


async def test_orderly_close_requeues_unaccepted_and_keeps_accepted(hub: Harness) -> None:
    await hub.submit(2)
    peer = await hub.connect(capacity=2)
    first, second = await jobs_sent(peer, 2)
    await accept(hub, peer, first.job_id, 1)

    await hub.disconnect(peer, orderly=True)
    row = await hub.expect_status(second.job_id, "queued")  # at once, and no penalty
    assert (row.attempt, row.failed_attempts, row.not_before, row.connection_id) == (
        1,
        0,
        None,
        None,
    )
    await hub.step()
    assert (await hub.row(first.job_id)).status == "running"

    other = await hub.connect(capacity=2)
    [message] = await jobs_sent(other, 1)
    assert (message.job_id, message.attempt) == (second.job_id, 2)
    hub.engine.handle(other.connection, result(second.job_id, 2, "done"))
    await hub.expect_status(second.job_id, "succeeded")
    await hub.step()
    assert len(other.of_type(JobMessage)) == 1  # the accepted job is not re-dispatched

    # Its process has the reconnect grace to claim it; nobody does, so it runs elsewhere
    # then (not after the whole lease), with no retry delay on top of the grace.
    hub.clock.advance(RECONNECT_GRACE + 0.01)
    hub.engine.reap()
    message = (await jobs_sent(other, 2))[1]
    assert (message.job_id, message.attempt) == (first.job_id, 2)
    row = await hub.expect_row(first.job_id, lambda r: r.attempt == 2)
    assert (row.failed_attempts, row.not_before) == (1, None)
    assert any("did not come back within 1s" in m for m in await hub_messages(hub, first.job_id))


async def test_connection_opened_with_held_job_rebinds_it(hub: Harness) -> None:
    job, old = await running_one(hub)
    await hub.disconnect(old)
    hub.clock.advance(RECONNECT_GRACE * 0.8)  # back within the grace: the job stays its own
    new = await hub.connect(capacity=1, held=[JobRef(job_id=job.id, attempt=1)])
    row = await hub.expect_row(job.id, lambda r: r.connection_id == new.id)
    assert (row.status, row.attempt) == ("running", 1)
    assert new.connection.running == 1
    # The lease was renewed at the reconnect.
    hub.clock.advance(LEASE_TTL * 0.8)
    hub.engine.reap()
    await hub.step()
    assert (await hub.row(job.id)).status == "running"
    # It holds the slot: another job waits.
    [waiting] = await hub.submit(1)
    await hub.step()
    assert new.of_type(JobMessage) == []
    # A cancel now goes to the new connection.
    await hub.engine.cancel(job)
    await hub.expect(lambda: len(new.of_type(Cancel)) == 1)
    hub.engine.handle(new.connection, failed(job.id, 1, "stopped", kind="Cancelled"))
    await hub.expect_status(job.id, "cancelled")
    assert (await acks(new, 1))[0].job_id == job.id
    [message] = await jobs_sent(new, 1)
    assert message.job_id == waiting.id


async def test_hello_naming_a_job_held_by_a_live_connection_moves_the_slot(hub: Harness) -> None:
    job, old = await running_one(hub)
    assert old.connection.running == 1
    new = await hub.connect(capacity=1, held=[JobRef(job_id=job.id, attempt=1)])
    await hub.expect_row(job.id, lambda r: r.connection_id == new.id)
    assert (old.connection.running, new.connection.running) == (0, 1)


async def test_hello_naming_an_unknown_or_stale_attempt_is_ignored(hub: Harness) -> None:
    job, old = await running_one(hub)
    new = await hub.connect(
        capacity=1,
        held=[JobRef(job_id=job.id, attempt=2), JobRef(job_id="nope", attempt=1)],
    )
    await hub.step()
    assert (await hub.row(job.id)).connection_id == old.id
    assert (old.connection.running, new.connection.running) == (1, 0)


async def test_no_database_write_per_heartbeat(hub: Harness) -> None:
    job, peer = await running_one(hub)
    await hub.step()
    before = hub.engine.commits
    stored_lease = (await hub.row(job.id)).lease_expires_at
    ref = JobRef(job_id=job.id, attempt=1)
    for _ in range(200):
        hub.clock.advance(1.0)
        hub.engine.heartbeat(peer.connection, [ref])
        hub.engine.reap()
    await hub.step()
    assert hub.engine.commits == before
    assert (await hub.row(job.id)).lease_expires_at == stored_lease
    active = hub.engine.active(job.id)
    assert active is not None
    assert active.status == "running"
    assert active.lease_expires_at == hub.clock.now + LEASE_TTL


# --- stopping and restarting -----------------------------------------------------------------


async def test_stop_returns_unaccepted_assignments_to_the_queue_durably(hub: Harness) -> None:
    await hub.submit(2)
    peer = await hub.connect(capacity=2)
    first, second = await jobs_sent(peer, 2)
    await accept(hub, peer, first.job_id, 1)
    await hub.stop()
    row = await hub.row(second.job_id)
    assert (row.status, row.attempt, row.failed_attempts, row.connection_id) == (
        "queued",
        1,
        0,
        None,
    )
    row = await hub.row(first.job_id)
    assert (row.status, row.connection_id) == ("running", peer.id)


async def _one_queued_one_running(hub: Harness) -> tuple[ActiveJob, ActiveJob]:
    """Stop the engine with one job accepted on a connection and one still queued."""
    running, queued = await hub.submit(2)
    peer = await hub.connect(capacity=1)
    [message] = await jobs_sent(peer, 1)
    assert message.job_id == running.id
    await accept(hub, peer, running.id, 1)
    await hub.restart()
    return running, queued


async def test_restart_dispatches_queued_and_waits_for_the_running_lease(hub: Harness) -> None:
    running, queued = await _one_queued_one_running(hub)
    peer = await hub.connect(capacity=2)
    [message] = await jobs_sent(peer, 1)
    assert (message.job_id, message.attempt) == (queued.id, 1)
    hub.engine.handle(peer.connection, result(queued.id, 1, "q"))
    await hub.expect_status(queued.id, "succeeded")

    hub.clock.advance(LEASE_TTL - 0.01)
    hub.engine.reap()
    await hub.step()
    assert len(peer.of_type(JobMessage)) == 1
    assert (await hub.row(running.id)).status == "running"

    hub.clock.advance(0.02)  # the fresh lease given at start lapses
    hub.engine.reap()
    await hub.expect_row(running.id, lambda r: r.status == "queued" and r.failed_attempts == 1)
    await after_retry_delay(hub)
    message = (await jobs_sent(peer, 2))[1]
    assert (message.job_id, message.attempt) == (running.id, 2)


async def test_restart_lets_a_reconnecting_plugin_take_its_job_back(hub: Harness) -> None:
    running, queued = await _one_queued_one_running(hub)
    hub.clock.advance(LEASE_TTL * 0.5)
    peer = await hub.connect(capacity=2, held=[JobRef(job_id=running.id, attempt=1)])
    [message] = await jobs_sent(peer, 1)
    assert message.job_id == queued.id
    row = await hub.expect_row(running.id, lambda r: r.connection_id == peer.id)
    assert (row.status, row.attempt) == ("running", 1)
    assert peer.connection.running == 2

    hub.engine.handle(peer.connection, result(running.id, 1, {"kept": True}))
    row = await hub.expect_status(running.id, "succeeded")
    assert row.result == {"kept": True}
    assert [a.job_id for a in await acks(peer, 1)] == [running.id]
    assert len(peer.of_type(JobMessage)) == 1  # never re-dispatched


async def test_restart_keeps_a_pending_cancel(hub: Harness) -> None:
    job, _ = await running_one(hub)
    await hub.engine.cancel(job)
    await hub.restart()
    hub.clock.advance(CANCEL_GRACE + 0.01)
    hub.engine.reap()
    row = await hub.expect_status(job.id, "cancelled")
    assert row.error is not None
    assert row.error["kind"] == "Cancelled"


# --- bugs ------------------------------------------------------------------------------------


async def test_cancelled_assignment_is_not_redispatched_when_its_connection_closes(
    hub: Harness,
) -> None:
    job, peer = await running_one(hub, accepted=False)
    await hub.engine.cancel(job)
    await hub.disconnect(peer)
    await hub.step()
    other = await hub.connect(capacity=1)
    await hub.step()
    row = await hub.row(job.id)
    assert other.of_type(JobMessage) == [], "a cancelled job was dispatched again"
    assert row.status != "queued"


@pytest.mark.parametrize("accepted", [False, True], ids=["unaccepted", "accepted"])
async def test_lease_lapsing_during_cancel_grace_does_not_requeue(
    hub: Harness, accepted: bool
) -> None:
    job, peer = await running_one(hub, accepted=accepted)
    lease = ACCEPT_TIMEOUT if not accepted else LEASE_TTL
    hub.clock.advance(lease - 1.0)
    await hub.engine.cancel(job)  # grace (3 s) outlasts the lease (1 s left)
    hub.clock.advance(1.5)
    hub.engine.reap()
    await hub.step()
    assert (await hub.row(job.id)).status != "queued"
    await after_retry_delay(hub)
    await hub.step()
    assert len(peer.of_type(JobMessage)) == 1, "a cancelled job was dispatched again"
    row = await hub.expect_status(job.id, "cancelled")
    assert row.error is not None
    assert row.error["kind"] == "Cancelled"


async def test_finished_job_is_not_forgotten_before_its_outcome_is_durable(
    hub: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    job, peer = await running_one(hub)
    await hub.step()
    reached = asyncio.Event()
    gate = asyncio.Semaphore(0)

    def gated(write: Callable[[], AbstractAsyncContextManager[Any]]) -> Any:
        @asynccontextmanager
        async def gated_write() -> AsyncIterator[Any]:
            async with write() as transaction:
                yield transaction
                reached.set()  # snapshots taken and written; the commit waits at the gate
                await gate.acquire()

        return gated_write

    # Whichever way the group commit writes (a session, or the driver on SQLite).
    monkeypatch.setattr(hub.store, "write", gated(hub.store.write))
    monkeypatch.setattr(hub.store, "driver_write", gated(hub.store.driver_write))
    commits = hub.engine.commits
    # The writer snapshots the job (running, progress 1) and waits at the gate ...
    hub.engine.handle(peer.connection, Progress(job_id=job.id, attempt=1, current=1))
    stepping = asyncio.create_task(hub.step())
    try:
        await reached.wait()
        # ... while the outcome arrives and is recorded for the next transaction.
        hub.engine.handle(peer.connection, result(job.id, 1, "done"))
        reached.clear()
        gate.release()  # let only the first transaction through
        await reached.wait()  # the next one is at the gate: the first has committed
        assert hub.engine.commits == commits + 1
        row = await hub.row(job.id)
        assert (row.status, row.progress_current) == ("running", 1)  # outcome not durable yet
        active = hub.engine.active(job.id)
        # JobService.get would now return the stale 'running' row (cancel -> Conflict
        # "already running", retry -> re-queues a job whose success is about to be written).
        assert active is not None, "finished job forgotten before its outcome was written"
    finally:
        for _ in range(10):
            gate.release()
        await stepping
    assert (await hub.row(job.id)).status == "succeeded"
    assert hub.engine.active(job.id) is None


async def test_cancel_of_a_just_finished_job_is_a_no_op(hub: Harness) -> None:
    job, peer = await running_one(hub)
    hub.engine.handle(peer.connection, result(job.id, 1, "done"))
    active = hub.engine.active(job.id)  # what JobService.get returns until the commit
    assert active is not None
    assert active.status == "succeeded"
    await hub.engine.cancel(active)
    await hub.step()
    row = await hub.row(job.id)
    assert row.status == "succeeded"
    assert peer.of_type(Cancel) == [], "Cancel sent for a job that already succeeded"
    assert row.cancel_requested_at is None


async def test_outcome_from_another_plugins_connection_is_not_applied(hub: Harness) -> None:
    job, _ = await running_one(hub)
    intruder = await hub.connect(capacity=1, plugin_id="plugin-2")
    hub.engine.handle(intruder.connection, result(job.id, 1, "forged"))
    await hub.step()
    row = await hub.row(job.id)
    assert (row.status, row.result) == ("running", None)


async def test_hello_of_another_plugin_cannot_take_a_job(hub: Harness) -> None:
    job, owner = await running_one(hub)
    intruder = await hub.connect(
        capacity=1, plugin_id="plugin-2", held=[JobRef(job_id=job.id, attempt=1)]
    )
    await hub.step()
    assert (await hub.row(job.id)).connection_id == owner.id
    assert intruder.connection.running == 0
