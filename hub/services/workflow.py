"""Plugin stages: a stage bound to a model plugin pre-labels every task that enters it.

Entering the stage queues a model job for the task; when the job succeeds, its pre-labels
and the move to the stage's next stage are written in the same transaction as the job's
success (see hub/job_types/model.py). A task whose job failed stays in the stage, and its
`stage_job_id` points at the job and its error; "re-run stage" queues every task in it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ango_plugins_sdk.protocol import JobType
from hub.db import Store
from hub.db.workspace_tables import PluginStage, TaskRow
from hub.job_types.predictions import class_mapping
from hub.services.accounts import Principal
from hub.services.config_schema import check_config
from hub.services.errors import Invalid, NotFound
from hub.services.jobs import JobRequest, JobService
from hub.services.plugins import PluginService
from hub.workspace import Workspace
from hub.workspace.projects import check_stages
from hub.workspace.task_rows import set_stage_jobs
from hub.workspace.views import TaskView

RERUN_CHUNK = 500


class StageBinding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plugin_id: Annotated[str, Field(min_length=1, max_length=64)]
    next_stage: Annotated[str, Field(min_length=1, max_length=100)]
    config: dict[str, Any] | None = None
    class_mapping: dict[str, str] = {}
    overwrite: bool = True


class WorkflowService:
    def __init__(
        self,
        store: Store,
        workspace: Workspace,
        plugins: PluginService,
        jobs: JobService,
    ) -> None:
        self._store = store
        self._workspace = workspace
        self._plugins = plugins
        self._jobs = jobs

    async def bind(
        self, principal: Principal, project_id: str, stage: str, spec: StageBinding
    ) -> PluginStage:
        project = await self._workspace.projects.info(principal.organization_id, project_id)
        check_stages(project, [stage], field="stage")
        check_stages(project, [spec.next_stage], field="next_stage")
        if spec.next_stage == stage:
            raise Invalid("next_stage must differ from the plugin stage")
        plugin = await self._plugins.usable(principal.organization_id, spec.plugin_id)
        if plugin.type != JobType.MODEL:
            raise Invalid(f"plugin {plugin.id} is a {plugin.type} plugin; a stage needs a model")
        # Check now what each task's job would be refused for later.
        check_config(plugin.config_schema, spec.config or plugin.default_config, what="config")
        class_mapping(project, spec.class_mapping, plugin.class_names, where="")
        binding = PluginStage(
            project_id=project_id,
            stage=stage,
            plugin_id=plugin.id,
            config=spec.config if spec.config is not None else copy.deepcopy(plugin.default_config),
            class_mapping=spec.class_mapping,
            overwrite=spec.overwrite,
            next_stage=spec.next_stage,
        )
        async with self._store.write() as session:
            await session.merge(binding)
        return binding

    async def unbind(self, principal: Principal, project_id: str, stage: str) -> None:
        await self._workspace.projects.info(principal.organization_id, project_id)
        async with self._store.write() as session:
            binding = await session.get(PluginStage, (project_id, stage))
            if binding is None:
                raise NotFound(f"stage {stage!r} is not a plugin stage")
            await session.delete(binding)

    async def bindings(self, principal: Principal, project_id: str) -> list[PluginStage]:
        await self._workspace.projects.info(principal.organization_id, project_id)
        async with self._store.read() as session:
            rows = await session.scalars(
                # By stage name: an order of their own on every database (SQLite happened to
                # give the primary key's, PostgreSQL promises none without ORDER BY).
                select(PluginStage)
                .where(PluginStage.project_id == project_id)
                .order_by(PluginStage.stage)
            )
            return list(rows)

    async def move_task(
        self,
        principal: Principal,
        task_id: str,
        *,
        stage: str | None,
        batches: Iterable[str] | None,
    ) -> TaskView:
        """Change a task's stage or batches; entering a plugin stage queues its job."""
        before = await self._workspace.tasks.get(principal, task_id)
        view = await self._workspace.tasks.update(principal, task_id, stage=stage, batches=batches)
        if stage is None or stage == before.stage:
            return view
        try:
            job_ids = await self._queue(principal, before.project_id, stage, [task_id])
        except Exception:
            # Its job could not be queued: the task must not sit in the stage without one.
            await self._workspace.tasks.update(principal, task_id, stage=before.stage)
            raise
        return replace(view, stage_job_id=job_ids[0]) if job_ids else view

    async def rerun(self, principal: Principal, project_id: str, stage: str) -> int:
        """Queue the stage's job again for every task in it; how many were queued."""
        await self._workspace.projects.info(principal.organization_id, project_id)
        async with self._store.read() as session:
            if await session.get(PluginStage, (project_id, stage)) is None:
                raise NotFound(f"stage {stage!r} is not a plugin stage")
        async with self._store.read() as session:
            task_ids = list(
                await session.scalars(
                    select(TaskRow.id)
                    .where(TaskRow.project_id == project_id, TaskRow.stage == stage)
                    .order_by(TaskRow.id)
                )
            )
        queued = 0
        for start in range(0, len(task_ids), RERUN_CHUNK):
            chunk = task_ids[start : start + RERUN_CHUNK]
            queued += len(await self._queue(principal, project_id, stage, chunk, strict=True))
        return queued

    async def _queue(
        self,
        principal: Principal,
        project_id: str,
        stage: str,
        task_ids: list[str],
        *,
        strict: bool = False,
    ) -> list[str]:
        """Submit the stage's job for each task; the job ids (none if not a plugin stage)."""
        async with self._store.read() as session:
            binding = await session.get(PluginStage, (project_id, stage))
        if binding is None:
            if strict:
                raise NotFound(f"stage {stage!r} is not a plugin stage")
            return []
        requests = [
            JobRequest(
                config=binding.config,
                input={
                    "task_id": task_id,
                    "class_mapping": binding.class_mapping,
                    "overwrite": binding.overwrite,
                    "advance": {"from": stage, "to": binding.next_stage},
                },
                priority="batch" if strict else None,
            )
            for task_id in task_ids
        ]
        jobs = await self._jobs.submit(principal, binding.plugin_id, requests, now=time.time())
        async with self._store.write() as session:
            await set_stage_jobs(
                session, {task_id: job.id for job, task_id in zip(jobs, task_ids, strict=True)}
            )
        return [job.id for job in jobs]
