"""Plugins in development: list with live lights, create, edit, secrets, delete."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from ango_plugins_sdk.protocol import JobType
from hub.db import Plugin
from hub.http.context import hub_of
from hub.http.errors import FORM_ERRORS, error_message, form_error_status
from hub.services.errors import Invalid, NotFound
from hub.services.plugins import PluginCreate, PluginUpdate
from hub.services.sessions import SignedIn
from hub.web.pages import form_text, page, redirect, render, render_once


def json_field(form: FormData, name: str, *, required: bool) -> Any:
    """A JSON object from a textarea; empty means {} (or None when not required)."""
    text = form_text(form, name)
    if not text:
        return {} if required else None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise Invalid(f"{name.replace('_', ' ')} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise Invalid(f"{name.replace('_', ' ')} must be a JSON object")
    return value


def _fields(form: FormData) -> dict[str, Any]:
    """The plugin fields as the form sends them (every one, checkboxes included)."""
    timeout = form_text(form, "job_timeout_s")
    try:
        job_timeout_s = float(timeout) if timeout else None
    except ValueError:
        raise Invalid("job timeout must be a number of seconds") from None
    return {
        "name": form_text(form, "name"),
        "description": form_text(form, "description"),
        "details": form_text(form, "details"),
        "banner_url": form_text(form, "banner_url"),
        "class_names": [
            line.strip() for line in form_text(form, "class_names").splitlines() if line.strip()
        ],
        "public": form.get("public") == "on",
        "listed": form.get("listed") == "on",
        "default_config": json_field(form, "default_config", required=True),
        "config_schema": json_field(form, "config_schema", required=False),
        "job_timeout_s": job_timeout_s,
    }


def _form_values(plugin: Plugin | None, form: FormData | None) -> dict[str, Any]:
    """What the form's inputs show: the posted text after an error, else the plugin's."""
    if form is not None:
        return {key: form_text(form, key) for key in form} | {
            "public": form.get("public") == "on",
            "listed": form.get("listed") == "on",
        }
    if plugin is None:
        return {"default_config": "{}", "type": JobType.CUSTOM.value}
    return {
        "name": plugin.name,
        "type": plugin.type,
        "description": plugin.description,
        "details": plugin.details,
        "banner_url": plugin.banner_url,
        "class_names": "\n".join(plugin.class_names),
        "public": plugin.public,
        "listed": plugin.listed,
        "default_config": json.dumps(plugin.default_config, indent=2),
        "config_schema": json.dumps(plugin.config_schema, indent=2) if plugin.config_schema else "",
        "job_timeout_s": "" if plugin.job_timeout_s is None else f"{plugin.job_timeout_s:g}",
    }


async def list_plugins(request: Request, me: SignedIn) -> Response:
    hub = hub_of(request)
    plugins, next_cursor = await hub.plugins.page(
        me.principal.organization_id, cursor=request.query_params.get("cursor"), limit=50
    )
    live = hub.presence.live_plugin_ids()
    return render(
        request,
        "plugins/list.html",
        section="plugins",
        plugins=plugins,
        live=live,
        next_cursor=next_cursor,
        type_labels=hub_of(request).job_types.labels(),
    )


def _form_page(
    request: Request,
    *,
    plugin: Plugin | None,
    form: FormData | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "plugins/form.html",
        status_code=status_code,
        section="plugins",
        plugin=plugin,
        values=_form_values(plugin, form),
        error=error,
        type_labels=hub_of(request).job_types.labels(),
    )


async def new_plugin(request: Request, _me: SignedIn) -> Response:
    return _form_page(request, plugin=None)


async def create_plugin(request: Request, me: SignedIn) -> Response:
    form = await request.form()
    try:
        spec = PluginCreate.model_validate({**_fields(form), "type": form_text(form, "type")})
        plugin, secret = await hub_of(request).plugins.create(me.principal.organization_id, spec)
    except FORM_ERRORS as exc:
        return _form_page(
            request,
            plugin=None,
            form=form,
            error=error_message(exc),
            status_code=form_error_status(exc),
        )
    return secret_page(request, plugin, secret, created=True)


def secret_page(request: Request, plugin: Plugin, secret: str, *, created: bool) -> Response:
    return render_once(
        request,
        "plugins/secret.html",
        section="plugins",
        plugin=plugin,
        secret=secret,
        created=created,
        hub_url=str(request.base_url).rstrip("/"),
    )


async def show_plugin(request: Request, me: SignedIn) -> Response:
    hub = hub_of(request)
    plugin_id = request.path_params["plugin_id"]
    try:
        plugin = await hub.plugins.get(me.principal.organization_id, plugin_id)
    except NotFound:
        # An installed plugin is another organization's: its page is the directory's.
        await hub.plugins.usable(me.principal.organization_id, plugin_id)
        return redirect(f"/directory/{plugin_id}")
    jobs, _ = await hub.job_service.page(
        me.principal, plugin_id=plugin.id, status=None, cursor=None, limit=10
    )
    return render(
        request,
        "plugins/detail.html",
        section="plugins",
        plugin=plugin,
        connections=hub.presence.connections(plugin.id),
        jobs=jobs,
        presets=await hub.presets.list_presets(me.principal, plugin.id),
        type_labels=hub_of(request).job_types.labels(),
    )


async def edit_plugin(request: Request, me: SignedIn) -> Response:
    plugin = await hub_of(request).plugins.get(
        me.principal.organization_id, request.path_params["plugin_id"]
    )
    return _form_page(request, plugin=plugin)


async def update_plugin(request: Request, me: SignedIn) -> Response:
    hub = hub_of(request)
    plugin_id = request.path_params["plugin_id"]
    plugin = await hub.plugins.get(me.principal.organization_id, plugin_id)
    form = await request.form()
    try:
        change = PluginUpdate.model_validate(_fields(form))
        await hub.plugins.update(me.principal.organization_id, plugin_id, change)
    except FORM_ERRORS as exc:
        return _form_page(
            request,
            plugin=plugin,
            form=form,
            error=error_message(exc),
            status_code=form_error_status(exc),
        )
    return redirect(f"/plugins/{plugin_id}")


async def rotate_secret(request: Request, me: SignedIn) -> Response:
    plugin, secret = await hub_of(request).plugins.rotate_secret(
        me.principal.organization_id, request.path_params["plugin_id"]
    )
    return secret_page(request, plugin, secret, created=False)


async def delete_plugin(request: Request, me: SignedIn) -> Response:
    await hub_of(request).plugins.delete(
        me.principal.organization_id, request.path_params["plugin_id"]
    )
    return redirect("/plugins")


routes = [
    page("/plugins", list_plugins),
    page("/plugins/new", new_plugin),
    page("/plugins", create_plugin, methods=("POST",)),
    page("/plugins/{plugin_id}", show_plugin),
    page("/plugins/{plugin_id}/edit", edit_plugin),
    page("/plugins/{plugin_id}/edit", update_plugin, methods=("POST",)),
    page("/plugins/{plugin_id}/rotate-secret", rotate_secret, methods=("POST",)),
    page("/plugins/{plugin_id}/delete", delete_plugin, methods=("POST",)),
]
