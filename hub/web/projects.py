"""Projects: the list, a form to create one, and a project's page (its schema, stages, and a
gallery of its tasks filtered by stage and batch), with the filtered tasks' NDJSON export.

Adding assets, plugin stages and single tasks have their own modules; their routes are
collected here so the dashboard sees one list.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from ango_plugins_sdk.protocol.workspace import Tool
from hub.blobs.base import content_disposition
from hub.db.workspace_tables import DEFAULT_STAGES
from hub.http.context import hub_of
from hub.http.downloads import export_response
from hub.http.errors import FORM_ERRORS, error_message, form_error_status
from hub.services.sessions import SignedIn
from hub.web import project_assets, project_stages, tasks
from hub.web.pages import form_text, page, redirect, render
from hub.workspace.requests import ProjectCreate

TOOL_LABELS = {
    Tool.BBOX: "Box",
    Tool.POLYGON: "Polygon",
    Tool.POINT: "Point",
    Tool.CLASSIFICATION: "Classification",
}
BLANK_CATEGORY_ROWS = 3
"""Empty rows the form offers beyond those filled in (JavaScript can add more)."""
TASK_PAGE = 48


def _categories(form: FormData) -> list[dict[str, Any]]:
    """The category rows as posted: parallel name/tool/color lists; rows without a name are
    the form's spare blank rows, not mistakes."""
    rows = zip(
        form.getlist("category_name"),
        form.getlist("category_tool"),
        form.getlist("category_color"),
        strict=False,
    )
    return [
        {"name": str(name).strip(), "tool": str(tool), "color": str(color).strip() or None}
        for name, tool, color in rows
        if str(name).strip()
    ]


def _spec(form: FormData) -> dict[str, Any]:
    return {
        "name": form_text(form, "name"),
        "description": form_text(form, "description"),
        "categories": _categories(form),
        "stages": [line.strip() for line in form_text(form, "stages").splitlines() if line.strip()],
    }


def _form_page(
    request: Request,
    *,
    form: FormData | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    values = _spec(form) if form is not None else {"categories": []}
    if form is not None:
        values["stages"] = form_text(form, "stages")  # as typed, blank lines and all
    blank = {"name": "", "tool": Tool.BBOX.value, "color": None}
    return render(
        request,
        "projects/form.html",
        status_code=status_code,
        section="projects",
        values=values,
        category_rows=[*values["categories"], *[blank] * BLANK_CATEGORY_ROWS],
        error=error,
        tool_labels=TOOL_LABELS,
        default_stages=DEFAULT_STAGES,
    )


async def list_projects(request: Request, me: SignedIn) -> Response:
    projects, next_cursor = await hub_of(request).workspace.projects.page(
        me.principal, cursor=request.query_params.get("cursor") or None, limit=50
    )
    return render(
        request,
        "projects/list.html",
        section="projects",
        projects=projects,
        next_cursor=next_cursor,
    )


async def new_project(request: Request, _me: SignedIn) -> Response:
    return _form_page(request)


async def create_project(request: Request, me: SignedIn) -> Response:
    form = await request.form()
    try:
        spec = ProjectCreate.model_validate(_spec(form))
        project = await hub_of(request).workspace.projects.create(me.principal, spec)
    except FORM_ERRORS as exc:
        return _form_page(
            request, form=form, error=error_message(exc), status_code=form_error_status(exc)
        )
    return redirect(f"/projects/{project.id}")


def _filters(request: Request) -> tuple[str | None, str | None]:
    """The gallery's stage and batch filters (an empty select means any)."""
    return (
        request.query_params.get("stage") or None,
        request.query_params.get("batch") or None,
    )


async def show_project(request: Request, me: SignedIn) -> Response:
    hub = hub_of(request)
    project = await hub.workspace.projects.get(me.principal, request.path_params["project_id"])
    stage, batch = _filters(request)
    page_of_tasks, next_cursor = await hub.workspace.tasks.page(
        me.principal,
        project.id,
        stage=stage,
        batch=batch,
        cursor=request.query_params.get("cursor") or None,
        limit=TASK_PAGE,
    )
    stage_counts = await hub.workspace.tasks.stage_counts(project.organization_id, project.id)
    bindings = {b.stage: b for b in await hub.workflow.bindings(me.principal, project.id)}
    plugins = await hub.plugins.usable_plugins(me.principal.organization_id)
    try:
        added = int(request.query_params.get("added", ""))
    except ValueError:
        added = None
    return render(
        request,
        "projects/detail.html",
        section="projects",
        project=project,
        tasks=page_of_tasks,
        next_cursor=next_cursor,
        stage=stage or "",
        batch=batch or "",
        stage_counts=stage_counts,
        bindings=bindings,
        plugins=plugins,
        added=added,
        image_src=project_assets.image_src,
        tool_labels=TOOL_LABELS,
    )


async def export_project(request: Request, me: SignedIn) -> Response:
    """The gallery's tasks (same filters) as the NDJSON export, downloaded as a file."""
    workspace = hub_of(request).workspace
    organization_id = me.principal.organization_id
    project = await workspace.projects.info(organization_id, request.path_params["project_id"])
    stage, batch = _filters(request)
    response = await export_response(
        workspace.exports,
        organization_id,
        project.id,
        stages=[stage] if stage else None,
        batches=[batch] if batch else None,
    )
    response.headers["Content-Disposition"] = content_disposition(f"{project.name}.ndjson")
    return response


routes = [
    page("/projects", list_projects),
    page("/projects/new", new_project),
    page("/projects", create_project, methods=("POST",)),
    page("/projects/{project_id}", show_project),
    page("/projects/{project_id}/export", export_project),
    *project_assets.routes,
    *project_stages.routes,
    *tasks.routes,
]
