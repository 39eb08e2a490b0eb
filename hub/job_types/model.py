"""Model jobs: one task, interactive. The plugin gets the task with its annotations and its
image (a data path), and returns predictions; the hub maps the model's classes to the
project's categories and writes them as pre-labels, perhaps moving the task on from a
plugin stage, in the same transaction as the job's outcome."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ango_plugins_sdk.protocol import JobType
from hub.job_types import predictions
from hub.job_types.base import (
    DataPath,
    DataRequest,
    InvalidOutput,
    JobKind,
    Redirect,
    Stream,
    Submission,
)
from hub.jobs.engine import Applied
from hub.jobs.queue import INTERACTIVE
from hub.jobs.state import ActiveJob
from hub.paths import job_data_path
from hub.services.errors import Invalid
from hub.workspace.projects import check_stages


class _Advance(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_stage: str = Field(alias="from", min_length=1, max_length=100)
    to_stage: str = Field(alias="to", min_length=1, max_length=100)


class _ModelInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(min_length=1, max_length=64)
    class_mapping: dict[str, str] = {}
    """Model class -> the project's category id."""
    overwrite: bool = True
    advance: _Advance | None = None
    """Move the task from one stage to another when the job succeeds (plugin stages)."""


class ModelKind(JobKind):
    type = JobType.MODEL
    label = "Model"
    action = "Pre-label the task"

    def default_priority(self, operation: str | None) -> int:
        return INTERACTIVE  # someone is looking at the task

    async def prepare_input(self, submission: Submission) -> dict[str, Any]:
        spec = submission.parse(_ModelInput)
        workspace = self.services.workspace
        project_id, task = await workspace.exports.task(submission.organization_id, spec.task_id)
        if submission.project_id is not None and submission.project_id != project_id:
            raise Invalid(f"task {spec.task_id} is not in project {submission.project_id}")
        project = await workspace.projects.info(submission.organization_id, project_id)
        if spec.advance is not None:
            stages = (spec.advance.from_stage, spec.advance.to_stage)
            check_stages(project, stages, field=f"{submission.where}.advance")
        mapping = predictions.class_mapping(
            project, spec.class_mapping, submission.plugin.class_names, submission.where
        )
        return {
            "task_id": spec.task_id,
            "project_id": project_id,
            "class_mapping": mapping,
            "overwrite": spec.overwrite,
            "advance": spec.advance.model_dump(by_alias=True) if spec.advance else None,
            "task": task.model_dump(mode="json", exclude_none=True),
        }

    def data_paths(self) -> list[DataPath]:
        return [DataPath("GET", "asset", self._asset)]

    def io_paths(self, job: ActiveJob) -> dict[str, Any]:
        return {"asset_url": job_data_path(job.id, "asset")}

    async def _asset(self, request: DataRequest) -> Stream | Redirect:
        return await asset_answer(self, request.job, request.job.input["task"]["asset"])

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        found = output.get("predictions") if isinstance(output, dict) else None
        if not isinstance(found, list) or not all(isinstance(p, dict) for p in found):
            raise InvalidOutput(
                "a model callback must return a list of BBox/Polygon/Point/Classification "
                "or a Prediction"
            )
        task_id = job.input["task_id"]
        made = predictions.converted(job, found, job.input["task"]["asset"])
        step = job.input.get("advance")
        advance = (task_id, step["from"], step["to"]) if step else None
        effect = predictions.write(job, [(task_id, made)], advance=advance)
        return Applied({"task_id": task_id, **made.summary()}, effect)


async def asset_answer(kind: JobKind, job: ActiveJob, asset: dict[str, Any]) -> Stream | Redirect:
    """An image of a job's task: streamed if it was uploaded, else a redirect to its URL."""
    url = asset.get("url") or ""
    if url.startswith(("http://", "https://")):
        return Redirect(url)
    stored = await kind.services.workspace.assets.file(job.organization_id, asset["id"])
    return Stream(stored.chunks, "application/octet-stream")
