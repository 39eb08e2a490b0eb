"""Long polls on a job (`GET /api/v1/jobs/{id}?wait=`) are woken by the engine once the
job's end is stored, not before, and not by a poll."""

from __future__ import annotations

from hub.jobs.engine import JobEngine
from tests.jobs.conftest import Harness
from tests.jobs.test_engine import result, running_one


async def test_a_waiter_is_woken_when_the_outcome_is_stored(hub: Harness) -> None:
    job, peer = await running_one(hub)
    ended = hub.engine.stored_end(job.id)
    assert ended is not None
    assert not ended.done()
    hub.engine.handle(peer.connection, result(job.id, 1, {"ok": True}))
    assert not ended.done()  # applied in memory, not yet committed
    await hub.step()
    assert ended.done()
    assert (await hub.row(job.id)).status == "succeeded"
    assert hub.engine.stored_end(job.id) is None  # ended: nothing left to wait for


async def test_a_cancelled_waiter_is_forgotten(hub: Harness) -> None:
    job, peer = await running_one(hub)
    ended = hub.engine.stored_end(job.id)
    assert ended is not None
    ended.cancel()
    hub.engine.handle(peer.connection, result(job.id, 1))
    await hub.step()
    assert not waiting(hub.engine)


async def test_waiters_are_woken_when_the_term_ends(hub: Harness) -> None:
    """A node that stops dispatching wakes its long polls, which then read the database."""
    job, _ = await running_one(hub)
    ended = hub.engine.stored_end(job.id)
    assert ended is not None
    await hub.engine.abandon()
    assert ended.done()
    assert not waiting(hub.engine)


def waiting(engine: JobEngine) -> int:
    return sum(len(futures) for futures in engine._end_waiters.values())
