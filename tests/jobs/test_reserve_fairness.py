"""A process keeping its interactive reserve hands a batch job back without costing that
job's organization its turn (a second read found one organization starving)."""

from __future__ import annotations

import pytest

from ango_plugins_sdk.protocol import Job as JobMessage
from ango_plugins_sdk.protocol import Result
from hub.jobs.queue import BATCH
from tests.jobs.conftest import FakePeer, Harness


def sent_ids(peer: FakePeer) -> list[str]:
    return [m.job_id for m in peer.of_type(JobMessage)]


@pytest.mark.parametrize("settings_overrides", [{"interactive_reserve": 1}])
async def test_reserve_refusal_does_not_starve_an_organization(hub: Harness) -> None:
    # `busy` (registered first, so it wins ties) holds one long batch job and keeps its other
    # slot for interactive work; `spare` has one slot. Two organizations queue batch work.
    busy = hub.register(capacity=2)
    hub.engine.connection_opened(busy.connection, [])
    [long_job] = await hub.submit(1, priority=BATCH, organization_id="org-z")
    await hub.expect(lambda: sent_ids(busy) == [long_job.id])

    queued = [hub.make_job(config={"n": n}, organization_id="org-a") for n in range(4)]
    queued += [hub.make_job(config={"n": n}, organization_id="org-b") for n in range(4)]
    await hub.engine.submit(queued)
    org_of = {job.id: job.organization_id for job in queued}

    spare = hub.register(capacity=1)
    hub.engine.connection_opened(spare.connection, [])
    served: list[str] = []
    for round_ in range(4):
        await hub.expect(lambda n=round_: len(sent_ids(spare)) > n, what="a job for spare")
        job_id = sent_ids(spare)[-1]
        served.append(org_of[job_id])
        active = hub.engine.active(job_id)
        assert active is not None
        hub.engine.handle(
            spare.connection, Result(job_id=job_id, attempt=active.attempt, output={})
        )
        await hub.expect_status(job_id, "succeeded")
    assert sent_ids(busy) == [long_job.id]
    # Round robin between the two organizations: each gets half of the spare process.
    assert sorted(served) == ["org-a", "org-a", "org-b", "org-b"], served
