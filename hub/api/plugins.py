"""/api/v1/plugins"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ango_plugins_sdk.manifest import Manifest, ManifestError
from hub.api.common import caller, page_args
from hub.db import Plugin
from hub.http.bodies import json_body
from hub.http.context import hub_of
from hub.http.responses import JSONResponse
from hub.http.views import connection_view
from hub.services.errors import Invalid
from hub.services.manifests import pushed_view
from hub.services.plugins import PluginCreate, PluginUpdate


def plugin_view(request: Request, plugin: Plugin) -> dict[str, Any]:
    connections = hub_of(request).presence.connections(plugin.id)
    return {
        "id": plugin.id,
        "organization_id": plugin.organization_id,
        "name": plugin.name,
        "type": plugin.type,
        "description": plugin.description,
        "details": plugin.details,
        "banner_url": plugin.banner_url,
        "class_names": plugin.class_names,
        "public": plugin.public,
        "listed": plugin.listed,
        "default_config": plugin.default_config,
        "config_schema": plugin.config_schema,
        "job_timeout_s": plugin.job_timeout_s,
        "version": plugin.version,
        "manifest_key": plugin.manifest_key,
        "created_at": plugin.created_at.isoformat(),
        "updated_at": plugin.updated_at.isoformat(),
        "secret_rotated_at": plugin.secret_rotated_at.isoformat(),
        "live": bool(connections),
        "connections": [connection_view(c) for c in connections],
    }


async def create_plugin(request: Request) -> Response:
    principal = await caller(request)
    spec = await json_body(request, PluginCreate)
    plugin, secret = await hub_of(request).plugins.create(principal.organization_id, spec)
    return JSONResponse({**plugin_view(request, plugin), "secret": secret}, status_code=201)


async def list_plugins(request: Request) -> Response:
    principal = await caller(request)
    cursor, limit = page_args(request)
    plugins, next_cursor = await hub_of(request).plugins.page(
        principal.organization_id, cursor=cursor, limit=limit
    )
    return JSONResponse({"items": [plugin_view(request, p) for p in plugins], "next": next_cursor})


async def get_plugin(request: Request) -> Response:
    principal = await caller(request)
    plugin = await hub_of(request).plugins.get(
        principal.organization_id, request.path_params["plugin_id"]
    )
    return JSONResponse(plugin_view(request, plugin))


async def update_plugin(request: Request) -> Response:
    principal = await caller(request)
    change = await json_body(request, PluginUpdate)
    plugin = await hub_of(request).plugins.update(
        principal.organization_id, request.path_params["plugin_id"], change
    )
    return JSONResponse(plugin_view(request, plugin))


async def delete_plugin(request: Request) -> Response:
    principal = await caller(request)
    await hub_of(request).plugins.delete(
        principal.organization_id, request.path_params["plugin_id"]
    )
    return Response(status_code=204)


async def rotate_secret(request: Request) -> Response:
    principal = await caller(request)
    plugin, secret = await hub_of(request).plugins.rotate_secret(
        principal.organization_id, request.path_params["plugin_id"]
    )
    return JSONResponse({"id": plugin.id, "secret": secret})


async def push_plugin(request: Request) -> Response:
    """Create or update the organization's plugin with this manifest key (idempotent)."""
    principal = await caller(request)
    manifest = await json_body(request, Manifest)
    if manifest.key != request.path_params["key"]:
        raise Invalid(f"the manifest's key is {manifest.key!r}, the URL's is not")
    rotate = request.query_params.get("rotate", "").lower() in ("1", "true", "yes")
    try:
        pushed = await hub_of(request).manifests.push(
            principal.organization_id, manifest, rotate=rotate
        )
    except ManifestError as exc:
        raise Invalid(str(exc)) from None
    return JSONResponse(pushed_view(pushed), status_code=201 if pushed.created else 200)


routes = [
    Route("/plugins", create_plugin, methods=["POST"]),
    Route("/plugins", list_plugins, methods=["GET"]),
    Route("/plugins/{plugin_id}", get_plugin, methods=["GET"]),
    Route("/plugins/{plugin_id}", update_plugin, methods=["PATCH"]),
    Route("/plugins/{plugin_id}", delete_plugin, methods=["DELETE"]),
    Route("/plugins/{plugin_id}/secret", rotate_secret, methods=["POST"]),
    Route("/plugins/by-key/{key}", push_plugin, methods=["PUT"]),
]
