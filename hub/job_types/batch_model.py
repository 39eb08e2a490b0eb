"""Batch model jobs: a run over many tasks. The run is stored, shown and cancellable but
never dispatched; its chunks (operation "chunk", `input.parent_id`) carry a slice of the
tasks each and go through the normal engine, so they spread over the plugin's processes
with leases and retries like any job. Each chunk's predictions are written as it finishes;
one bad task never sinks the run, and the run's summary gathers every chunk's."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ango_plugins_sdk.protocol import JobStatus, JobType
from ango_plugins_sdk.protocol.workspace import ExportedTask
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
from hub.job_types.model import asset_answer
from hub.jobs.engine import Applied
from hub.jobs.queue import BATCH
from hub.jobs.state import ActiveJob, error
from hub.paths import job_data_path
from hub.services.errors import Conflict, Forbidden, Invalid

DEFAULT_CHUNK_SIZE = 16
MAX_FAILED_TASKS_LISTED = 1000


class _BatchInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_ids: list[str] | None = Field(default=None, max_length=100_000)
    stages: list[str] | None = None
    batches: list[str] | None = None
    class_mapping: dict[str, str] = {}
    overwrite: bool = True


class BatchModelKind(JobKind):
    type = JobType.BATCH_MODEL
    label = "Batch model"
    action = "Start the batch run"
    needs_project = True

    async def prepare(self, submission: Submission) -> list[ActiveJob]:
        """The run users see, and the chunk jobs that do the work."""
        chunk_size = _chunk_size(submission)
        project = await self.project(submission)
        spec = submission.parse(_BatchInput)
        mapping = predictions.class_mapping(
            project, spec.class_mapping, submission.plugin.class_names, submission.where
        )
        tasks = await self._tasks(submission, project.id, spec)
        common = {"project_id": project.id, "class_mapping": mapping, "overwrite": spec.overwrite}
        groups = [tasks[i : i + chunk_size] for i in range(0, len(tasks), chunk_size)]
        total = len(tasks)
        priority = BATCH if submission.priority is None else submission.priority
        run_input = {
            **common,
            "stages": spec.stages,
            "batches": spec.batches,
            "chunk_size": chunk_size,
            "total": total,
        }
        # With nothing to do the run is done at once; else it runs until its chunks are in.
        run = submission.job(
            run_input,
            priority=priority,
            operation="run",
            status=JobStatus.RUNNING if total else JobStatus.SUCCEEDED,
            job_type=self.type,
        )
        run.result = _empty_summary(total, len(groups))
        run.progress_current, run.progress_total = 0.0, float(max(total, 1))
        run.started_at = submission.now
        if not total:
            run.finished_at = submission.now
        chunks = [
            submission.job(
                {
                    **common,
                    "tasks": [t.model_dump(mode="json", exclude_none=True) for t in group],
                    "parent_id": run.id,
                },
                priority=priority,
                operation="chunk",
                job_type=self.type,
            )
            for group in groups
        ]
        return [run, *chunks]

    async def _tasks(
        self, submission: Submission, project_id: str, spec: _BatchInput
    ) -> list[ExportedTask]:
        exports = self.services.workspace.exports
        organization_id = submission.organization_id
        if spec.task_ids is None:
            stream = exports.stream(
                organization_id, project_id, stages=spec.stages, batches=spec.batches
            )
            return [task async for task in stream]
        tasks = []
        for task_id in dict.fromkeys(spec.task_ids):
            task_project, task = await exports.task(organization_id, task_id)
            if task_project != project_id:
                raise Invalid(
                    f"{submission.where}.task_ids: task {task_id} is not in project {project_id}"
                )
            tasks.append(task)
        return tasks

    def check_retry(self) -> None:
        raise Conflict("a batch run or chunk is not retried alone: submit a new run")

    def data_paths(self) -> list[DataPath]:
        return [DataPath("GET", "assets/{asset_id}", self._asset)]

    def io_paths(self, job: ActiveJob) -> dict[str, Any]:
        return {"assets_url": job_data_path(job.id, "assets/")}

    async def _asset(self, request: DataRequest) -> Stream | Redirect:
        """An image of one of the chunk's tasks, and of no other task."""
        wanted = request.params["asset_id"]
        for task in request.job.input.get("tasks", []):
            if task["asset"]["id"] == wanted:
                return await asset_answer(self, request.job, task["asset"])
        raise Forbidden("that asset is not one of this chunk's tasks")

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        """One chunk: each task's predictions, and the tasks that failed."""
        if not isinstance(output, dict) or not isinstance(output.get("predictions"), dict):
            raise InvalidOutput(
                "a batch model callback must return {task_id: predictions} "
                "(or {'predictions': {...}, 'errors': {task_id: reason}})"
            )
        found: dict[str, Any] = output["predictions"]
        errors = {str(k): str(v)[:1000] for k, v in (output.get("errors") or {}).items()}
        writes: list[tuple[str, predictions.Converted]] = []
        totals = {"done": 0, "failed": 0, "written": 0, "unmapped": 0, "rejected": 0}
        for task in job.input["tasks"]:
            task_id = task["task_id"]
            if task_id in errors:
                continue
            task_predictions = found.get(task_id)
            if not isinstance(task_predictions, list):
                errors[task_id] = "the plugin returned no predictions for this task"
                continue
            made = predictions.converted(
                job, [p for p in task_predictions if isinstance(p, dict)], task["asset"]
            )
            writes.append((task_id, made))
            summary = made.summary()
            totals["done"] += 1
            for key in ("written", "unmapped", "rejected"):
                totals[key] += summary[key]
        totals["failed"] = len(errors)
        return Applied({**totals, "errors": errors}, predictions.write(job, writes))

    # runs

    def is_run(self, job: ActiveJob) -> bool:
        return job.operation == "run"

    def fold(self, run: ActiveJob, child: ActiveJob) -> bool:
        """Add a finished chunk to the run's summary and progress; True once all are in."""
        summary = dict(run.result or _empty_summary(0, 0))
        failed_tasks = dict(summary["failed_tasks"])
        task_ids = [task["task_id"] for task in child.input.get("tasks", [])]
        if child.status == JobStatus.SUCCEEDED and isinstance(child.result, dict):
            result = child.result
            summary["done"] += result.get("done", 0)
            summary["failed"] += result.get("failed", 0)
            summary["predictions_written"] += result.get("written", 0)
            summary["unmapped"] += result.get("unmapped", 0)
            summary["rejected"] += result.get("rejected", 0)
            errors = result.get("errors", {})
        else:
            reason = (child.error or {}).get("message") or f"chunk {child.status}"
            summary["failed"] += len(task_ids)
            errors = {task_id: reason for task_id in task_ids}
        for task_id, reason in errors.items():
            if len(failed_tasks) < MAX_FAILED_TASKS_LISTED:
                failed_tasks[task_id] = reason
        summary["failed_tasks"] = failed_tasks
        summary["chunks_finished"] += 1
        run.result = summary
        run.progress_current = float(summary["done"] + summary["failed"])
        run.progress_total = float(max(summary["total"], 1))
        run.progress_message = f"{summary['done']} done, {summary['failed']} failed"
        return bool(summary["chunks_finished"] >= summary["chunks"])

    def run_outcome(self, run: ActiveJob) -> tuple[JobStatus, dict[str, Any] | None]:
        """How a run whose chunks are all in ends: failed only if no task made it."""
        summary = run.result or {}
        if summary.get("done", 0) == 0 and summary.get("failed", 0) > 0:
            first = next(iter(summary.get("failed_tasks", {}).values()), "")
            message = f"every task failed ({summary['failed']}); the first said: {first}"
            return JobStatus.FAILED, error(message, "BatchFailed")
        return JobStatus.SUCCEEDED, None


def _chunk_size(submission: Submission) -> int:
    chunk_size = submission.config.get("chunk_size")
    if chunk_size is None:
        return DEFAULT_CHUNK_SIZE
    if (
        not isinstance(chunk_size, int)
        or isinstance(chunk_size, bool)
        or not 1 <= chunk_size <= 1000
    ):
        prefix = submission.where.removesuffix("input")
        raise Invalid(f"{prefix}config.chunk_size must be a whole number from 1 to 1000")
    return chunk_size


def _empty_summary(total: int, chunks: int) -> dict[str, Any]:
    return {
        "total": total,
        "chunks": chunks,
        "chunks_finished": 0,
        "done": 0,
        "failed": 0,
        "predictions_written": 0,
        "unmapped": 0,
        "rejected": 0,
        "failed_tasks": {},
    }
