"""The directory: find plugins, install or clone them; and version pins for plugins in use."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hub.http.context import hub_of
from hub.services.sessions import SignedIn
from hub.web.pages import form_text, page, redirect, render
from hub.web.plugins import secret_page


async def list_directory(request: Request, me: SignedIn) -> Response:
    hub = hub_of(request)
    entries, next_cursor = await hub.directory.page(
        me.principal.organization_id, cursor=request.query_params.get("cursor"), limit=50
    )
    return render(
        request,
        "directory/list.html",
        section="directory",
        entries=entries,
        connections={e.plugin.id: hub.presence.connections(e.plugin.id) for e in entries},
        next_cursor=next_cursor,
        type_labels=hub_of(request).job_types.labels(),
    )


async def show_entry(request: Request, me: SignedIn) -> Response:
    hub = hub_of(request)
    entry = await hub.directory.entry(me.principal.organization_id, _plugin_id(request))
    return render(
        request,
        "directory/detail.html",
        section="directory",
        entry=entry,
        connections=hub.presence.connections(entry.plugin.id),
        type_labels=hub_of(request).job_types.labels(),
    )


async def install(request: Request, me: SignedIn) -> Response:
    entry = await hub_of(request).directory.install(me.principal, _plugin_id(request))
    return redirect(f"/directory/{entry.plugin.id}")


async def uninstall(request: Request, me: SignedIn) -> Response:
    await hub_of(request).directory.uninstall(me.principal.organization_id, _plugin_id(request))
    return redirect("/directory")


async def clone(request: Request, me: SignedIn) -> Response:
    plugin, secret = await hub_of(request).directory.clone(
        me.principal.organization_id, _plugin_id(request)
    )
    return secret_page(request, plugin, secret, created=True)


async def _set_pin(request: Request, me: SignedIn) -> str:
    """Apply the pin form; the plugin's id."""
    plugin_id = _plugin_id(request)
    form = await request.form()
    await hub_of(request).plugins.set_pin(
        me.principal.organization_id, plugin_id, form_text(form, "version") or None
    )
    return plugin_id


async def pin_installed(request: Request, me: SignedIn) -> Response:
    return redirect(f"/directory/{await _set_pin(request, me)}")


async def pin_own(request: Request, me: SignedIn) -> Response:
    # The plugin page's form: for the owner only, like everything else on that page.
    await hub_of(request).plugins.get(me.principal.organization_id, _plugin_id(request))
    return redirect(f"/plugins/{await _set_pin(request, me)}")


def _plugin_id(request: Request) -> str:
    return str(request.path_params["plugin_id"])


routes = [
    page("/directory", list_directory),
    page("/directory/{plugin_id}", show_entry),
    page("/directory/{plugin_id}/install", install, methods=("POST",)),
    page("/directory/{plugin_id}/uninstall", uninstall, methods=("POST",)),
    page("/directory/{plugin_id}/clone", clone, methods=("POST",)),
    page("/directory/{plugin_id}/pin", pin_installed, methods=("POST",)),
    page("/plugins/{plugin_id}/pin", pin_own, methods=("POST",)),
]
