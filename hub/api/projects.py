"""/api/v1/projects, /api/v1/tasks, /api/v1/assets: the workspace.

Image uploads are `multipart/form-data`, parsed by Starlette's `request.form()`: each file
part is spooled to a temporary file (in memory up to 1 MB, then on disk), and the hub then
streams it from there into storage in chunks, so no upload is ever held whole in memory.
Request bodies are capped (413) whether or not the client declares their length.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ango_plugins_sdk.protocol.workspace import AnnotationSet
from hub.api.common import caller, page_args
from hub.http.bodies import (
    MAX_FILES_PER_UPLOAD,
    MAX_UPLOAD_BYTES,
    capped_request,
    json_body,
    upload_chunks,
)
from hub.http.context import hub_of
from hub.http.downloads import asset_file_response, export_response
from hub.http.responses import JSONResponse
from hub.services.accounts import Principal
from hub.services.errors import Invalid
from hub.services.rendering import render_markdown
from hub.workspace.assets import MAX_IMAGE_BYTES
from hub.workspace.requests import MAX_JSON_ASSETS_BYTES, AssetsCreate, ProjectCreate, TaskUpdate
from hub.workspace.views import ProjectDetails, ProjectSummary, TaskView

_UPLOAD_FIELDS = {"file", "external_id", "batch"}


def project_view(project: ProjectDetails) -> dict[str, Any]:
    return {
        **project_summary(project),
        "categories": [c.model_dump(mode="json") for c in project.categories],
        "batches": project.batches,
        "task_count": project.task_count,
    }


def project_summary(project: ProjectSummary | ProjectDetails) -> dict[str, Any]:
    return {
        "id": project.id,
        "organization_id": project.organization_id,
        "name": project.name,
        "description": project.description,
        "stages": project.stages,
        "created_at": project.created_at.isoformat(),
    }


def task_view(task: TaskView) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": task.id,
        "project_id": task.project_id,
        "stage": task.stage,
        "batches": task.batches,
        "asset": task.asset.model_dump(mode="json"),
        "created_at": task.created_at.isoformat(),
        "updated_at": task.updated_at.isoformat(),
        "stage_job_id": task.stage_job_id,
    }
    if task.annotations is not None:
        view["annotations"] = task.annotations.model_dump(mode="json", exclude_none=True)
    if task.asset.markdown is not None:
        # Markdown is stored as the text it was given; this is the only form safe to show.
        view["asset"]["html"] = render_markdown(task.asset.markdown)
    return view


# --- projects ------------------------------------------------------------------------------


async def create_project(request: Request) -> Response:
    principal = await caller(request)
    spec = await json_body(request, ProjectCreate)
    project = await hub_of(request).workspace.projects.create(principal, spec)
    return JSONResponse(project_view(project), status_code=201)


async def list_projects(request: Request) -> Response:
    principal = await caller(request)
    cursor, limit = page_args(request)
    projects, next_cursor = await hub_of(request).workspace.projects.page(
        principal, cursor=cursor, limit=limit
    )
    return JSONResponse({"items": [project_summary(p) for p in projects], "next": next_cursor})


async def get_project(request: Request) -> Response:
    principal = await caller(request)
    project = await hub_of(request).workspace.projects.get(
        principal, request.path_params["project_id"]
    )
    return JSONResponse(project_view(project))


# --- assets --------------------------------------------------------------------------------


async def create_assets(request: Request) -> Response:
    """JSON `{"assets": [...], "dedupe": bool}`, or multipart `file` parts (image uploads)."""
    principal = await caller(request)
    project_id = request.path_params["project_id"]
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await _upload_images(request, principal, project_id)
    spec = await json_body(request, AssetsCreate, max_bytes=MAX_JSON_ASSETS_BYTES)
    created, skipped = await hub_of(request).workspace.assets.create_many(
        principal.organization_id, project_id, spec.assets, dedupe=spec.dedupe
    )
    return JSONResponse({"created": created, "skipped": skipped}, status_code=201)


async def _upload_images(request: Request, principal: Principal, project_id: str) -> Response:
    """Form fields: one or more `file` parts; `external_id` (none, or one per file, in the
    files' order); `batch` (at most one, for every file)."""
    assets = hub_of(request).workspace.assets
    capped = capped_request(request, MAX_UPLOAD_BYTES)
    async with capped.form(
        max_files=MAX_FILES_PER_UPLOAD, max_fields=2 * MAX_FILES_PER_UPLOAD, max_part_size=64 * 1024
    ) as form:
        unknown = sorted(set(form.keys()) - _UPLOAD_FIELDS)
        if unknown:
            raise Invalid(
                f"unknown form field(s) {', '.join(unknown)}; expected file, external_id, batch"
            )
        files = form.getlist("file")
        external_ids = form.getlist("external_id")
        batches = form.getlist("batch")
        if not files:
            raise Invalid("send one or more images as 'file' parts")
        uploads: list[UploadFile] = []
        for index, part in enumerate(files):
            name = f"file[{index}]"
            if not isinstance(part, UploadFile):
                raise Invalid(f"{name} must be a file part (with a filename)")
            if part.filename:
                name += f" ({part.filename})"
            if part.size is not None and part.size > MAX_IMAGE_BYTES:
                raise Invalid(f"{name} is too large; the limit is {MAX_IMAGE_BYTES} bytes")
            if part.size == 0:
                raise Invalid(f"{name} is empty")
            uploads.append(part)
        if any(not isinstance(v, str) for v in [*external_ids, *batches]):
            raise Invalid("external_id and batch must be plain form fields, not files")
        if external_ids and len(external_ids) != len(uploads):
            raise Invalid(
                f"give no external_id or one per file: got {len(external_ids)} "
                f"for {len(uploads)} file(s)"
            )
        if len(batches) > 1:
            raise Invalid("give at most one batch; it applies to every file")
        batch = str(batches[0]) if batches else None
        items = []
        for index, upload in enumerate(uploads):
            uploaded = await assets.upload_image(
                principal.organization_id,
                project_id,
                upload.filename,
                upload_chunks(upload),
                external_id=str(external_ids[index]) if external_ids else None,
                batch=batch,
            )
            items.append({"task_id": uploaded.task_id, **uploaded.asset.model_dump(mode="json")})
    return JSONResponse(
        {"created": len(items), "skipped": 0, "items": items, "next": None}, status_code=201
    )


async def asset_file(request: Request) -> Response:
    """An uploaded image's bytes; 404 for an image by URL (fetch its URL) or markdown."""
    principal = await caller(request)
    stored = await hub_of(request).workspace.assets.file(
        principal.organization_id, request.path_params["asset_id"]
    )
    return asset_file_response(stored)


# --- tasks ---------------------------------------------------------------------------------


async def list_tasks(request: Request) -> Response:
    principal = await caller(request)
    _only_params(request, {"stage", "batch", "cursor", "limit"})
    cursor, limit = page_args(request)
    tasks, next_cursor = await hub_of(request).workspace.tasks.page(
        principal,
        request.path_params["project_id"],
        stage=_single_param(request, "stage"),
        batch=_single_param(request, "batch"),
        cursor=cursor,
        limit=limit,
    )
    return JSONResponse({"items": [task_view(t) for t in tasks], "next": next_cursor})


async def get_task(request: Request) -> Response:
    principal = await caller(request)
    task = await hub_of(request).workspace.tasks.get(principal, request.path_params["task_id"])
    return JSONResponse(task_view(task))


async def put_annotations(request: Request) -> Response:
    principal = await caller(request)
    annotations = await json_body(request, AnnotationSet)
    task = await hub_of(request).workspace.tasks.set_annotations(
        principal, request.path_params["task_id"], annotations
    )
    return JSONResponse(task_view(task))


async def update_task(request: Request) -> Response:
    principal = await caller(request)
    change = await json_body(request, TaskUpdate)
    task = await hub_of(request).workflow.move_task(
        principal, request.path_params["task_id"], stage=change.stage, batches=change.batches
    )
    return JSONResponse(task_view(task))


# --- export --------------------------------------------------------------------------------


async def export_project(request: Request) -> Response:
    """NDJSON, one task per line, ordered by task id. `?stage=` and `?batch=` may repeat (a
    task in any of the stages and any of the batches); no filter means every task."""
    principal = await caller(request)
    _only_params(request, {"stage", "batch"})
    return await export_response(
        hub_of(request).workspace.exports,
        principal.organization_id,
        request.path_params["project_id"],
        stages=_list_param(request, "stage"),
        batches=_list_param(request, "batch"),
    )


# --- helpers -------------------------------------------------------------------------------


def _only_params(request: Request, allowed: set[str]) -> None:
    """A misspelled filter must not silently widen a query to everything."""
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        raise Invalid(
            f"unknown query parameter(s) {', '.join(unknown)}; expected "
            + ", ".join(sorted(allowed))
        )


def _list_param(request: Request, name: str) -> list[str] | None:
    values = request.query_params.getlist(name)
    if any(not v for v in values):
        raise Invalid(f"{name} must not be empty")
    return values or None


def _single_param(request: Request, name: str) -> str | None:
    values = _list_param(request, name)
    if values and len(values) > 1:
        raise Invalid(f"give at most one {name}")
    return values[0] if values else None


routes = [
    Route("/projects", create_project, methods=["POST"]),
    Route("/projects", list_projects, methods=["GET"]),
    Route("/projects/{project_id}", get_project, methods=["GET"]),
    Route("/projects/{project_id}/assets", create_assets, methods=["POST"]),
    Route("/projects/{project_id}/tasks", list_tasks, methods=["GET"]),
    Route("/projects/{project_id}/export", export_project, methods=["GET"]),
    Route("/tasks/{task_id}", get_task, methods=["GET"]),
    Route("/tasks/{task_id}", update_task, methods=["PATCH"]),
    Route("/tasks/{task_id}/annotations", put_annotations, methods=["PUT"]),
    Route("/assets/{asset_id}/file", asset_file, methods=["GET"]),
]
