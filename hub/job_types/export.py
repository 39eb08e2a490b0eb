"""Export jobs: the project's tasks (with stage and batch filters) stream to the plugin as
NDJSON; the plugin uploads one file, which users then download."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from ango_plugins_sdk.protocol import JobType
from hub.job_types.base import (
    Answer,
    DataPath,
    DataRequest,
    InvalidOutput,
    JobKind,
    Stream,
    Submission,
)
from hub.jobs.engine import Applied
from hub.jobs.state import ActiveJob
from hub.paths import job_data_path
from hub.workspace.projects import check_stages

UPLOAD_URL_TTL = 6 * 3600
"""Seconds a presigned upload URL (S3 storage) stays valid: the length of a long export."""


class _Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stages: list[str] | None = None
    batches: list[str] | None = None


def artifact_key(job_id: str, attempt: int) -> str:
    """Where an attempt's export file is stored; a plugin can only name its own."""
    return f"artifacts/{job_id}/{attempt}/export"


class ExportKind(JobKind):
    type = JobType.EXPORT
    label = "Export"
    action = "Export"
    needs_project = True

    async def prepare_input(self, submission: Submission) -> dict[str, Any]:
        project = await self.project(submission)
        filters = submission.parse(_Filters)
        check_stages(project, filters.stages or (), field=f"{submission.where}.stages")
        count = await self.services.workspace.exports.count(
            submission.organization_id, project.id, stages=filters.stages, batches=filters.batches
        )
        return {
            "project_id": project.id,
            "stages": filters.stages,
            "batches": filters.batches,
            "project": project.model_dump(mode="json"),
            "num_tasks": count,
        }

    def data_paths(self) -> list[DataPath]:
        return [DataPath("GET", "tasks", self._tasks), DataPath("PUT", "artifact", self._upload)]

    def io_paths(self, job: ActiveJob) -> dict[str, Any]:
        key = artifact_key(job.id, job.attempt)
        presigned = self.services.storage.presigned_put(key, UPLOAD_URL_TTL)
        upload = (
            {"url": presigned, "auth": False, "needs_length": True, "key": key}
            if presigned
            else {"url": job_data_path(job.id, "artifact"), "auth": True, "key": key}
        )
        return {"tasks_url": job_data_path(job.id, "tasks"), "upload": upload}

    async def _tasks(self, request: DataRequest) -> Stream:
        job = request.job
        lines = self.services.workspace.exports.ndjson(
            job.organization_id,
            job.input["project_id"],
            stages=job.input.get("stages"),
            batches=job.input.get("batches"),
        )
        return Stream(lines, "application/x-ndjson")

    async def _upload(self, request: DataRequest) -> Answer:
        job = request.job
        size = await self.services.storage.put(
            artifact_key(job.id, job.attempt), request.stream(), content_type=request.content_type
        )
        return Answer({"size": size}, status=201)

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        return Applied(_artifact(job, output))


def _artifact(job: ActiveJob, output: Any) -> dict[str, Any]:
    artifact = output.get("artifact") if isinstance(output, dict) else None
    if not isinstance(artifact, dict):
        raise InvalidOutput("an export result needs an 'artifact' (return ExportResult)")
    if artifact.get("key") != artifact_key(job.id, job.attempt):
        raise InvalidOutput("the artifact is not this attempt's upload")
    filename = re.sub(r"[\x00-\x1f/\\]", "_", str(artifact.get("filename") or "export"))[:255]
    size = artifact.get("size")
    # Without its size an empty file could not be told from a full one.
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidOutput("an export artifact needs its 'size' in bytes")
    allow_empty = artifact.get("allow_empty", False)
    if not isinstance(allow_empty, bool):
        raise InvalidOutput("an export artifact's 'allow_empty' must be true or false")
    if size == 0 and not allow_empty:
        raise InvalidOutput(
            "the export file is empty (0 bytes). A file object is read from its current "
            "position: rewind it with seek(0) before returning it; if an empty file is "
            "intended, return ExportResult(..., allow_empty=True)"
        )
    return {
        "artifact": {
            "key": artifact["key"],
            "filename": filename,
            "size": size,
            "content_type": str(artifact.get("content_type") or "application/octet-stream")[:200],
        }
    }
