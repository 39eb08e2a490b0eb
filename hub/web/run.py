"""Run a plugin: one form per plugin type, filled from the plugin's default config or a
saved preset, submitted through the job service like the REST API's jobs.

The form's pieces are spread over a few modules: `run_forms` (the form's values and the job
request they make), `run_page` (drawing it), `run_presets` (saving and deleting presets) and
`run_live` (the JSON endpoints the page's script uses: folder listings, CSV upload, preview).
"""

from __future__ import annotations

import time

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from ango_plugins_sdk.protocol import JobType
from hub.http.bodies import upload_chunks
from hub.http.context import hub_of
from hub.http.errors import FORM_ERRORS, error_message, form_error_status
from hub.runtime import Hub
from hub.services.accounts import Principal
from hub.services.errors import NotFound
from hub.services.files import MAX_FILE_SIZE
from hub.services.sessions import SignedIn
from hub.web import run_live, run_presets
from hub.web.pages import form_text, page, redirect
from hub.web.run_forms import initial_values, job_request, posted_values
from hub.web.run_page import render_run_form


async def show_run(request: Request, me: SignedIn) -> Response:
    hub = hub_of(request)
    plugin = await hub.presets.runnable_plugin(me.principal, request.path_params["plugin_id"])
    query = request.query_params
    preset_name = query.get("preset", "")
    try:
        preset = (
            await hub.presets.find(me.principal, plugin.id, preset_name) if preset_name else None
        )
        error = None
    except NotFound as exc:
        # A stale link to a deleted preset: the form still works, from the default config.
        preset, error = None, f"{exc.message}; the plugin's default config is shown instead"
    values = initial_values(
        plugin,
        preset=preset,
        project_id=query.get("project_id", ""),
        task_id=query.get("task_id", ""),
    )
    return await render_run_form(request, me, plugin, values, error=error)


async def submit_run(request: Request, me: SignedIn) -> Response:
    """Submit the job and go to its page; or, for the form's "Load project" button, draw
    the form again for the newly chosen project, keeping what was typed."""
    hub = hub_of(request)
    plugin = await hub.presets.runnable_plugin(me.principal, request.path_params["plugin_id"])
    form = await request.form()
    values = posted_values(form)
    try:
        if plugin.type == JobType.MARKDOWN:
            # Without the page's script the CSV comes with the form; keep it either way.
            values.csv_file_id = await _csv_in_form(hub, me.principal, form) or values.csv_file_id
        if form_text(form, "action") == "reload":
            return await render_run_form(request, me, plugin, values)
        needs_project = hub_of(request).job_types[plugin.type].needs_project
        job = job_request(plugin, form, csv_file_id=values.csv_file_id, needs_project=needs_project)
        (submitted,) = await hub.job_service.submit(me.principal, plugin.id, [job], now=time.time())
    except FORM_ERRORS as exc:
        return await render_run_form(
            request,
            me,
            plugin,
            values,
            error=error_message(exc),
            status_code=form_error_status(exc),
        )
    return redirect(f"/jobs/{submitted.id}")


async def _csv_in_form(hub: Hub, principal: Principal, form: FormData) -> str | None:
    """The id of the CSV uploaded with the form, stored like any job file; None without one."""
    upload = form.get("csv")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    stored = await hub.files.upload(
        principal, upload.filename, upload.content_type or "text/csv", upload_chunks(upload)
    )
    return stored.id


routes: list[BaseRoute] = [
    page("/plugins/{plugin_id}/run", show_run),
    # A markdown run may carry its CSV in the form.
    page("/plugins/{plugin_id}/run", submit_run, methods=("POST",), max_body=MAX_FILE_SIZE),
    *run_presets.routes,
    *run_live.routes,
]
