"""Reads the workspace's services share, each inside the caller's session.

A lookup by id answers NotFound for another organization's object, as if it did not exist.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.protocol.workspace import Category
from hub.db.workspace_tables import AssetRow, CategoryRow, Project, TaskBatch, TaskRow
from hub.services.errors import NotFound
from hub.workspace import rows

LOOKUP_CHUNK = 500
"""Ids per `IN (...)` list: well below every database's limit on bound parameters."""


async def project_row(
    session: AsyncSession, organization_id: str, project_id: str, *, lock: bool = False
) -> Project:
    """The organization's project, else NotFound. `lock` holds its row until the transaction
    ends (SELECT ... FOR UPDATE on PostgreSQL; SQLite's writer lock already does)."""
    project = await session.get(Project, project_id, with_for_update=lock or None)
    if project is None or project.organization_id != organization_id:
        raise NotFound(f"project {project_id} not found")
    return project


async def task_and_asset(
    session: AsyncSession, organization_id: str, task_id: str
) -> tuple[TaskRow, AssetRow]:
    """The organization's task and its asset, else NotFound."""
    row = (
        await session.execute(
            select(TaskRow, AssetRow)
            .join(AssetRow, AssetRow.id == TaskRow.asset_id)
            .where(TaskRow.id == task_id)
        )
    ).first()
    if row is None or row[1].organization_id != organization_id:
        raise NotFound(f"task {task_id} not found")
    return row[0], row[1]


async def categories(session: AsyncSession, project_id: str) -> list[Category]:
    """The project's categories, in the order they were given."""
    found = await session.scalars(
        select(CategoryRow)
        .where(CategoryRow.project_id == project_id)
        .order_by(CategoryRow.position)
    )
    return [rows.category(row) for row in found]


async def batches_in_use(session: AsyncSession, project_id: str) -> list[str]:
    found = await session.scalars(
        select(TaskBatch.batch)
        .where(TaskBatch.project_id == project_id)
        .distinct()
        .order_by(TaskBatch.batch)
    )
    return list(found)


async def batches_of(session: AsyncSession, task_ids: list[str]) -> dict[str, list[str]]:
    """Each task's batches, by task id (a task in no batch is left out)."""
    found: dict[str, list[str]] = {}
    for start in range(0, len(task_ids), LOOKUP_CHUNK):
        chunk = task_ids[start : start + LOOKUP_CHUNK]
        pairs = await session.execute(
            select(TaskBatch.task_id, TaskBatch.batch)
            .where(TaskBatch.task_id.in_(chunk))
            .order_by(TaskBatch.task_id, TaskBatch.batch)
        )
        for task_id, batch in pairs:
            found.setdefault(task_id, []).append(batch)
    return found


def task_filter(
    project_id: str, stages: list[str] | None, batches: list[str] | None
) -> list[ColumnElement[bool]]:
    """Tasks of the project, in any of `stages`, and in any of `batches` (None: any)."""
    conditions: list[ColumnElement[bool]] = [TaskRow.project_id == project_id]
    if stages:
        conditions.append(TaskRow.stage.in_(stages))
    if batches:
        conditions.append(
            exists().where(TaskBatch.task_id == TaskRow.id, TaskBatch.batch.in_(batches))
        )
    return conditions


async def task_count(
    session: AsyncSession,
    project_id: str,
    *,
    stages: list[str] | None = None,
    batches: list[str] | None = None,
) -> int:
    """How many of the project's tasks `task_filter` lets through."""
    count = await session.scalar(
        select(func.count()).select_from(TaskRow).where(*task_filter(project_id, stages, batches))
    )
    return count or 0
