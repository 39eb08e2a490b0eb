"""The JSON both layers show of a job, a job's log record, a live plugin process and an
uploaded job file: the REST API returns these, the dashboard's pages and event streams
carry the same."""

from __future__ import annotations

from typing import Any

from hub.db import JobLog, StoredFile, iso_time
from hub.jobs.live import Process
from hub.jobs.queue import INTERACTIVE
from hub.jobs.state import StoredOrActiveJob


def job_view(job: StoredOrActiveJob) -> dict[str, Any]:
    progress = None
    if job.progress_current is not None:
        total = job.progress_total
        progress = {
            "current": job.progress_current,
            "total": total,
            "message": job.progress_message,
            "percent": None if not total else round(100 * job.progress_current / total, 1),
        }
    return {
        "id": job.id,
        "plugin_id": job.plugin_id,
        "organization_id": job.organization_id,
        "created_by": job.created_by,
        "type": job.type,
        "operation": job.operation,
        "status": job.status,
        "priority": "interactive" if job.priority == INTERACTIVE else "batch",
        "config": job.config,
        "input": job.input,
        "timeout_s": job.timeout_s,
        "required_version": job.required_version,
        "attempts": job.attempt,
        "connection_id": job.connection_id,
        "failed_attempts": job.failed_attempts,
        "progress": progress,
        "result": job.result,
        "error": job.error,
        "cancel_requested": job.cancel_requested_at is not None,
        "created_at": iso_time(job.created_at),
        "started_at": iso_time(job.started_at),
        "finished_at": iso_time(job.finished_at),
    }


def log_view(record: JobLog) -> dict[str, Any]:
    return {
        "id": record.id,
        "attempt": record.attempt,
        "source": record.source,
        "level": record.level,
        "message": record.message,
        "fields": record.fields,
        "time": iso_time(record.time),
    }


def connection_view(connection: Process) -> dict[str, Any]:
    return {
        "id": connection.id,
        "sdk_version": connection.sdk_version,
        "plugin_version": connection.plugin_version,
        "hostname": connection.hostname,
        "pid": connection.pid,
        "capacity": connection.capacity,
        "running": connection.running,
        "connected_at": connection.connected_at.isoformat(),
        "last_heartbeat_at": connection.last_heartbeat_at.isoformat(),
    }


def file_view(stored: StoredFile) -> dict[str, Any]:
    return {"id": stored.id, "filename": stored.filename, "size": stored.size}
