"""Deleting a plugin ends its unfinished jobs: none waits forever for a process that can
never connect again."""

from __future__ import annotations

from sqlalchemy import delete

from ango_plugins_sdk.protocol import Cancel
from hub.db import Plugin
from tests.jobs.conftest import PLUGIN, Harness
from tests.jobs.test_engine import accept, jobs_sent

REASON = "the plugin was deleted"


async def test_queued_and_running_jobs_end_as_cancelled(hub: Harness) -> None:
    running, queued = await hub.submit(2)
    peer = await hub.connect(capacity=1)
    await jobs_sent(peer, 1)
    await accept(hub, peer, running.id, 1)

    assert await hub.engine.end_plugin_jobs(PLUGIN) == 2
    for job in (running, queued):
        row = await hub.expect_status(job.id, "cancelled")
        assert row.error is not None
        assert REASON in row.error["message"]
    assert hub.engine.active_count() == 0
    assert hub.engine.queued_count() == 0
    assert [c.job_id for c in peer.of_type(Cancel)] == [running.id]


async def test_a_job_submitted_after_the_delete_ends_at_once(hub: Harness) -> None:
    await hub.engine.end_plugin_jobs(PLUGIN)
    [late] = await hub.submit(1)
    row = await hub.expect_status(late.id, "cancelled")
    assert row.error is not None
    assert REASON in row.error["message"]


async def test_other_plugins_jobs_are_untouched(hub: Harness) -> None:
    [mine] = await hub.submit(1)
    [other] = await hub.submit(1, plugin_id="plugin-2")
    await hub.engine.end_plugin_jobs(PLUGIN)
    await hub.expect_status(mine.id, "cancelled")
    await hub.step()
    assert (await hub.row(other.id)).status == "queued"


async def test_jobs_stranded_by_an_older_hub_end_at_start(hub: Harness) -> None:
    """A data directory from before deletes ended jobs: its stranded jobs end at start."""
    [job] = await hub.submit(1)
    await hub.stop()
    async with hub.store.write() as session:
        await session.execute(delete(Plugin).where(Plugin.id == PLUGIN))
    await hub.restart()
    row = await hub.expect_status(job.id, "cancelled")
    assert row.error is not None
    assert REASON in row.error["message"]
