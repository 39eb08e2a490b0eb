"""Batch model jobs: a run over many tasks. The run is stored, shown and cancellable but
never dispatched; its chunks (operation "chunk", `input.parent_id`) carry a slice of the
tasks each and go through the normal engine, so they spread over the plugin's processes
with leases and retries like any job. Each chunk's predictions are written as it finishes;
one bad task never sinks the run, and the run's summary gathers every chunk's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ango_plugins_sdk.protocol import JobStatus, JobType
from ango_plugins_sdk.protocol.workspace import ExportedTask
from hub.db import iso_time
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
from hub.jobs.state import ActiveJob, StoredOrActiveJob, error, move
from hub.paths import job_data_path
from hub.security import new_id
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

    def check_retry(self, job: StoredOrActiveJob) -> None:
        if job.operation != "run":
            parent = (job.input or {}).get("parent_id")
            raise Conflict(
                "a chunk is not retried alone: retry its run "
                f'(POST /api/v1/jobs/{parent}/retry, with {{"only_failed": true}} for just '
                "the tasks that failed)"
            )

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

    def rerun(
        self,
        run: ActiveJob,
        children: Sequence[ActiveJob],
        *,
        only_failed: bool,
        by: str,
        now: float,
    ) -> tuple[list[ActiveJob], str]:
        """Open a finished run again as a new round: new chunks for its failed tasks (or for
        all its tasks), the round that ended kept in `history`. Returns the new chunks (none:
        nothing to do, and the run is left as it was) and what to log."""
        outcome = run_tasks(children)
        tasks = outcome.failed_tasks() if only_failed else list(outcome.tasks.values())
        if not tasks:
            return [], ""
        previous = dict(run.result or _empty_summary(len(outcome.tasks), 0))
        round_number = int(previous.get("round", 1))
        history = [*previous.get("history", []), _round_record(run, previous, round_number)]
        chunk_size = int(run.input.get("chunk_size") or DEFAULT_CHUNK_SIZE)
        groups = [tasks[i : i + chunk_size] for i in range(0, len(tasks), chunk_size)]
        summary = _empty_summary(len(outcome.tasks), len(groups))
        if only_failed:
            # The tasks not retried keep their outcome (done) and what they wrote.
            summary["done"] = len(outcome.tasks) - len(tasks)
            for key in ("predictions_written", "unmapped", "rejected"):
                summary[key] = int(previous.get(key, 0))
        summary |= {
            "round": round_number + 1,
            "retried": "failed" if only_failed else "all",
            "history": history,
        }
        move(run, JobStatus.QUEUED)
        move(run, JobStatus.RUNNING)
        run.result, run.error = summary, None
        run.started_at, run.finished_at = now, None
        run.progress_current = float(summary["done"])
        run.progress_total = float(max(summary["total"], 1))
        run.progress_message = f"{summary['done']} done, 0 failed"
        template = children[0] if children else run
        common = {
            "project_id": run.input["project_id"],
            "class_mapping": run.input.get("class_mapping", {}),
            "overwrite": run.input.get("overwrite", True),
        }
        chunks = [
            ActiveJob(
                id=new_id(),
                organization_id=run.organization_id,
                plugin_id=run.plugin_id,
                created_by=by,
                type=run.type,
                operation="chunk",
                config=run.config,
                input={**common, "tasks": group, "parent_id": run.id, "round": round_number + 1},
                priority=run.priority,
                timeout_s=template.timeout_s,
                status=JobStatus.QUEUED,
                created_at=now,
                required_version=run.required_version,
            )
            for group in groups
        ]
        what = f"the {len(tasks)} failed tasks" if only_failed else f"all {len(tasks)} tasks"
        note = f"retried by user {by}: round {round_number + 1}, {what} in {len(chunks)} chunks"
        return chunks, note

    def run_outcome(self, run: ActiveJob) -> tuple[JobStatus, dict[str, Any] | None]:
        """How a run whose chunks are all in ends: failed only if no task made it."""
        summary = run.result or {}
        if summary.get("done", 0) == 0 and summary.get("failed", 0) > 0:
            first = next(iter(summary.get("failed_tasks", {}).values()), "")
            message = f"every task failed ({summary['failed']}); the first said: {first}"
            return JobStatus.FAILED, error(message, "BatchFailed")
        return JobStatus.SUCCEEDED, None


@dataclass
class RunTasks:
    """A run's tasks (as its chunks carry them, in order) and each one's latest outcome."""

    tasks: dict[str, dict[str, Any]]
    failed: dict[str, str]
    """`{task_id: reason}` for every task whose latest chunk did not do it."""
    unfinished: int
    """Chunks not finished yet (a cancelled run's running chunks, still stopping)."""

    def failed_tasks(self) -> list[dict[str, Any]]:
        return [task for task_id, task in self.tasks.items() if task_id in self.failed]


def run_tasks(children: Sequence[StoredOrActiveJob]) -> RunTasks:
    """Read from the chunks themselves, not from the run's summary (which lists at most
    MAX_FAILED_TASKS_LISTED failures, and misses chunks that ended after a cancel): a later
    round's outcome for a task replaces an earlier one's."""
    tasks: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    unfinished = 0
    ordered = sorted(children, key=lambda c: (int(c.input.get("round", 1)), c.created_at, c.id))
    for chunk in ordered:
        chunk_tasks = chunk.input.get("tasks", [])
        for task in chunk_tasks:
            tasks.setdefault(task["task_id"], task)
        status = JobStatus(chunk.status)
        if not status.is_terminal:
            unfinished += 1
            continue
        if status == JobStatus.SUCCEEDED and isinstance(chunk.result, dict):
            errors = chunk.result.get("errors") or {}
        else:
            reason = (chunk.error or {}).get("message") or f"chunk {chunk.status}"
            errors = {task["task_id"]: reason for task in chunk_tasks}
        for task in chunk_tasks:
            task_id = task["task_id"]
            if task_id in errors:
                failed[task_id] = str(errors[task_id])
            else:
                failed.pop(task_id, None)
    return RunTasks(tasks, failed, unfinished)


def _round_record(run: ActiveJob, summary: dict[str, Any], number: int) -> dict[str, Any]:
    """What the history keeps of a round that ended."""
    return {
        "round": number,
        "retried": summary.get("retried"),
        "status": run.status,
        "total": summary.get("total", 0),
        "done": summary.get("done", 0),
        "failed": summary.get("failed", 0),
        "predictions_written": summary.get("predictions_written", 0),
        "started_at": iso_time(run.started_at),
        "finished_at": iso_time(run.finished_at),
    }


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
