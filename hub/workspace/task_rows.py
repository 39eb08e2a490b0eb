"""The one writer of task rows and their batch rows: every insert, update and delete of
`TaskRow` and `TaskBatch` is here, so what a task's row may hold is decided in one place.

Each function works in the caller's session and transaction: the asset services' (a task is
created with its asset), the task service's, the job engine's when it commits a model job's
outcome (hub/job_types/predictions.py), and the plugin stages' (hub/services/workflow.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.protocol.workspace import AnnotationSet
from hub.db import utcnow
from hub.db.workspace_tables import DEFAULT_STAGES, TaskBatch, TaskRow
from hub.workspace.annotations import with_plugin_annotations
from hub.workspace.ids import sequential_ids


async def insert_tasks(
    session: AsyncSession,
    project_id: str,
    asset_ids: list[str],
    batches: Sequence[str | None],
    now: datetime,
) -> list[str]:
    """One task per asset, in the first stage with no annotations, each in its batch (None:
    in none). Returns the tasks' ids, in the assets' order."""
    task_ids = sequential_ids(len(asset_ids))
    if not task_ids:
        return []
    empty = AnnotationSet().model_dump(mode="json")
    await session.execute(
        insert(TaskRow),
        [
            {
                "id": task_id,
                "project_id": project_id,
                "asset_id": asset_id,
                "stage": DEFAULT_STAGES[0],
                "annotations": empty,
                "created_at": now,
                "updated_at": now,
            }
            for task_id, asset_id in zip(task_ids, asset_ids, strict=True)
        ],
    )
    in_batches = [
        (task_id, batch)
        for task_id, batch in zip(task_ids, batches, strict=True)
        if batch is not None
    ]
    await _insert_batches(session, project_id, in_batches)
    return task_ids


async def update_task(
    session: AsyncSession,
    task: TaskRow,
    *,
    stage: str | None = None,
    batches: list[str] | None = None,
) -> None:
    """Move the task (loaded in `session`) to `stage` and/or replace its batches."""
    if stage is not None:
        task.stage = stage
    if batches is not None:
        await session.execute(delete(TaskBatch).where(TaskBatch.task_id == task.id))
        await _insert_batches(session, task.project_id, [(task.id, name) for name in batches])
    if stage is not None or batches is not None:
        task.updated_at = utcnow()


def set_annotations(task: TaskRow, annotations: AnnotationSet) -> None:
    """Replace the annotations of the task (loaded in the caller's session)."""
    _store_annotations(task, annotations.model_dump(mode="json", exclude_none=True))


async def write_plugin_annotations(
    session: AsyncSession,
    task_id: str,
    objects: list[dict[str, Any]],
    classifications: list[dict[str, Any]],
    *,
    plugin_id: str,
    overwrite: bool,
) -> bool:
    """Add a plugin's annotations to a task (see `with_plugin_annotations`). False if the
    task is gone."""
    task = await session.get(TaskRow, task_id)
    if task is None:
        return False
    document = with_plugin_annotations(
        task.annotations or {},
        objects,
        classifications,
        plugin_id=plugin_id,
        overwrite=overwrite,
    )
    _store_annotations(task, document)
    return True


async def advance_task(
    session: AsyncSession, task_id: str, *, from_stage: str, to_stage: str
) -> None:
    """Move a task on from a plugin stage, unless someone has moved it elsewhere meanwhile."""
    await session.execute(
        update(TaskRow)
        .where(TaskRow.id == task_id, TaskRow.stage == from_stage)
        .values(stage=to_stage, updated_at=utcnow())
    )


async def set_stage_jobs(session: AsyncSession, job_ids: dict[str, str]) -> None:
    """Record, by task id, the job a plugin stage queued for each task."""
    if job_ids:
        await session.execute(
            update(TaskRow),
            [{"id": task_id, "stage_job_id": job_id} for task_id, job_id in job_ids.items()],
        )


async def delete_tasks_of(session: AsyncSession, asset_ids: list[str]) -> None:
    """Remove the tasks of these assets, and their batch rows, before the assets go."""
    task_ids = select(TaskRow.id).where(TaskRow.asset_id.in_(asset_ids))
    await session.execute(delete(TaskBatch).where(TaskBatch.task_id.in_(task_ids)))
    await session.execute(delete(TaskRow).where(TaskRow.asset_id.in_(asset_ids)))


async def _insert_batches(
    session: AsyncSession, project_id: str, pairs: list[tuple[str, str]]
) -> None:
    """Put each (task id, batch) pair's task in the batch."""
    if pairs:
        await session.execute(
            insert(TaskBatch),
            [
                {"task_id": task_id, "batch": batch, "project_id": project_id}
                for task_id, batch in pairs
            ],
        )


def _store_annotations(task: TaskRow, document: dict[str, Any]) -> None:
    task.annotations = document
    task.updated_at = utcnow()
