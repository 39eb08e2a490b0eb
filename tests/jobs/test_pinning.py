"""Version pins: a pinned job goes only to a process of its version, waits queued while
none is live, and never holds up the jobs behind it."""

from __future__ import annotations

from typing import Any

import pytest

from ango_plugins_sdk.protocol import Job as JobMessage
from ango_plugins_sdk.protocol import Result
from hub.jobs.queue import BATCH, INTERACTIVE, PluginQueue
from hub.jobs.state import ActiveJob
from tests.jobs.conftest import FakePeer, Harness


async def connect(hub: Harness, version: str, capacity: int = 1) -> FakePeer:
    """A process reporting `version`, announced to the engine as the gateway does."""
    peer = hub.register(capacity)
    peer.connection.plugin_version = version
    hub.engine.connection_opened(peer.connection, [])
    return peer


async def submit(
    hub: Harness, count: int = 1, *, version: str | None = None, **fields: Any
) -> list[ActiveJob]:
    """Jobs as JobService.submit builds them for an organization pinned to `version`."""
    jobs = [hub.make_job(config={"n": n}, **fields) for n in range(count)]
    for job in jobs:
        job.required_version = version
    await hub.engine.submit(jobs)
    return jobs


def sent_ids(peer: FakePeer) -> list[str]:
    return [m.job_id for m in peer.of_type(JobMessage)]


async def jobs_sent(peer: FakePeer, count: int) -> list[str]:
    await peer.harness.expect(
        lambda: len(sent_ids(peer)) >= count, what=f"{count} jobs to {peer.id}"
    )
    return sent_ids(peer)


async def finish(hub: Harness, peer: FakePeer, job: ActiveJob) -> None:
    hub.engine.handle(peer.connection, Result(job_id=job.id, attempt=job.attempt, output={}))
    await hub.expect_status(job.id, "succeeded")


# --- the engine ------------------------------------------------------------------------------


async def test_pinned_jobs_go_only_to_processes_of_their_version(hub: Harness) -> None:
    old = await connect(hub, "1.0", capacity=5)
    new = await connect(hub, "2.0", capacity=5)
    pinned = await submit(hub, 4, version="2.0")
    assert sorted(await jobs_sent(new, 4)) == sorted(j.id for j in pinned)
    await hub.step()
    assert sent_ids(old) == []
    for job in pinned:
        row = await hub.row(job.id)
        assert (row.status, row.connection_id, row.required_version) == ("running", new.id, "2.0")


async def test_a_pinned_job_waits_queued_until_its_version_connects(hub: Harness) -> None:
    old = await connect(hub, "1.0", capacity=2)
    [job] = await submit(hub, version="2.0")
    await hub.step()
    hub.engine.reap()
    await hub.step()
    row = await hub.row(job.id)
    assert (row.status, row.attempt, row.error) == ("queued", 0, None)  # waiting, not failed
    assert sent_ids(old) == []

    new = await connect(hub, "2.0")
    assert await jobs_sent(new, 1) == [job.id]
    row = await hub.expect_status(job.id, "running")
    assert row.connection_id == new.id
    assert sent_ids(old) == []


async def test_unpinned_jobs_go_to_any_version(hub: Harness) -> None:
    old = await connect(hub, "1.0", capacity=2)
    new = await connect(hub, "2.0", capacity=2)
    jobs = await submit(hub, 4)
    await hub.expect(
        lambda: len(sent_ids(old)) + len(sent_ids(new)) == 4,
    )
    assert (len(sent_ids(old)), len(sent_ids(new))) == (2, 2)
    assert set(sent_ids(old) + sent_ids(new)) == {j.id for j in jobs}


async def test_pinned_jobs_do_not_hold_up_unpinned_ones_behind_them(hub: Harness) -> None:
    old = await connect(hub, "1.0", capacity=3)
    pinned = await submit(hub, 3, version="2.0")
    unpinned = await submit(hub, 3)  # same organization, same priority, queued later
    assert sorted(await jobs_sent(old, 3)) == sorted(j.id for j in unpinned)
    await hub.step()
    assert len(sent_ids(old)) == 3
    for job in pinned:
        assert (await hub.row(job.id)).status == "queued"


async def test_a_pinned_interactive_job_does_not_hold_up_batch_work(hub: Harness) -> None:
    old = await connect(hub, "1.0")
    await submit(hub, version="2.0", priority=INTERACTIVE)
    [batch] = await submit(hub, priority=BATCH)
    assert await jobs_sent(old, 1) == [batch.id]


async def test_jobs_pinned_to_another_version_do_not_hold_up_each_other(hub: Harness) -> None:
    old = await connect(hub, "1.0")
    new = await connect(hub, "2.0")
    [for_new] = await submit(hub, version="2.0", organization_id="org-a")
    [for_old] = await submit(hub, version="1.0", organization_id="org-b")
    assert await jobs_sent(new, 1) == [for_new.id]
    assert await jobs_sent(old, 1) == [for_old.id]


async def test_a_freed_slot_takes_the_pinned_job_waiting_for_it(hub: Harness) -> None:
    new = await connect(hub, "2.0")
    [first, second] = await submit(hub, 2, version="2.0")
    assert await jobs_sent(new, 1) == [first.id]
    await finish(hub, new, first)
    assert await jobs_sent(new, 2) == [first.id, second.id]


async def test_a_retry_keeps_the_pin(hub: Harness) -> None:
    new = await connect(hub, "2.0")
    [job] = await submit(hub, version="2.0")
    await jobs_sent(new, 1)
    await finish(hub, new, job)
    await hub.expect(lambda: hub.engine.active(job.id) is None)
    await hub.disconnect(new)

    old = await connect(hub, "1.0")
    retried = await hub.engine.retry(await hub.row(job.id))
    assert retried.required_version == "2.0"
    await hub.step()
    assert sent_ids(old) == []
    assert (await hub.row(job.id)).status == "queued"
    newer = await connect(hub, "2.0")
    assert await jobs_sent(newer, 1) == [job.id]


async def test_a_pinned_job_keeps_its_pin_across_a_restart(hub: Harness) -> None:
    [job] = await submit(hub, version="2.0")
    await hub.restart()
    old = await connect(hub, "1.0")
    await hub.step()
    assert sent_ids(old) == []
    new = await connect(hub, "2.0")
    assert await jobs_sent(new, 1) == [job.id]


@pytest.mark.parametrize("settings_overrides", [{"interactive_reserve": 1}])
async def test_a_connection_keeping_its_reserve_does_not_stop_another(hub: Harness) -> None:
    # The first process's last free slot is kept for interactive work; batch work goes on
    # to the second (the dispatch round does not end at the first refusal).
    busy = await connect(hub, "1.0", capacity=2)
    [first] = await submit(hub)
    assert await jobs_sent(busy, 1) == [first.id]
    spare = await connect(hub, "1.0", capacity=1)
    [second] = await submit(hub)
    assert await jobs_sent(spare, 1) == [second.id]
    await hub.step()
    assert sent_ids(busy) == [first.id]


# --- the queue -------------------------------------------------------------------------------


def test_queue_pop_skips_groups_another_version_needs_and_keeps_their_turn() -> None:
    queue = PluginQueue()
    queue.push("a-new", "A", BATCH, version="2.0")
    queue.push("b-any", "B", BATCH)
    queue.push("c-old", "C", BATCH, version="1.0")
    assert queue.pop("1.0") == "b-any"
    assert queue.pop("1.0") == "c-old"
    assert queue.pop("1.0") is None
    assert queue.ready == 1
    assert queue.pop("2.0") == "a-new"  # still first in line for its version


def test_queue_pop_without_a_version_takes_any_pin() -> None:
    queue = PluginQueue()
    queue.push("pinned", "A", INTERACTIVE, version="2.0")
    queue.push("unpinned", "A", BATCH)
    assert queue.pop() == "pinned"
    assert queue.pop() == "unpinned"


def test_queue_keeps_the_pin_of_delayed_and_removed_jobs() -> None:
    queue = PluginQueue()
    queue.push_later("late", "A", BATCH, not_before=5.0, version="2.0")
    queue.push("gone", "A", BATCH, version="2.0")
    assert queue.remove("gone") is True
    assert queue.release_due(10.0) == 1
    assert queue.pop("1.0") is None
    assert queue.pop("2.0") == "late"
