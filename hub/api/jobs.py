"""/api/v1/plugins/{id}/jobs and /api/v1/jobs"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api.common import caller, page_args
from hub.http.bodies import json_body
from hub.http.context import hub_of
from hub.http.downloads import artifact_response
from hub.http.job_export import job_history_response
from hub.http.responses import JSONResponse
from hub.http.views import job_view, log_view
from hub.services.errors import Invalid
from hub.services.jobs import JobBatchRequest, JobRequest, RetryRequest

MAX_WAIT = 60.0
"""Seconds a `GET /api/v1/jobs/{id}?wait=` may hold its request."""
MAX_RETRY_BODY = 1024


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
    """The job; with `?wait=S` (at most MAX_WAIT), once it ended or after S seconds."""
    principal = await caller(request)
    hub = hub_of(request)
    job_id = request.path_params["job_id"]
    within = wait_seconds(request)
    if within > 0:
        job = await hub.until_closing(hub.job_service.wait_ended(principal, job_id, within=within))
        if job is None:  # the hub is shutting down: answer as things are
            job = await hub.job_service.get(principal, job_id)
    else:
        job = await hub.job_service.get(principal, job_id)
    return JSONResponse(job_view(job))


def wait_seconds(request: Request) -> float:
    raw = request.query_params.get("wait")
    if raw is None:
        return 0.0
    try:
        within = float(raw)
    except ValueError:
        raise Invalid(f"wait must be a number of seconds, got {raw!r}") from None
    if not 0 <= within <= MAX_WAIT:
        raise Invalid(f"wait must be between 0 and {MAX_WAIT:g} seconds")
    return within


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
    """No body (or `{}`) runs the job again; `{"only_failed": true}` retries a batch run's
    failed tasks only."""
    principal = await caller(request)
    retry = await json_body(
        request, RetryRequest, max_bytes=MAX_RETRY_BODY, if_empty=RetryRequest()
    )
    job = await hub_of(request).job_service.retry(
        principal, request.path_params["job_id"], only_failed=retry.only_failed
    )
    return JSONResponse(job_view(job), status_code=202)


async def export_jobs(request: Request) -> Response:
    """The job history as a CSV or NDJSON download (hub/http/job_export.py)."""
    return await job_history_response(request, await caller(request))


routes = [
    Route("/plugins/{plugin_id}/jobs", submit_job, methods=["POST"]),
    Route("/plugins/{plugin_id}/jobs/batch", submit_jobs, methods=["POST"]),
    Route("/jobs", list_jobs, methods=["GET"]),
    Route("/jobs/export", export_jobs, methods=["GET"]),  # before /jobs/{job_id}
    Route("/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/jobs/{job_id}/logs", job_logs, methods=["GET"]),
    Route("/jobs/{job_id}/artifact", job_artifact, methods=["GET"]),
    Route("/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
    Route("/jobs/{job_id}/retry", retry_job, methods=["POST"]),
]
