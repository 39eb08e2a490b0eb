"""Protocol 2 from the SDK's side: what it agrees at hello, batches both ways, folding."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ango_plugins_sdk import CustomJob
from ango_plugins_sdk.protocol import Accepted, Ack, Batch, Failed, JobError, Progress, Result
from ango_plugins_sdk.protocol.session import _folded
from tests.sdk.fakehub import FakeHub, custom_plugin, eventually, heartbeats, job, serving


async def instant(job: CustomJob[Any]) -> int:
    """Finishes without ever giving the event loop back: its outcome queues with its
    `accepted`."""
    return 7


@pytest.mark.parametrize(("offered", "spoken"), [(None, 1), ([1], 1), ([1, 2], 2), ([2, 3], 2)])
async def test_the_sdk_speaks_the_newest_protocol_the_hub_offers(
    offered: list[int] | None, spoken: int
) -> None:
    hub = FakeHub(protocols=offered)
    async with serving(custom_plugin(instant), hub):
        channel = await hub.session(0)
    assert channel.first.protocol == spoken


@pytest.mark.parametrize(
    ("offered", "sent"), [(None, ["accepted", "result"]), ([1, 2], ["result"])]
)
async def test_an_outcome_that_leaves_with_its_accepted_says_both_under_protocol_2(
    offered: list[int] | None, sent: list[str]
) -> None:
    hub = FakeHub(protocols=offered)
    async with serving(custom_plugin(instant), hub):
        channel = await hub.session(0)
        channel.push(job("j1"))
        result = await channel.wait_for(Result, job_id="j1")
    assert result.output == 7
    assert channel.types_for("j1") == sent


async def test_a_burst_of_jobs_goes_out_and_comes_back_in_few_frames() -> None:
    gate = asyncio.Event()

    async def gated(job: CustomJob[Any]) -> int:
        await gate.wait()
        return int(job.config["n"])

    hub = FakeHub(protocols=[1, 2])
    jobs = [job(f"j{n}", config={"n": n}) for n in range(20)]
    async with serving(custom_plugin(gated, concurrency=20), hub):
        channel = await hub.session(0)
        channel.push(Batch(messages=jobs))
        await eventually(lambda: len(channel.of_type(Accepted)) == 20, what="20 accepted")
        gate.set()
        await eventually(lambda: len(channel.of_type(Result)) == 20, what="20 results")
        assert sorted(r.output for r in channel.of_type(Result)) == list(range(20))
        # Each burst left in far fewer frames than messages.
        assert len(channel.frame_lengths) < len(channel.received) / 4
        channel.push(Batch(messages=[Ack(job_id=j.job_id, attempt=1) for j in jobs]))
        seen = len(heartbeats(channel))
        # The acks cleared the outbox: later heartbeats hold nothing.
        await eventually(
            lambda: len(heartbeats(channel)) > seen + 1 and heartbeats(channel)[-1].jobs == [],
            what="a heartbeat holding no job",
        )


async def test_stopping_writes_what_is_queued_before_closing() -> None:
    started = asyncio.Event()

    async def endless(job: CustomJob[Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    hub = FakeHub(protocols=[1, 2])
    async with serving(custom_plugin(endless, concurrency=3), hub) as served:
        channel = await hub.session(0)
        channel.push(Batch(messages=[job(f"j{n}") for n in range(3)]))
        await started.wait()
        await served.stopped()
    # Each job was handed back (or ended) before the close, none left unsaid.
    for n in range(3):
        assert channel.types_for(f"j{n}")[-1] in ("release", "failed")
    assert channel.closed_by == "plugin"


def test_folding_drops_only_the_accepted_of_attempts_whose_outcome_is_there() -> None:
    progress = Progress(job_id="a", attempt=1, current=1)
    failed = Failed(job_id="b", attempt=2, error=JobError(message="x"))
    messages = [
        Accepted(job_id="a", attempt=1),
        progress,
        Accepted(job_id="b", attempt=2),
        Accepted(job_id="b", attempt=3),  # another attempt: kept
        Result(job_id="a", attempt=1),
        failed,
    ]
    assert _folded(list(messages)) == [
        progress,
        Accepted(job_id="b", attempt=3),
        Result(job_id="a", attempt=1),
        failed,
    ]
    alone = [Accepted(job_id="a", attempt=1)]
    assert _folded(alone) == alone


@pytest.mark.parametrize("offered", [None, [1, 2]])
async def test_a_log_line_that_cannot_be_encoded_is_dropped_not_the_connection(
    offered: list[int] | None,
) -> None:
    def careless(job: CustomJob[Any]) -> str:
        job.logger.info("file name \udcff from surrogateescape")
        job.logger.info("the next line is fine")
        return "done"

    hub = FakeHub(protocols=offered)
    async with serving(custom_plugin(careless), hub):
        channel = await hub.session(0)
        channel.push(job("j1"))
        result = await channel.wait_for(Result, job_id="j1")
        assert result.output == "done"
        channel.push(job("j2"))
        await channel.wait_for(Result, job_id="j2")
    assert len(hub.channels) == 1  # the same session all along
    assert channel.closed_by == "plugin"  # closed when serving stopped, not before


async def test_an_error_about_an_undecodable_file_name_still_fails_the_job_saying_so() -> None:
    def opens(job: CustomJob[Any]) -> None:
        open("/nonexistent/\udcff.jpg")  # noqa: SIM115 (the failure is the point)

    hub = FakeHub(protocols=[1, 2])
    async with serving(custom_plugin(opens), hub):
        channel = await hub.session(0)
        channel.push(job("j1"))
        failed = await channel.wait_for(Failed, job_id="j1")
    assert failed.error.kind == "FileNotFoundError"
    assert "\\udcff.jpg" in failed.error.message
    assert failed.error.traceback is not None
    assert "\\udcff" in failed.error.traceback
