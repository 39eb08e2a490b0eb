"""Drawing the run form: what a plugin's type needs the user to choose from (projects, the
project's tasks, categories, stages and batches, saved presets) around the form's values."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from ango_plugins_sdk.protocol import JobType
from hub.db import Plugin
from hub.db.paging import MAX_PAGE_SIZE
from hub.http.context import hub_of
from hub.runtime import Hub
from hub.services.accounts import Principal
from hub.services.sessions import SignedIn
from hub.web.pages import render
from hub.web.run_forms import RunValues, default_mapping
from hub.workspace.views import ProjectDetails, TaskView

RELOADS_ON_PROJECT = frozenset({JobType.EXPORT, JobType.MODEL, JobType.BATCH_MODEL})
"""Types whose form changes with the project (its tasks, categories, stages, batches)."""


def run_url(plugin_id: str, **query: str) -> str:
    params = urlencode({key: value for key, value in query.items() if value})
    return f"/plugins/{plugin_id}/run" + (f"?{params}" if params else "")


async def render_run_form(
    request: Request,
    me: SignedIn,
    plugin: Plugin,
    values: RunValues,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    hub = hub_of(request)
    principal = me.principal
    job_type = JobType(plugin.type)
    kind = hub.job_types[job_type]
    presets = await hub.presets.list_presets(principal, plugin.id)
    projects, _ = await hub.workspace.projects.page(principal, limit=MAX_PAGE_SIZE)
    values = dataclasses.replace(values)  # the caller's stay as posted
    if job_type == JobType.MODEL and values.task_id and not values.project_id:
        values.project_id = (await hub.workspace.tasks.get(principal, values.task_id)).project_id
    if not values.project_id and projects and (kind.needs_project or job_type == JobType.MODEL):
        values.project_id = projects[0].id
    project = (
        await hub.workspace.projects.get(principal, values.project_id)
        if values.project_id
        else None
    )
    values.loaded_project_id = project.id if project else ""
    project_options = [(p.id, p.name) for p in projects]
    if project is not None and project.id not in {p.id for p in projects}:
        project_options.insert(0, (project.id, project.name))
    tasks = (
        await _task_options(hub, principal, project, values.task_id)
        if job_type == JobType.MODEL and project is not None
        else []
    )
    csv_file = (
        await hub.files.get(principal.organization_id, values.csv_file_id)
        if values.csv_file_id
        else None
    )
    return render(
        request,
        "run/form.html",
        status_code=status_code,
        section="plugins",
        plugin=plugin,
        job_type=job_type.value,
        type_label=kind.label,
        is_live=bool(hub.presence.connections(plugin.id)),
        submit_label=kind.action,
        needs_project=kind.needs_project,
        reloads_on_project=job_type in RELOADS_ON_PROJECT,
        values=values,
        error=error,
        presets=presets,
        preset_configs={p.name: p.config for p in presets},
        projects=project_options,
        project=project,
        tasks=tasks,
        mapping=_effective_mapping(plugin, project, values),
        csv_file=csv_file,
    )


async def _task_options(
    hub: Hub, principal: Principal, project: ProjectDetails, task_id: str
) -> list[tuple[str, str]]:
    """The first page of the project's tasks, plus the asked-for task if it is further on."""
    tasks, _ = await hub.workspace.tasks.page(principal, project.id, limit=MAX_PAGE_SIZE)
    if task_id and task_id not in {t.id for t in tasks}:
        task = await hub.workspace.tasks.get(principal, task_id)
        if task.project_id == project.id:
            tasks.insert(0, task)
    return [(task.id, _task_label(task)) for task in tasks]


def _task_label(task: TaskView) -> str:
    asset = task.asset
    filename: Any = asset.metadata.get("filename")
    name = asset.external_id or (filename if isinstance(filename, str) else None)
    return f"{name or task.id} · {task.stage}"


def _effective_mapping(
    plugin: Plugin, project: ProjectDetails | None, values: RunValues
) -> dict[str, str]:
    if values.class_mapping is not None:
        return values.class_mapping
    if project is None:
        return {}
    return default_mapping(plugin.class_names, [(c.id, c.name) for c in project.categories])
