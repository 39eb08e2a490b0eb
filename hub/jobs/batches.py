"""Batch runs: a coordinator job whose work is done by chunk jobs.

The coordinator (type batch_model, operation "run") is stored, shown and cancellable, but
never dispatched; its chunks (operation "chunk", input.parent_id) go through the normal
engine, so they spread over the plugin's processes with leases and retries like any job.
Each finished chunk is folded into the coordinator's summary and progress in the same
synchronous step that finishes the chunk, so both land in one transaction.
"""

from __future__ import annotations

from typing import Any

from ango_plugins_sdk.protocol import JobStatus, JobType
from hub.jobs.state import ActiveJob

MAX_FAILED_TASKS_LISTED = 1000


def is_coordinator(job: ActiveJob) -> bool:
    return job.type == JobType.BATCH_MODEL and job.operation == "run"


def parent_id(job: ActiveJob) -> str | None:
    value = job.input.get("parent_id")
    return value if isinstance(value, str) else None


def empty_summary(total: int, chunks: int) -> dict[str, Any]:
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


def fold_chunk(run: ActiveJob, chunk: ActiveJob) -> bool:
    """Add a finished chunk to the run's summary and progress; True once every chunk is in."""
    summary = dict(run.result or empty_summary(0, 0))
    failed_tasks = dict(summary["failed_tasks"])
    task_ids = [task["task_id"] for task in chunk.input.get("tasks", [])]
    if chunk.status == JobStatus.SUCCEEDED and isinstance(chunk.result, dict):
        result = chunk.result
        summary["done"] += result.get("done", 0)
        summary["failed"] += result.get("failed", 0)
        summary["predictions_written"] += result.get("written", 0)
        summary["unmapped"] += result.get("unmapped", 0)
        summary["rejected"] += result.get("rejected", 0)
        errors = result.get("errors", {})
    else:
        reason = (chunk.error or {}).get("message") or f"chunk {chunk.status}"
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


def outcome(run: ActiveJob) -> tuple[JobStatus, dict[str, Any] | None]:
    """How a run whose chunks are all in ends: failed only if no task made it."""
    summary = run.result or {}
    if summary.get("done", 0) == 0 and summary.get("failed", 0) > 0:
        first = next(iter(summary.get("failed_tasks", {}).values()), "")
        message = f"every task failed ({summary['failed']}); the first said: {first}"
        return JobStatus.FAILED, {
            "message": message,
            "kind": "BatchFailed",
            "retryable": False,
            "traceback": None,
        }
    return JobStatus.SUCCEEDED, None
