"""/api/v1/projects/{id}/stages: plugin stages."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api.common import caller
from hub.db.workspace_tables import PluginStage
from hub.http.bodies import json_body
from hub.http.context import hub_of
from hub.http.responses import JSONResponse
from hub.services.workflow import StageBinding


def binding_view(binding: PluginStage) -> dict[str, Any]:
    return {
        "stage": binding.stage,
        "plugin_id": binding.plugin_id,
        "next_stage": binding.next_stage,
        "config": binding.config,
        "class_mapping": binding.class_mapping,
        "overwrite": binding.overwrite,
    }


async def list_bindings(request: Request) -> Response:
    principal = await caller(request)
    bindings = await hub_of(request).workflow.bindings(principal, request.path_params["project_id"])
    return JSONResponse({"items": [binding_view(b) for b in bindings], "next": None})


async def bind_stage(request: Request) -> Response:
    principal = await caller(request)
    spec = await json_body(request, StageBinding)
    binding = await hub_of(request).workflow.bind(
        principal, request.path_params["project_id"], request.path_params["stage"], spec
    )
    return JSONResponse(binding_view(binding))


async def unbind_stage(request: Request) -> Response:
    principal = await caller(request)
    await hub_of(request).workflow.unbind(
        principal, request.path_params["project_id"], request.path_params["stage"]
    )
    return Response(status_code=204)


async def rerun_stage(request: Request) -> Response:
    principal = await caller(request)
    queued = await hub_of(request).workflow.rerun(
        principal, request.path_params["project_id"], request.path_params["stage"]
    )
    return JSONResponse({"queued": queued}, status_code=202)


routes = [
    Route("/projects/{project_id}/stages", list_bindings, methods=["GET"]),
    Route("/projects/{project_id}/stages/{stage}/plugin", bind_stage, methods=["PUT"]),
    Route("/projects/{project_id}/stages/{stage}/plugin", unbind_stage, methods=["DELETE"]),
    Route("/projects/{project_id}/stages/{stage}/rerun", rerun_stage, methods=["POST"]),
]
