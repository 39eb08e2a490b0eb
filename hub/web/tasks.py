"""One task: its asset with the annotations drawn over it, and forms to move it to another
stage, change its batches and edit its annotations."""

from __future__ import annotations

import json

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ango_plugins_sdk.protocol import JobType
from ango_plugins_sdk.protocol.workspace import AnnotationSet
from hub.http.context import hub_of
from hub.http.errors import error_message, form_error_status
from hub.services.errors import Invalid
from hub.services.sessions import SignedIn
from hub.web.pages import form_text, page, redirect, render
from hub.web.project_assets import image_src

POINT_RADIUS_SHARE = 1 / 120
"""A point is drawn as a dot this share of the image's longer side, so it shows at any size."""


async def _task_page(
    request: Request,
    me: SignedIn,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    hub = hub_of(request)
    task = await hub.workspace.tasks.get(me.principal, request.path_params["task_id"])
    project = await hub.workspace.projects.info(me.principal.organization_id, task.project_id)
    plugins = await hub.plugins.usable_plugins(me.principal.organization_id)
    annotations = task.annotations or AnnotationSet()
    width, height = task.asset.width, task.asset.height
    return render(
        request,
        "projects/task.html",
        status_code=status_code,
        section="projects",
        task=task,
        project=project,
        categories={c.id: c for c in project.categories},
        plugin_names={p.id: p.name for p in plugins},
        model_plugins=[p for p in plugins if p.type == JobType.MODEL],
        annotations=annotations,
        src=image_src(task.asset),
        point_radius=max(width, height) * POINT_RADIUS_SHARE if width and height else None,
        point_share=POINT_RADIUS_SHARE,
        values={
            "batches": "\n".join(task.batches),
            "annotations": json.dumps(
                annotations.model_dump(mode="json", exclude_none=True), indent=2
            ),
            **(values or {}),
        },
        editing_annotations="annotations" in (values or {}),
        error=error,
    )


async def show_task(request: Request, me: SignedIn) -> Response:
    return await _task_page(request, me)


async def move_task(request: Request, me: SignedIn) -> Response:
    """Entering a plugin stage queues the stage's job; the page then links to it."""
    task_id = request.path_params["task_id"]
    stage = form_text(await request.form(), "stage")
    try:
        await hub_of(request).workflow.move_task(me.principal, task_id, stage=stage, batches=None)
    except Invalid as exc:  # a gone task or stage plugin stays a NotFound: the 404 page
        return await _task_page(request, me, error=exc.message, status_code=form_error_status(exc))
    return redirect(f"/tasks/{task_id}")


async def set_batches(request: Request, me: SignedIn) -> Response:
    task_id = request.path_params["task_id"]
    text = form_text(await request.form(), "batches")
    batches = [line.strip() for line in text.splitlines() if line.strip()]
    try:
        await hub_of(request).workspace.tasks.update(me.principal, task_id, batches=batches)
    except Invalid as exc:
        return await _task_page(
            request,
            me,
            values={"batches": text},
            error=exc.message,
            status_code=form_error_status(exc),
        )
    return redirect(f"/tasks/{task_id}")


async def set_annotations(request: Request, me: SignedIn) -> Response:
    task_id = request.path_params["task_id"]
    text = form_text(await request.form(), "annotations")
    try:
        annotations = AnnotationSet.model_validate_json(text or "{}")
        await hub_of(request).workspace.tasks.set_annotations(me.principal, task_id, annotations)
    except (Invalid, ValidationError) as exc:
        return await _task_page(
            request,
            me,
            values={"annotations": text},
            error=error_message(exc),
            status_code=form_error_status(exc),
        )
    return redirect(f"/tasks/{task_id}")


routes = [
    page("/tasks/{task_id}", show_task),
    page("/tasks/{task_id}/stage", move_task, methods=("POST",)),
    page("/tasks/{task_id}/batches", set_batches, methods=("POST",)),
    page("/tasks/{task_id}/annotations", set_annotations, methods=("POST",)),
]
