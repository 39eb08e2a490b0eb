"""/api/v1/plugins/{id}/jobs and /api/v1/jobs"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from hub.api.common import caller, hub_of, json_body, page_args
from hub.jobs.queue import INTERACTIVE
from hub.runtime import Hub
from hub.services.errors import Invalid, NotFound
from hub.services.jobs import JobBatchRequest, JobLike, JobRequest
from hub.storage.base import content_disposition
from hub.store import JobLog


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


def job_view(job: JobLike) -> dict[str, Any]:
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
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }


def log_view(record: JobLog) -> dict[str, Any]:
    return {
        "id": record.id,
        "attempt": record.attempt,
        "source": record.source,
        "level": record.level,
        "message": record.message,
        "fields": record.fields,
        "time": _iso(record.time),
    }


async def submit_job(request: Request) -> Response:
    principal = await caller(request)
    job_request = await json_body(request, JobRequest)
    (job,) = await hub_of(request).job_service.submit(
        principal, request.path_params["plugin_id"], [job_request], now=time.time()
    )
    return JSONResponse(job_view(job), status_code=202)


async def submit_jobs(request: Request) -> Response:
    principal = await caller(request)
    batch = await json_body(request, JobBatchRequest)
    jobs = await hub_of(request).job_service.submit(
        principal, request.path_params["plugin_id"], batch.jobs, now=time.time()
    )
    return JSONResponse({"items": [job_view(j) for j in jobs], "next": None}, status_code=202)


async def get_job(request: Request) -> Response:
    principal = await caller(request)
    job = await hub_of(request).job_service.get(principal, request.path_params["job_id"])
    return JSONResponse(job_view(job))


async def list_jobs(request: Request) -> Response:
    principal = await caller(request)
    cursor, limit = page_args(request)
    jobs, next_cursor = await hub_of(request).job_service.page(
        principal,
        plugin_id=request.query_params.get("plugin_id"),
        status=request.query_params.get("status"),
        cursor=cursor,
        limit=limit,
    )
    return JSONResponse({"items": [job_view(j) for j in jobs], "next": next_cursor})


async def job_logs(request: Request) -> Response:
    principal = await caller(request)
    cursor, limit = page_args(request)
    try:
        after = int(cursor or 0)
    except ValueError:
        raise Invalid(f"cursor must be a log record id, got {cursor!r}") from None
    records, last = await hub_of(request).job_service.logs(
        principal, request.path_params["job_id"], after=after, limit=limit
    )
    # `next` is where to resume; polling with it later returns only newer records.
    return JSONResponse(
        {"items": [log_view(r) for r in records], "next": str(last if last is not None else after)}
    )


def artifact_response(hub: Hub, job: JobLike) -> Response:
    """The export file of a succeeded export job: a redirect to storage, or streamed."""
    artifact = (job.result or {}).get("artifact") if isinstance(job.result, dict) else None
    if job.status != "succeeded" or not artifact:
        raise NotFound(f"job {job.id} has no file to download ({job.status})")
    filename = artifact["filename"]
    content_type = artifact.get("content_type") or "application/octet-stream"
    presigned = hub.storage.presigned_get(
        artifact["key"], 600, filename=filename, content_type=content_type
    )
    if presigned:
        return RedirectResponse(presigned, status_code=307)
    return StreamingResponse(
        hub.storage.get(artifact["key"]),
        media_type=content_type,
        headers={"Content-Disposition": content_disposition(filename)},
    )


async def job_artifact(request: Request) -> Response:
    principal = await caller(request)
    hub = hub_of(request)
    job = await hub.job_service.get(principal, request.path_params["job_id"])
    return artifact_response(hub, job)


async def cancel_job(request: Request) -> Response:
    principal = await caller(request)
    job = await hub_of(request).job_service.cancel(principal, request.path_params["job_id"])
    return JSONResponse(job_view(job), status_code=202)


async def retry_job(request: Request) -> Response:
    principal = await caller(request)
    job = await hub_of(request).job_service.retry(principal, request.path_params["job_id"])
    return JSONResponse(job_view(job), status_code=202)


routes = [
    Route("/plugins/{plugin_id}/jobs", submit_job, methods=["POST"]),
    Route("/plugins/{plugin_id}/jobs/batch", submit_jobs, methods=["POST"]),
    Route("/jobs", list_jobs, methods=["GET"]),
    Route("/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/jobs/{job_id}/logs", job_logs, methods=["GET"]),
    Route("/jobs/{job_id}/artifact", job_artifact, methods=["GET"]),
    Route("/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
    Route("/jobs/{job_id}/retry", retry_job, methods=["POST"]),
]
