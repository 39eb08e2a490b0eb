"""A job type is one SDK module: a job class and a plugin class that names it. The runner
finds the job class through the plugin class alone, so a new type edits no table."""

from __future__ import annotations

from typing import Any

import pytest

from ango_plugins_sdk import CustomJob, Plugin
from ango_plugins_sdk._job import ConfigT, PlainConfig
from ango_plugins_sdk.protocol import JobType, Result
from tests.sdk.fakehub import PLUGIN_ID, SECRET, FakeHub, job, serving


class SurveyJob(CustomJob[ConfigT]):
    """A toy job type, defined only in this test: questions in, a tally of answers out."""

    @property
    def questions(self) -> list[str]:
        return list(self.input.get("questions", []))

    def _finish(self, value: Any) -> Any:
        return {"tally": len(value), "answers": value}


class SurveyPlugin(Plugin[SurveyJob[ConfigT], ConfigT, list[str], SurveyJob[PlainConfig]]):
    job_class = SurveyJob


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_the_runner_builds_the_job_class_the_plugin_names(is_async: bool) -> None:
    received: list[object] = []

    def answer(job: SurveyJob) -> list[str]:
        received.append(job)
        return [question.upper() for question in job.questions]

    async def answer_later(job: SurveyJob) -> list[str]:
        return answer(job)

    plugin = SurveyPlugin(
        id=PLUGIN_ID, secret=SECRET, callback=answer_later if is_async else answer
    )
    hub = FakeHub()
    async with serving(plugin, hub):
        channel = await hub.session(0)
        channel.push(job("s1", input={"questions": ["color?", "size?"]}))
        result = await channel.wait_for(Result, job_id="s1")
    assert [type(seen) for seen in received] == [SurveyJob]
    # The type's own finish step ran on what the callback returned (or its awaited value).
    assert result.output == {"tally": 2, "answers": ["COLOR?", "SIZE?"]}
    assert plugin.job_type is JobType.CUSTOM  # its job class's
