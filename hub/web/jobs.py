"""Jobs: the list with filters, and a detail page whose progress and logs move live."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ango_plugins_sdk.protocol import JobStatus, JobType
from hub.http.context import hub_of
from hub.http.downloads import artifact_response
from hub.http.job_export import job_history_response
from hub.http.views import job_view, log_view
from hub.jobs.state import StoredOrActiveJob
from hub.services.sessions import SignedIn
from hub.web.events import Frames, frame, stream
from hub.web.pages import form_text, page, redirect, render

POLL_INTERVAL = 0.25
"""How often a job page's stream looks for news (the job itself is read from memory
while it runs; logs are one indexed read)."""
LOG_PAGE = 500
LIST_POLL_INTERVAL = 0.5


async def list_jobs(request: Request, me: SignedIn) -> Response:
    hub = hub_of(request)
    plugin_id = request.query_params.get("plugin_id") or None
    status = request.query_params.get("status") or None
    jobs, next_cursor = await hub.job_service.page(
        me.principal,
        plugin_id=plugin_id,
        status=status,
        cursor=request.query_params.get("cursor") or None,
        limit=50,
    )
    plugins = await hub.plugins.usable_plugins(me.principal.organization_id)
    return render(
        request,
        "jobs/list.html",
        section="jobs",
        jobs=jobs,
        next_cursor=next_cursor,
        plugins=plugins,
        plugin_names={p.id: p.name for p in plugins},
        statuses=list(JobStatus),
        plugin_id=plugin_id or "",
        status=status or "",
    )


async def show_job(request: Request, me: SignedIn) -> Response:
    hub = hub_of(request)
    job = await hub.job_service.get(me.principal, request.path_params["job_id"])
    view = job_view(job)
    plugins = await hub.plugins.usable_plugins(me.principal.organization_id)
    terminal = JobStatus(job.status).is_terminal
    is_run = job.type == JobType.BATCH_MODEL and job.operation == "run"
    # A finished run's retry buttons, with what each would run. A run that ended by itself
    # folded every chunk, so its summary's counts are exact; a cancelled one did not (its
    # chunks ended after it), so its chunks are read, and nothing is offered while one of
    # them is still stopping.
    run_retry = None
    if is_run and terminal:
        summary = job.result if isinstance(job.result, dict) else {}
        if job.status != JobStatus.CANCELLED:
            run_retry = {"failed": summary.get("failed", 0), "total": summary.get("total", 0)}
        else:
            tasks = await hub.job_service.run_tasks(job)
            if not tasks.unfinished:
                run_retry = {"failed": len(tasks.failed), "total": len(tasks.tasks)}
    return render(
        request,
        "jobs/detail.html",
        section="jobs",
        job=view,
        plugin_names={p.id: p.name for p in plugins},
        terminal=terminal,
        is_run=is_run,
        is_chunk=job.type == JobType.BATCH_MODEL and job.operation == "chunk",
        run_retry=run_retry,
    )


async def job_events(request: Request, me: SignedIn) -> Response:
    """The job's state whenever it changes, and its log records as they arrive; ends once
    the job is finished and every record was sent. Resumes after `Last-Event-ID`."""
    hub = hub_of(request)
    job_id = request.path_params["job_id"]
    await hub.job_service.get(me.principal, job_id)  # 404 before the stream starts
    try:
        after = int(request.headers.get("last-event-id") or 0)
    except ValueError:
        after = 0
    if not 0 <= after < 2**63:  # a record id is a 64-bit integer; anything else starts over
        after = 0

    async def frames() -> Frames:
        nonlocal after
        last: dict[str, Any] | None = None
        while True:
            view = job_view(await hub.job_service.get(me.principal, job_id))
            if view != last:
                last = view
                yield frame("job", view)
            records, cursor = await hub.job_service.logs(
                me.principal, job_id, after=after, limit=LOG_PAGE
            )
            if records:
                after = cursor or after
                yield frame("logs", [log_view(r) for r in records], event_id=str(after))
            elif JobStatus(view["status"]).is_terminal:
                yield frame("end", {"status": view["status"]})
                return
            else:
                yield ""
            if len(records) < LOG_PAGE:
                await hub.until_closing(asyncio.sleep(POLL_INTERVAL))

    return stream(hub, frames())


MAX_WATCHED = 100
_JOB_ID = re.compile(r"^[0-9a-f]{24}$")


def row_state(job: StoredOrActiveJob) -> dict[str, Any]:
    """What a row of a job list shows that can change: status and progress."""
    view = job_view(job)
    progress = view["progress"]
    return {
        "status": view["status"],
        "percent": progress["percent"] if progress else None,
    }


async def list_events(request: Request, me: SignedIn) -> Response:
    """Status and progress of the jobs a list shows (`?ids=a,b,…`): what changed, every
    half second, until every one of them is finished. Running jobs are read from memory;
    only jobs that just left it cost a read."""
    hub = hub_of(request)
    wanted = [i for i in request.query_params.get("ids", "").split(",") if _JOB_ID.match(i)]
    watching = list(dict.fromkeys(wanted))[:MAX_WATCHED]

    async def frames() -> Frames:
        last: dict[str, dict[str, Any]] = {}
        while watching:
            states = {
                job_id: row_state(job)
                for job_id, job in (await hub.job_service.current(me.principal, watching)).items()
            }
            changed = {
                job_id: state for job_id, state in states.items() if last.get(job_id) != state
            }
            last.update(changed)
            yield frame("jobs", changed) if changed else ""
            watching[:] = [
                job_id
                for job_id in watching
                if job_id in states and not JobStatus(states[job_id]["status"]).is_terminal
            ]
            await hub.until_closing(asyncio.sleep(LIST_POLL_INTERVAL))
        yield frame("end", {})

    return stream(hub, frames())


async def cancel_job(request: Request, me: SignedIn) -> Response:
    job = await hub_of(request).job_service.cancel(me.principal, request.path_params["job_id"])
    return redirect(f"/jobs/{job.id}")


async def retry_job(request: Request, me: SignedIn) -> Response:
    """Retry; for a batch run, `only_failed=1` retries its failed tasks only."""
    form = await request.form()
    job = await hub_of(request).job_service.retry(
        me.principal,
        request.path_params["job_id"],
        only_failed=form_text(form, "only_failed") == "1",
    )
    return redirect(f"/jobs/{job.id}")


async def download(request: Request, me: SignedIn) -> Response:
    hub = hub_of(request)
    job = await hub.job_service.get(me.principal, request.path_params["job_id"])
    return artifact_response(hub, job)


async def export_jobs(request: Request, me: SignedIn) -> Response:
    """The job history download, as the API's (hub/http/job_export.py)."""
    return await job_history_response(request, me.principal)


routes = [
    page("/jobs", list_jobs),
    page("/jobs/events", list_events),
    page("/jobs/export", export_jobs),
    page("/jobs/{job_id}", show_job),
    page("/jobs/{job_id}/events", job_events),
    page("/jobs/{job_id}/cancel", cancel_job, methods=("POST",)),
    page("/jobs/{job_id}/retry", retry_job, methods=("POST",)),
    page("/jobs/{job_id}/download", download),
]
