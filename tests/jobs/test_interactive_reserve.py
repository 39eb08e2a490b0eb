"""The interactive lane: batch work leaves slots free for interactive jobs."""

from __future__ import annotations

import pytest

from ango_plugins_sdk.protocol import Job as JobMessage
from ango_plugins_sdk.protocol import Result
from hub.jobs.queue import BATCH, INTERACTIVE
from tests.jobs.conftest import FakePeer, Harness

pytestmark = pytest.mark.parametrize("settings_overrides", [{"interactive_reserve": 1}])


async def jobs_sent(peer: FakePeer, count: int) -> None:
    await peer.harness.expect(
        lambda: len(peer.of_type(JobMessage)) >= count, what=f"{count} jobs sent"
    )


async def test_batch_work_leaves_the_reserved_slot_free(hub: Harness) -> None:
    batch = await hub.submit(5, priority=BATCH)
    peer = hub.register(capacity=3)
    hub.engine.connection_opened(peer.connection, [])
    await jobs_sent(peer, 2)
    await hub.step()
    assert len(peer.of_type(JobMessage)) == 2  # 3 slots, 1 kept back
    (urgent,) = await hub.submit(1, priority=INTERACTIVE)
    await jobs_sent(peer, 3)
    assert peer.of_type(JobMessage)[-1].job_id == urgent.id
    assert {m.job_id for m in peer.of_type(JobMessage)[:2]} == {batch[0].id, batch[1].id}


async def test_a_finished_interactive_job_gives_its_slot_back_to_the_reserve(hub: Harness) -> None:
    await hub.submit(4, priority=BATCH)
    peer = hub.register(capacity=2)
    hub.engine.connection_opened(peer.connection, [])
    await jobs_sent(peer, 1)
    (urgent,) = await hub.submit(1, priority=INTERACTIVE)
    await jobs_sent(peer, 2)
    message = peer.of_type(JobMessage)[-1]
    assert message.job_id == urgent.id
    hub.engine.handle(peer.connection, Result(job_id=urgent.id, attempt=1, output={}))
    await hub.step()
    assert len(peer.of_type(JobMessage)) == 2  # the freed slot is the reserve again


async def test_a_single_slot_process_reserves_nothing(hub: Harness) -> None:
    await hub.submit(2, priority=BATCH)
    peer = hub.register(capacity=1)
    hub.engine.connection_opened(peer.connection, [])
    await jobs_sent(peer, 1)
