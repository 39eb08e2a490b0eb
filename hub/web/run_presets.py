"""Config presets from the dashboard: "Save current config as preset" on the run form, and
deleting one from the plugin's page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hub.http.context import hub_of
from hub.http.errors import FORM_ERRORS, error_message, form_error_status
from hub.services.files import MAX_FILE_SIZE
from hub.services.sessions import SignedIn
from hub.web.pages import form_text, page, redirect
from hub.web.plugins import json_field
from hub.web.run_forms import posted_values
from hub.web.run_page import render_run_form, run_url


async def save_preset(request: Request, me: SignedIn) -> Response:
    """Posted by the run form itself (the save button's formaction), so a refusal draws
    that form again with everything that was typed in it."""
    hub = hub_of(request)
    plugin = await hub.presets.runnable_plugin(me.principal, request.path_params["plugin_id"])
    form = await request.form()
    try:
        config = json_field(form, "config", required=True)
        preset = await hub.presets.save(
            me.principal, plugin.id, form_text(form, "preset_name"), config
        )
    except FORM_ERRORS as exc:
        return await render_run_form(
            request,
            me,
            plugin,
            posted_values(form),
            error=f"The preset was not saved: {error_message(exc)}",
            status_code=form_error_status(exc),
        )
    return redirect(
        run_url(
            plugin.id,
            preset=preset.name,
            project_id=form_text(form, "project_id"),
            task_id=form_text(form, "task_id"),
        )
    )


async def delete_preset(request: Request, me: SignedIn) -> Response:
    plugin_id = request.path_params["plugin_id"]
    await hub_of(request).presets.delete(me.principal, plugin_id, request.path_params["preset_id"])
    return redirect(f"/plugins/{plugin_id}#presets")


routes = [
    # The button posts the whole run form, a markdown run's CSV included.
    page("/plugins/{plugin_id}/presets", save_preset, methods=("POST",), max_body=MAX_FILE_SIZE),
    page("/plugins/{plugin_id}/presets/{preset_id}/delete", delete_preset, methods=("POST",)),
]
