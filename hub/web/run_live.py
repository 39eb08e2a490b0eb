"""The JSON endpoints behind the run page's script (static/run.js): a file explorer's folder
listings, a markdown run's CSV upload and template preview, and a job's state to poll.

They answer JSON, errors included (`{"error": "..."}` with the service's status), because
their caller is a script that shows the message in place; session and CSRF checks are the
same as for every dashboard form (the script sends the token as `X-CSRF-Token`).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ango_plugins_sdk.protocol import JobStatus, JobType
from hub.db import Plugin
from hub.http.bodies import body_as_file
from hub.http.context import hub_of
from hub.http.errors import FORM_ERRORS, error_message, form_error_status
from hub.http.responses import JSONResponse
from hub.http.views import file_view, job_view
from hub.services.errors import Invalid, ServiceError
from hub.services.files import MAX_FILE_SIZE
from hub.services.jobs import JobRequest
from hub.services.markdown_preview import preview
from hub.services.sessions import SignedIn
from hub.web.pages import page

_STATE_FIELDS = ("id", "status", "operation", "progress", "result", "error")


class ListingRequest(BaseModel):
    """One page of one folder, with the config the run form holds right now."""

    model_config = ConfigDict(extra="forbid")

    project_id: str = Field(min_length=1)
    config: dict[str, Any] | None = None
    folder: str = ""
    page_token: str | None = None
    page_size: Annotated[int, Field(ge=1, le=1000)] = 50
    """A screenful: the browser pages on with the listing's token."""


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = ""
    csv_file_id: str | None = None


def _json_error(exc: ServiceError | ValidationError) -> JSONResponse:
    return JSONResponse({"error": error_message(exc)}, status_code=form_error_status(exc))


async def _plugin_of_type(request: Request, me: SignedIn, job_type: JobType) -> Plugin:
    plugin = await hub_of(request).presets.runnable_plugin(
        me.principal, request.path_params["plugin_id"]
    )
    if plugin.type != job_type:
        raise Invalid(f"this is for {job_type.value} plugins; {plugin.name!r} is {plugin.type}")
    return plugin


async def list_folder(request: Request, me: SignedIn) -> Response:
    """Queue a `list` job; the page then polls its state until the listing is its result."""
    hub = hub_of(request)
    try:
        plugin = await _plugin_of_type(request, me, JobType.FILE_EXPLORER)
        asked = ListingRequest.model_validate_json(await request.body())
        page_input = {"folder": asked.folder, "page_token": asked.page_token}
        listing = JobRequest(
            project_id=asked.project_id,
            config=asked.config,
            operation="list",
            input={**page_input, "page_size": asked.page_size},
        )
        (job,) = await hub.job_service.submit(me.principal, plugin.id, [listing], now=time.time())
    except FORM_ERRORS as exc:
        return _json_error(exc)
    return JSONResponse(
        {"job_id": job.id, "state_url": f"/jobs/{job.id}/state", "job_url": f"/jobs/{job.id}"},
        status_code=202,
    )


async def job_state(request: Request, me: SignedIn) -> Response:
    """What a waiting page needs of a job: status, progress, result, error."""
    try:
        job = await hub_of(request).job_service.get(me.principal, request.path_params["job_id"])
    except ServiceError as exc:
        return _json_error(exc)
    view = job_view(job)
    state = {key: view[key] for key in _STATE_FIELDS}
    state["terminal"] = JobStatus(job.status).is_terminal
    return JSONResponse(state, headers={"Cache-Control": "no-store"})


async def upload_csv(request: Request, me: SignedIn) -> Response:
    """The CSV for a markdown run, as the raw body (`?filename=`), stored like
    `POST /api/v1/files` stores it; the form then names it by id."""
    try:
        await _plugin_of_type(request, me, JobType.MARKDOWN)
        stored = await body_as_file(request, me.principal)
    except ServiceError as exc:
        return _json_error(exc)
    return JSONResponse(file_view(stored), status_code=201)


async def preview_markdown(request: Request, me: SignedIn) -> Response:
    """The template filled with the uploaded CSV's first row, as sanitized HTML."""
    try:
        await _plugin_of_type(request, me, JobType.MARKDOWN)
        asked = PreviewRequest.model_validate_json(await request.body())
        shown = await preview(
            hub_of(request).files, me.principal, asked.template, asked.csv_file_id
        )
    except FORM_ERRORS as exc:
        return _json_error(exc)
    return JSONResponse({"html": shown.html, "columns": shown.columns, "missing": shown.missing})


routes = [
    # These read their own bodies (JSON, a raw file): the token comes as a header.
    page("/plugins/{plugin_id}/explore", list_folder, methods=("POST",), csrf_header_only=True),
    page(
        "/plugins/{plugin_id}/run/csv",
        upload_csv,
        methods=("POST",),
        csrf_header_only=True,
        max_body=MAX_FILE_SIZE,
    ),
    page(
        "/plugins/{plugin_id}/run/preview",
        preview_markdown,
        methods=("POST",),
        csrf_header_only=True,
    ),
    page("/jobs/{job_id}/state", job_state),
]
