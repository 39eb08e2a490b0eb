"""Plugin stages: bind a project's stage to a model plugin, change or remove the binding,
and re-run a stage after fixing what made its jobs fail."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from ango_plugins_sdk.protocol import JobType
from hub.db.workspace_tables import DEFAULT_STAGES, PluginStage
from hub.http.context import hub_of
from hub.http.errors import FORM_ERRORS, error_message
from hub.services.errors import Invalid
from hub.services.sessions import SignedIn
from hub.services.workflow import StageBinding
from hub.web.pages import form_text, page, redirect, render
from hub.web.plugins import json_field
from hub.workspace.views import ProjectDetails


def _class_mapping(text: str, project: ProjectDetails) -> dict[str, str]:
    """`model class = category name` lines, as model class → category id."""
    by_name = {c.name: c.id for c in project.categories}
    mapping: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        model_class, separator, category = (part.strip() for part in line.partition("="))
        if not separator or not model_class or not category:
            raise Invalid(f"class mapping line {number}: write it as 'model class = category'")
        if category not in by_name:
            raise Invalid(
                f"class mapping line {number}: no category {category!r} in this project "
                f"(it has {', '.join(by_name) or 'none'})"
            )
        mapping[model_class] = by_name[category]
    return mapping


def _mapping_text(binding: PluginStage, project: ProjectDetails) -> str:
    names = {c.id: c.name for c in project.categories}
    return "\n".join(
        f"{model_class} = {names.get(category_id, category_id)}"
        for model_class, category_id in binding.class_mapping.items()
    )


def _form_values(
    form: FormData | None, binding: PluginStage | None, project: ProjectDetails
) -> dict[str, Any]:
    """The bind form's inputs: as posted after an error, else the binding being edited."""
    if form is not None:
        return {key: form_text(form, key) for key in form} | {
            "overwrite": form.get("overwrite") == "on"
        }
    if binding is None:
        # Most likely wanted: the project's first own stage, moving on to the stage after it.
        stages = project.stages
        first = stages.index(next((s for s in stages if s not in DEFAULT_STAGES), stages[0]))
        return {
            "stage": stages[first],
            "next_stage": stages[(first + 1) % len(stages)],
            "overwrite": True,
        }
    return {
        "stage": binding.stage,
        "plugin_id": binding.plugin_id,
        "next_stage": binding.next_stage,
        "class_mapping": _mapping_text(binding, project),
        "config": json.dumps(binding.config, indent=2),
        "overwrite": binding.overwrite,
    }


async def _stages_page(
    request: Request,
    me: SignedIn,
    *,
    form: FormData | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    hub = hub_of(request)
    project = await hub.workspace.projects.get(me.principal, request.path_params["project_id"])
    bindings = await hub.workflow.bindings(me.principal, project.id)
    editing = next((b for b in bindings if b.stage == request.query_params.get("stage")), None)
    plugins = await hub.plugins.usable_plugins(me.principal.organization_id)
    try:
        queued = int(request.query_params.get("queued", ""))
    except ValueError:
        queued = None
    return render(
        request,
        "projects/stages.html",
        status_code=status_code,
        section="projects",
        project=project,
        bindings=bindings,
        model_plugins=[p for p in plugins if p.type == JobType.MODEL],
        plugin_names={p.id: p.name for p in plugins},
        category_names={c.id: c.name for c in project.categories},
        values=_form_values(form, editing, project),
        error=error,
        queued=queued,
        rerun_stage=request.query_params.get("rerun", ""),
    )


async def show_stages(request: Request, me: SignedIn) -> Response:
    return await _stages_page(request, me)


async def bind_stage(request: Request, me: SignedIn) -> Response:
    hub = hub_of(request)
    project = await hub.workspace.projects.get(me.principal, request.path_params["project_id"])
    form = await request.form()
    try:
        spec = StageBinding.model_validate(
            {
                "plugin_id": form_text(form, "plugin_id"),
                "next_stage": form_text(form, "next_stage"),
                "config": json_field(form, "config", required=False),
                "class_mapping": _class_mapping(form_text(form, "class_mapping"), project),
                "overwrite": form.get("overwrite") == "on",
            }
        )
        await hub.workflow.bind(me.principal, project.id, form_text(form, "stage"), spec)
    except FORM_ERRORS as exc:
        # 422 even for a chosen plugin that is gone (a NotFound): the page has always
        # answered a refused binding so, unlike `form_error_status`.
        return await _stages_page(request, me, form=form, error=error_message(exc), status_code=422)
    return redirect(f"/projects/{project.id}/stages")


async def unbind_stage(request: Request, me: SignedIn) -> Response:
    project_id = request.path_params["project_id"]
    form = await request.form()
    await hub_of(request).workflow.unbind(me.principal, project_id, form_text(form, "stage"))
    return redirect(f"/projects/{project_id}/stages")


async def rerun_stage(request: Request, me: SignedIn) -> Response:
    project_id = request.path_params["project_id"]
    stage = form_text(await request.form(), "stage")
    queued = await hub_of(request).workflow.rerun(me.principal, project_id, stage)
    notice = urlencode({"queued": queued, "rerun": stage})
    return redirect(f"/projects/{project_id}/stages?{notice}")


routes = [
    page("/projects/{project_id}/stages", show_stages),
    page("/projects/{project_id}/stages", bind_stage, methods=("POST",)),
    page("/projects/{project_id}/stages/unbind", unbind_stage, methods=("POST",)),
    page("/projects/{project_id}/stages/rerun", rerun_stage, methods=("POST",)),
]
