"""What the engine does when a connection ends mid-dispatch or mid-job, and with job
messages too big for the process they are meant for: every job ends, nothing cycles."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.protocol import Ack, JobRef
from ango_plugins_sdk.protocol import Job as JobMessage
from hub.jobs.engine import Applied
from hub.jobs.state import ActiveJob
from tests.jobs.conftest import LEASE_TTL, MAX_ATTEMPTS, RECONNECT_GRACE, Harness, PassThrough
from tests.jobs.test_engine import (
    accept,
    after_retry_delay,
    hub_messages,
    jobs_sent,
    result,
    running_one,
)


async def test_a_dispatch_that_ends_the_connection_counts_against_the_job(hub: Harness) -> None:
    """A job whose delivery kills the connection (a frame the process cannot take, a crash
    on receipt) is a lost attempt each time, so it fails after max attempts."""
    [job] = await hub.submit(1)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        peer = await hub.connect(capacity=1)
        [message] = await jobs_sent(peer, 1)
        assert (message.job_id, message.attempt) == (job.id, attempt)
        await hub.disconnect(peer)  # abrupt: before any `accepted`
        if attempt < MAX_ATTEMPTS:
            row = await hub.expect_row(job.id, lambda r, n=attempt: r.failed_attempts == n)
            assert row.status == "queued"
            assert row.not_before is not None  # with a retry delay, not in a hot loop
            await after_retry_delay(hub)
    row = await hub.expect_status(job.id, "failed")
    assert row.error is not None
    assert row.error["kind"] == "AttemptsExhausted"
    assert "the connection ended before the plugin accepted it" in row.error["message"]


async def test_an_orderly_close_before_acceptance_is_not_the_jobs_fault(hub: Harness) -> None:
    [job] = await hub.submit(1)
    peer = await hub.connect(capacity=1)
    await jobs_sent(peer, 1)
    await hub.disconnect(peer, orderly=True)
    row = await hub.expect_status(job.id, "queued")
    assert (row.failed_attempts, row.not_before) == (0, None)


async def test_a_killed_process_jobs_run_elsewhere_after_the_grace(hub: Harness) -> None:
    job, killed = await running_one(hub)
    survivor = await hub.connect(capacity=1)
    await hub.disconnect(killed)

    hub.clock.advance(RECONNECT_GRACE - 0.01)
    hub.engine.reap()
    await hub.step()
    assert survivor.of_type(JobMessage) == []  # its process may still come back

    hub.clock.advance(0.02)
    hub.engine.reap()
    [message] = await jobs_sent(survivor, 1)  # long before the lease would have lapsed
    assert (message.job_id, message.attempt) == (job.id, 2)
    assert hub.clock.now - (await hub.row(job.id)).created_at < LEASE_TTL
    await accept(hub, survivor, job.id, 2)
    hub.engine.handle(survivor.connection, result(job.id, 2, "done"))
    row = await hub.expect_status(job.id, "succeeded")
    assert (row.attempt, row.failed_attempts) == (2, 1)
    messages = await hub_messages(hub, job.id)
    assert any("disconnected and did not come back within" in m for m in messages), messages


async def test_a_process_back_within_the_grace_keeps_its_job(hub: Harness) -> None:
    job, old = await running_one(hub)
    await hub.disconnect(old)
    hub.clock.advance(RECONNECT_GRACE / 2)
    back = await hub.connect(capacity=1, held=[JobRef(job_id=job.id, attempt=1)])
    # Past the grace, and most of a lease on: its heartbeats' lease, not the grace, rules.
    hub.clock.advance(LEASE_TTL * 0.9)
    hub.engine.reap()
    await hub.step()
    row = await hub.row(job.id)
    assert (row.status, row.attempt, row.connection_id) == ("running", 1, back.id)
    hub.engine.handle(back.connection, result(job.id, 1, "kept"))
    assert (await hub.expect_status(job.id, "succeeded")).failed_attempts == 0


@pytest.mark.parametrize("settings_overrides", [{"reconnect_grace": 60.0}])
async def test_the_grace_is_never_longer_than_the_lease(hub: Harness) -> None:
    job, peer = await running_one(hub)
    await hub.disconnect(peer)
    hub.clock.advance(LEASE_TTL + 0.01)
    hub.engine.reap()
    await hub.expect_row(job.id, lambda r: r.status == "queued" and r.failed_attempts == 1)


async def test_a_job_too_big_for_the_process_fails_and_the_round_goes_on(
    hub: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    small = await hub.connect(capacity=2, max_message_size=2048)
    big = hub.make_job(config={"blob": "x" * 4000})
    fine = hub.make_job(config={"n": 1})
    await hub.engine.submit([big, fine])
    row = await hub.expect_status(big.id, "failed")
    assert row.error is not None
    assert row.error["kind"] == "JobTooLarge"
    assert "over the 2048-byte limit of the plugin process" in row.error["message"]
    # The other job of the same dispatch round was still sent, and the slot came back.
    [message] = await jobs_sent(small, 1)
    assert message.job_id == fine.id
    assert small.connection.running == 1
    await hub.step()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_send_that_fails_is_logged_and_the_round_goes_on(
    hub: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A send that raises (a bug: a gone socket is absorbed by the send itself) is logged
    once, with its traceback, and the other frames of the round still go out."""
    broken = await hub.connect(capacity=1)
    working = await hub.connect(capacity=1)

    async def raise_(_message: object) -> None:
        raise RuntimeError("the socket broke in a new way")

    broken.on_send = raise_
    await hub.submit(2)
    await hub.step()
    assert len(working.of_type(JobMessage)) == 1
    errors = [r for r in caplog.records if r.name == "hub.jobs" and r.levelno == logging.ERROR]
    assert [r.exc_info is not None for r in errors] == [True]
    assert errors[0].exc_info is not None
    assert "the socket broke in a new way" in str(errors[0].exc_info[1])


class WritingRules(PassThrough):
    """Rules whose results write something in the outcome's transaction, and may fail to."""

    def __init__(self) -> None:
        self.fail = False
        self.writes = 0

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        async def write(session: AsyncSession) -> None:
            self.writes += 1
            if self.fail:
                raise RuntimeError("the task is locked")

        return Applied({"written": output}, write)


@pytest.fixture
def writing(hub: Harness) -> WritingRules:
    rules = WritingRules()
    hub.engine._rules = rules
    return rules


async def test_a_result_whose_writes_fail_fails_the_job(
    hub: Harness, writing: WritingRules
) -> None:
    writing.fail = True
    job, peer = await running_one(hub)
    hub.engine.handle(peer.connection, result(job.id, 1, "boxes"))
    assert hub.engine.active(job.id) is not None
    assert hub.engine.active(job.id).status == "running"  # type: ignore[union-attr]
    row = await hub.expect_status(job.id, "failed")
    assert row.error is not None
    assert row.error["kind"] == "ApplyFailed"
    assert "the task is locked" in row.error["message"]
    assert [a.job_id for a in peer.of_type(Ack)] == [job.id]


async def test_a_result_is_applied_once_however_often_it_comes(
    hub: Harness, writing: WritingRules
) -> None:
    job, peer = await running_one(hub)
    hub.engine.handle(peer.connection, result(job.id, 1, "boxes"))
    hub.engine.handle(peer.connection, result(job.id, 1, "boxes"))  # re-sent before the ack
    row = await hub.expect_status(job.id, "succeeded")
    assert row.result == {"written": "boxes"}
    assert writing.writes == 1
    assert len(peer.of_type(Ack)) == 2
