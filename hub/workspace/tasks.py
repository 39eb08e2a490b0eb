"""Tasks, one per asset: read a page or one, edit annotations, move one to another stage or
change its batches, count them by stage. The writes go through hub/workspace/task_rows.py."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import defer

from ango_plugins_sdk.protocol.workspace import AnnotationSet
from hub.db import Store
from hub.db.paging import MAX_PAGE_SIZE
from hub.db.workspace_tables import AssetRow, Project, TaskRow
from hub.services.accounts import Principal
from hub.services.errors import Invalid
from hub.workspace import queries, rows, task_rows
from hub.workspace.annotations import check_annotations
from hub.workspace.projects import check_stages
from hub.workspace.views import TaskView


class TaskService:
    def __init__(self, store: Store, asset_url: rows.AssetUrl) -> None:
        self._store = store
        self._asset_url = asset_url

    async def page(
        self,
        principal: Principal,
        project_id: str,
        *,
        stage: str | None = None,
        batch: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[TaskView], str | None]:
        """One page of the project's tasks, oldest first (by id), and the next page's cursor.
        The assets' markdown text is left out; `get` has it."""
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        stages = [stage] if stage is not None else None
        batches = [batch] if batch is not None else None
        async with self._store.read() as session:
            project = await queries.project_row(session, principal.organization_id, project_id)
            check_stages(project, stages or ())
            query = (
                select(TaskRow, AssetRow)
                .join(AssetRow, AssetRow.id == TaskRow.asset_id)
                .where(*queries.task_filter(project_id, stages, batches))
                .options(defer(AssetRow.markdown))
            )
            if cursor:
                query = query.where(TaskRow.id > cursor)
            found = (await session.execute(query.order_by(TaskRow.id).limit(limit + 1))).all()
            page = found[:limit]
            batches_of = await queries.batches_of(session, [task.id for task, _ in page])
        next_cursor = page[-1][0].id if len(found) > limit else None
        return [
            rows.task_view(
                task,
                rows.asset(asset, self._asset_url, with_markdown=False),
                batches_of.get(task.id, []),
            )
            for task, asset in page
        ], next_cursor

    async def get(self, principal: Principal, task_id: str) -> TaskView:
        """The task with its asset, batches and annotations."""
        async with self._store.read() as session:
            task, asset = await queries.task_and_asset(session, principal.organization_id, task_id)
            batches = await queries.batches_of(session, [task.id])
        return rows.full_task_view(task, asset, batches.get(task.id, []), self._asset_url)

    async def set_annotations(
        self, principal: Principal, task_id: str, annotations: AnnotationSet
    ) -> TaskView:
        """Replace the task's annotations, after checking every category reference and that
        each geometry fits its category's tool."""
        async with self._store.write() as session:
            task, asset = await queries.task_and_asset(session, principal.organization_id, task_id)
            categories = {c.id: c for c in await queries.categories(session, task.project_id)}
            check_annotations(annotations, categories, task.project_id)
            task_rows.set_annotations(task, annotations)
            batches = await queries.batches_of(session, [task.id])
        return rows.task_view(
            task, rows.asset(asset, self._asset_url), batches.get(task.id, []), annotations
        )

    async def update(
        self,
        principal: Principal,
        task_id: str,
        *,
        stage: str | None = None,
        batches: Iterable[str] | None = None,
    ) -> TaskView:
        """Move the task to another of its project's stages and/or replace its batches."""
        names = list(dict.fromkeys(batches)) if batches is not None else None
        async with self._store.write() as session:
            task, asset = await queries.task_and_asset(session, principal.organization_id, task_id)
            if stage is not None:
                project = await session.get(Project, task.project_id)
                assert project is not None
                check_stages(project, [stage])
            if any(not 0 < len(name) <= 200 for name in names or ()):
                raise Invalid("batch names must be 1 to 200 characters")
            await task_rows.update_task(session, task, stage=stage, batches=names)
            current = await queries.batches_of(session, [task.id])
        return rows.full_task_view(task, asset, current.get(task.id, []), self._asset_url)

    async def stage_counts(self, organization_id: str, project_id: str) -> dict[str, int]:
        """How many tasks are in each of the project's stages, in one grouped count."""
        async with self._store.read() as session:
            project = await queries.project_row(session, organization_id, project_id)
            counts = await session.execute(
                select(TaskRow.stage, func.count())
                .where(TaskRow.project_id == project_id)
                .group_by(TaskRow.stage)
            )
            counted: dict[str, int] = {stage: count for stage, count in counts}
        return {stage: counted.get(stage, 0) for stage in project.stages}
