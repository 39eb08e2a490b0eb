"""Custom jobs: anything else (statistics, checks, ...). The config and input go to the
plugin as given, with the project's id when the job names one; the output is the result."""

from __future__ import annotations

from typing import Any

from ango_plugins_sdk.protocol import JobType
from hub.job_types.base import JobKind, Submission


class CustomKind(JobKind):
    type = JobType.CUSTOM
    label = "Custom"

    async def prepare_input(self, submission: Submission) -> dict[str, Any]:
        prepared = dict(submission.raw_input)
        if submission.project_id is not None:
            await self.project(submission)  # 404 unless it is the caller's
            prepared["project_id"] = submission.project_id
        return prepared
