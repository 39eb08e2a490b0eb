"""The workspace: projects with a category schema and stages, assets, tasks, annotations,
and the streamed export plugins read.

Methods a user calls take the `Principal`; those the job engine calls on a job's behalf take
the organization id. Either way another organization's object is as good as absent.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, Row, Select, delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from ango_plugins_sdk.protocol.workspace import (
    AnnotationSet,
    Asset,
    AssetIn,
    AssetType,
    Category,
    CategoryIn,
    ExportedTask,
    ProjectInfo,
    Tool,
)
from hub.security import new_id
from hub.services.accounts import Principal
from hub.services.errors import Invalid, NotFound
from hub.storage import Storage
from hub.store import Store, utcnow
from hub.store.paging import MAX_PAGE_SIZE, newest_first
from hub.store.workspace import DEFAULT_STAGES, AssetRow, CategoryRow, Project, TaskBatch, TaskRow

MAX_ASSETS_PER_REQUEST = 10_000
MAX_IMAGE_BYTES = 200 * 1024 * 1024
EXPORT_PAGE_SIZE = 500
"""Tasks read per query while exporting; memory is bounded by one page, not the project."""
_LOOKUP_CHUNK = 500
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def asset_file_path(asset_id: str) -> str:
    """Where the hub serves an uploaded asset's bytes."""
    return f"/api/v1/assets/{asset_id}/file"


# --- request models -----------------------------------------------------------------------


def _unique_category_names(value: list[CategoryIn]) -> list[CategoryIn]:
    seen: set[str] = set()
    for category in value:
        if category.name in seen:
            raise ValueError(f"category names must be unique; {category.name!r} appears twice")
        seen.add(category.name)
    return value


def _unique_stages(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("stage names must be unique")
    return value


def _unique_batches(value: list[str]) -> list[str]:
    return list(dict.fromkeys(value))


Name = Annotated[str, Field(min_length=1, max_length=200)]
StageName = Annotated[str, Field(min_length=1, max_length=100)]
BatchName = Annotated[str, Field(min_length=1, max_length=200)]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    description: Annotated[str, Field(max_length=10_000)] = ""
    categories: Annotated[
        list[CategoryIn], Field(max_length=1_000), AfterValidator(_unique_category_names)
    ] = []
    stages: Annotated[list[StageName], Field(max_length=50), AfterValidator(_unique_stages)] = []
    """Stages beyond the default todo, in_progress, review, done (e.g. a model plugin's)."""


class AssetsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assets: Annotated[list[AssetIn], Field(min_length=1, max_length=MAX_ASSETS_PER_REQUEST)]
    dedupe: bool = False
    """Skip assets whose external_id is already in the project (or earlier in this list)."""


class TaskUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    stage: StageName | None = None
    batches: (
        Annotated[list[BatchName], Field(max_length=100), AfterValidator(_unique_batches)] | None
    ) = None
    """The task's batches, replacing the ones it had."""

    @model_validator(mode="after")
    def _no_nulls(self) -> TaskUpdate:
        for name in ("stage", "batches"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


# --- what the service returns --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProjectDetails:
    id: str
    organization_id: str
    name: str
    description: str
    stages: list[str]
    categories: list[Category]
    batches: list[str]
    task_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TaskView:
    id: str
    project_id: str
    stage: str
    batches: list[str]
    asset: Asset
    created_at: datetime
    updated_at: datetime
    annotations: AnnotationSet | None = None
    """Left out (None) in lists; a task read alone carries them."""
    stage_job_id: str | None = None
    """The job a plugin stage queued for it."""


@dataclass(frozen=True, slots=True)
class UploadedAsset:
    asset: Asset
    task_id: str


@dataclass(frozen=True, slots=True)
class AssetFile:
    """An uploaded asset's bytes, ready to stream."""

    asset_id: str
    content_type: str
    size: int | None
    filename: str | None
    chunks: AsyncIterator[bytes]


# --- the service ---------------------------------------------------------------------------


class WorkspaceService:
    def __init__(self, store: Store, storage: Storage) -> None:
        self._store = store
        self._storage = storage

    # projects

    async def create_project(self, principal: Principal, spec: ProjectCreate) -> ProjectDetails:
        stages = [*DEFAULT_STAGES, *(s for s in spec.stages if s not in DEFAULT_STAGES)]
        project = Project(
            id=new_id(),
            organization_id=principal.organization_id,
            name=spec.name,
            description=spec.description,
            stages=stages,
            created_at=utcnow(),
        )
        categories = [
            Category(
                id=category_id,
                name=category.name,
                tool=category.tool,
                color=category.color or _PALETTE[position % len(_PALETTE)],
            )
            for position, (category, category_id) in enumerate(
                zip(spec.categories, _sequential_ids(len(spec.categories)), strict=True)
            )
        ]
        async with self._store.write() as session:
            session.add(project)
            await session.flush()
            if categories:
                await session.execute(
                    insert(CategoryRow),
                    [
                        {
                            "id": c.id,
                            "project_id": project.id,
                            "name": c.name,
                            "tool": c.tool.value,
                            "color": c.color,
                            "position": position,
                        }
                        for position, c in enumerate(categories)
                    ],
                )
        return ProjectDetails(
            id=project.id,
            organization_id=project.organization_id,
            name=project.name,
            description=project.description,
            stages=list(project.stages),
            categories=categories,
            batches=[],
            task_count=0,
            created_at=project.created_at,
        )

    async def list_projects(
        self, principal: Principal, *, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[Project], str | None]:
        """One page of the organization's projects, newest first, and the next page's cursor."""
        query = select(Project).where(Project.organization_id == principal.organization_id)
        return await newest_first(self._store, query, Project.id, cursor=cursor, limit=limit)

    async def get_project(self, principal: Principal, project_id: str) -> ProjectDetails:
        async with self._store.read() as session:
            project = await _project(session, principal.organization_id, project_id)
            categories = await _categories(session, project_id)
            batches = await _batches_in_use(session, project_id)
            task_count = await session.scalar(
                select(func.count()).select_from(TaskRow).where(TaskRow.project_id == project_id)
            )
        return ProjectDetails(
            id=project.id,
            organization_id=project.organization_id,
            name=project.name,
            description=project.description,
            stages=list(project.stages),
            categories=categories,
            batches=batches,
            task_count=task_count or 0,
            created_at=project.created_at,
        )

    async def project_info(self, organization_id: str, project_id: str) -> ProjectInfo:
        """What a plugin learns about a project: categories, stages, batch names in use."""
        async with self._store.read() as session:
            project = await _project(session, organization_id, project_id)
            categories = await _categories(session, project_id)
            batches = await _batches_in_use(session, project_id)
        return ProjectInfo(
            id=project.id,
            name=project.name,
            categories=categories,
            stages=list(project.stages),
            batches=batches,
        )

    # assets

    async def has_external_id(
        self, organization_id: str, project_id: str, external_id: str
    ) -> bool:
        async with self._store.read() as session:
            found = await session.scalar(
                select(AssetRow.id).where(
                    AssetRow.organization_id == organization_id,
                    AssetRow.project_id == project_id,
                    AssetRow.external_id == external_id,
                )
            )
        return found is not None

    async def delete_job_assets(
        self, organization_id: str, project_id: str, job_id: str, *, attempts: range
    ) -> int:
        """Remove the assets (and their tasks) that the given attempts of a job created, so
        a re-run does not duplicate them. Returns how many went."""
        doomed = select(AssetRow.id).where(
            AssetRow.organization_id == organization_id,
            AssetRow.project_id == project_id,
            AssetRow.created_by_job.in_([f"{job_id}:{attempt}" for attempt in attempts]),
        )
        async with self._store.write() as session:
            asset_ids = list(await session.scalars(doomed))
            for start in range(0, len(asset_ids), 500):
                chunk = asset_ids[start : start + 500]
                task_ids = select(TaskRow.id).where(TaskRow.asset_id.in_(chunk))
                await session.execute(delete(TaskBatch).where(TaskBatch.task_id.in_(task_ids)))
                await session.execute(delete(TaskRow).where(TaskRow.asset_id.in_(chunk)))
                await session.execute(delete(AssetRow).where(AssetRow.id.in_(chunk)))
        return len(asset_ids)

    async def create_assets(
        self,
        organization_id: str,
        project_id: str,
        assets: Sequence[AssetIn],
        *,
        dedupe: bool = False,
        created_by_job: str | None = None,
    ) -> tuple[int, int]:
        """Create the assets, one task each in stage "todo", in bulk; returns (created, skipped).

        With `dedupe`, an asset whose external_id is already in the project, or earlier in
        `assets`, is skipped. Assets without an external_id are never skipped. The check and
        the inserts share one write transaction holding the project's row lock, so concurrent
        calls cannot both create the same external_id.
        """
        async with self._store.write() as session:
            await _project(session, organization_id, project_id, lock=dedupe)
            wanted = list(assets)
            if dedupe:
                wanted = await _without_duplicates(session, project_id, wanted)
            now = utcnow()
            asset_ids = _sequential_ids(len(wanted))
            task_ids = _sequential_ids(len(wanted))
            if wanted:
                await session.execute(
                    insert(AssetRow),
                    [
                        {
                            "id": asset_id,
                            "project_id": project_id,
                            "organization_id": organization_id,
                            "type": (
                                AssetType.MARKDOWN if a.markdown is not None else AssetType.IMAGE
                            ).value,
                            "url": a.url,
                            "storage_key": None,
                            "content_type": None,
                            "size": None,
                            "external_id": a.external_id,
                            "width": a.width,
                            "height": a.height,
                            "markdown": a.markdown,
                            "metadata_": a.metadata,
                            "created_by_job": created_by_job,
                            "created_at": now,
                        }
                        for a, asset_id in zip(wanted, asset_ids, strict=True)
                    ],
                )
                await session.execute(
                    insert(TaskRow), _task_rows(project_id, task_ids, asset_ids, now)
                )
            batch_rows = [
                {"task_id": task_id, "batch": a.batch, "project_id": project_id}
                for a, task_id in zip(wanted, task_ids, strict=True)
                if a.batch is not None
            ]
            if batch_rows:
                await session.execute(insert(TaskBatch), batch_rows)
        return len(wanted), len(assets) - len(wanted)

    async def upload_image(
        self,
        principal: Principal,
        project_id: str,
        filename: str | None,
        chunks: AsyncIterator[bytes],
        *,
        external_id: str | None = None,
        batch: str | None = None,
        created_by_job: str | None = None,
    ) -> UploadedAsset:
        """Store an uploaded image (streamed to storage, never whole in memory) as a new asset
        with its task. Width and height come from the PNG or JPEG header when there is one."""
        if external_id is not None and not 0 < len(external_id) <= 500:
            raise Invalid("external_id must be 1 to 500 characters")
        if batch is not None and not 0 < len(batch) <= 200:
            raise Invalid("batch must be 1 to 200 characters")
        organization_id = principal.organization_id
        async with self._store.read() as session:
            await _project(session, organization_id, project_id)
        asset_id, task_id = new_id(), new_id()
        key = f"assets/{project_id}/{asset_id}"
        sniffer = ImageSniffer()
        first = await anext(chunks, b"")
        sniffer.feed(first)  # the type is known from the first bytes; storage may record it

        async def checked() -> AsyncIterator[bytes]:
            size = len(first)
            yield first
            async for chunk in chunks:
                size += len(chunk)
                if size > MAX_IMAGE_BYTES:
                    raise Invalid(f"file too large; the limit is {MAX_IMAGE_BYTES} bytes")
                sniffer.feed(chunk)
                yield chunk

        size = await self._storage.put(
            key, checked(), content_type=sniffer.content_type or "application/octet-stream"
        )
        try:
            if size == 0:
                raise Invalid("the uploaded file is empty")
            now = utcnow()
            metadata: dict[str, Any] = {"filename": filename} if filename else {}
            row = AssetRow(
                id=asset_id,
                project_id=project_id,
                organization_id=organization_id,
                type=AssetType.IMAGE.value,
                url=None,
                storage_key=key,
                content_type=sniffer.content_type or "application/octet-stream",
                size=size,
                external_id=external_id,
                width=sniffer.width,
                height=sniffer.height,
                markdown=None,
                metadata_=metadata,
                created_by_job=created_by_job,
                created_at=now,
            )
            async with self._store.write() as session:
                await _project(session, organization_id, project_id)
                session.add(row)
                await session.flush()
                await session.execute(
                    insert(TaskRow), _task_rows(project_id, [task_id], [asset_id], now)
                )
                if batch is not None:
                    await session.execute(
                        insert(TaskBatch),
                        [{"task_id": task_id, "batch": batch, "project_id": project_id}],
                    )
        except BaseException:
            await self._storage.delete(key)
            raise
        return UploadedAsset(asset=_asset(row), task_id=task_id)

    async def asset_file(self, organization_id: str, asset_id: str) -> AssetFile:
        """An uploaded asset's bytes; NotFound for another organization's or a URL asset."""
        async with self._store.read() as session:
            row = await session.get(AssetRow, asset_id)
        if row is None or row.organization_id != organization_id:
            raise NotFound(f"asset {asset_id} not found")
        if row.storage_key is None:
            raise NotFound(f"asset {asset_id} has no uploaded file; fetch it from its url")
        return AssetFile(
            asset_id=row.id,
            content_type=row.content_type or "application/octet-stream",
            size=row.size,
            filename=row.metadata_.get("filename") if row.metadata_ else None,
            chunks=self._storage.get(row.storage_key),
        )

    async def open_asset_bytes(self, organization_id: str, asset_id: str) -> AsyncIterator[bytes]:
        """The uploaded asset's bytes in chunks. Awaiting checks it exists (NotFound)."""
        return (await self.asset_file(organization_id, asset_id)).chunks

    # tasks

    async def list_tasks(
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
        The assets' markdown text is left out; `get_task` has it."""
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        async with self._store.read() as session:
            project = await _project(session, principal.organization_id, project_id)
            stages = [stage] if stage is not None else None
            _check_stages(project, stages)
            query = _task_query(project_id, stages, [batch] if batch is not None else None)
            query = query.options(defer(AssetRow.markdown))
            if cursor:
                query = query.where(TaskRow.id > cursor)
            rows = (await session.execute(query.order_by(TaskRow.id).limit(limit + 1))).all()
            page = rows[:limit]
            batches = await _batches_of(session, [task.id for task, _ in page])
        next_cursor = page[-1][0].id if len(rows) > limit else None
        return [
            _task_view(task, _asset(asset, with_markdown=False), batches.get(task.id, []))
            for task, asset in page
        ], next_cursor

    async def get_task(self, principal: Principal, task_id: str) -> TaskView:
        """The task with its asset, batches and annotations."""
        async with self._store.read() as session:
            task, asset = await _task(session, principal.organization_id, task_id)
            batches = await _batches_of(session, [task.id])
        return _full_task_view(task, asset, batches)

    async def set_annotations(
        self, principal: Principal, task_id: str, annotations: AnnotationSet
    ) -> TaskView:
        """Replace the task's annotations, after checking every category reference and that
        each geometry fits its category's tool."""
        async with self._store.write() as session:
            task, asset = await _task(session, principal.organization_id, task_id)
            categories = {c.id: c for c in await _categories(session, task.project_id)}
            _check_annotations(annotations, categories, task.project_id)
            task.annotations = annotations.model_dump(mode="json", exclude_none=True)
            task.updated_at = utcnow()
            batches = await _batches_of(session, [task.id])
        return _task_view(task, _asset(asset), batches.get(task.id, []), annotations)

    async def update_task(
        self,
        principal: Principal,
        task_id: str,
        *,
        stage: str | None = None,
        batches: Iterable[str] | None = None,
    ) -> TaskView:
        """Move the task to another of its project's stages and/or replace its batches."""
        async with self._store.write() as session:
            task, asset = await _task(session, principal.organization_id, task_id)
            if stage is not None:
                project = await session.get(Project, task.project_id)
                assert project is not None
                _check_stages(project, [stage])
                task.stage = stage
            if batches is not None:
                names = list(dict.fromkeys(batches))
                for name in names:
                    if not 0 < len(name) <= 200:
                        raise Invalid("batch names must be 1 to 200 characters")
                await session.execute(delete(TaskBatch).where(TaskBatch.task_id == task.id))
                if names:
                    await session.execute(
                        insert(TaskBatch),
                        [
                            {"task_id": task.id, "batch": n, "project_id": task.project_id}
                            for n in names
                        ],
                    )
            if stage is not None or batches is not None:
                task.updated_at = utcnow()
            current = await _batches_of(session, [task.id])
        return _full_task_view(task, asset, current)

    # export

    async def count_tasks(
        self,
        organization_id: str,
        project_id: str,
        *,
        stages: list[str] | None = None,
        batches: list[str] | None = None,
    ) -> int:
        """How many tasks `export_tasks` with the same filters yields (at this moment).
        Raises NotFound for another organization's project and Invalid for an unknown stage."""
        async with self._store.read() as session:
            project = await _project(session, organization_id, project_id)
            _check_stages(project, stages)
            count = await session.scalar(
                select(func.count())
                .select_from(TaskRow)
                .where(*_conditions(project_id, stages, batches))
            )
        return count or 0

    async def stage_counts(self, organization_id: str, project_id: str) -> dict[str, int]:
        """How many tasks are in each of the project's stages, in one grouped count."""
        async with self._store.read() as session:
            project = await _project(session, organization_id, project_id)
            rows = await session.execute(
                select(TaskRow.stage, func.count())
                .where(TaskRow.project_id == project_id)
                .group_by(TaskRow.stage)
            )
            counted: dict[str, int] = {stage: count for stage, count in rows}
        return {stage: counted.get(stage, 0) for stage in project.stages}

    async def exported_task(self, organization_id: str, task_id: str) -> tuple[str, ExportedTask]:
        """(project id, the task as the export shows it): what a model job works on."""
        async with self._store.read() as session:
            row = (
                await session.execute(
                    select(*_EXPORT_COLUMNS, TaskRow.project_id)
                    .join_from(TaskRow, AssetRow, AssetRow.id == TaskRow.asset_id)
                    .where(TaskRow.id == task_id, AssetRow.organization_id == organization_id)
                )
            ).first()
            if row is None:
                raise NotFound(f"task {task_id} not found")
            categories = {c.id: c for c in await _categories(session, row.project_id)}
            batches = await _batches_of(session, [task_id])
        return row.project_id, _exported(row, batches.get(task_id, []), categories)

    async def export_tasks(
        self,
        organization_id: str,
        project_id: str,
        *,
        stages: list[str] | None = None,
        batches: list[str] | None = None,
    ) -> AsyncIterator[ExportedTask]:
        """Every matching task, ordered by id, with its asset, batches and annotations.

        `stages` and `batches` filter (a task in any of the stages, and in any of the
        batches); None or empty means no filter, so no filter at all is every task.
        The database is read in pages of `EXPORT_PAGE_SIZE` by keyset on the task id, each in
        its own short read, so memory stays flat however large the project, and no read
        transaction is held open while a slow consumer works. Tasks changed during the export
        are seen as they are when their page is read.
        """
        async with self._store.read() as session:
            project = await _project(session, organization_id, project_id)
            _check_stages(project, stages)
            categories = {c.id: c for c in await _categories(session, project_id)}
        query = (
            select(*_EXPORT_COLUMNS)
            .join_from(TaskRow, AssetRow, AssetRow.id == TaskRow.asset_id)
            .where(*_conditions(project_id, stages or None, batches or None))
            .order_by(TaskRow.id)
        )
        after: str | None = None
        while True:
            page_query = query if after is None else query.where(TaskRow.id > after)
            # Plain rows, not ORM objects: a third of the time, and nothing kept per session.
            async with self._store.read() as session:
                rows = (await session.execute(page_query.limit(EXPORT_PAGE_SIZE))).all()
                batches_by_task = await _batches_of(session, [row.id for row in rows])
            for row in rows:
                yield _exported(row, batches_by_task.get(row.id, []), categories)
            if len(rows) < EXPORT_PAGE_SIZE:
                return
            after = rows[-1].id
            del rows, batches_by_task


async def advance_task(
    session: AsyncSession, task_id: str, *, from_stage: str, to_stage: str
) -> None:
    """Move a task on from a plugin stage, in the caller's transaction, unless someone has
    moved it elsewhere meanwhile."""
    await session.execute(
        update(TaskRow)
        .where(TaskRow.id == task_id, TaskRow.stage == from_stage)
        .values(stage=to_stage, updated_at=utcnow())
    )


async def write_plugin_annotations(
    session: AsyncSession,
    task_id: str,
    objects: list[dict[str, Any]],
    classifications: list[dict[str, Any]],
    *,
    plugin_id: str,
    overwrite: bool,
) -> bool:
    """Add a plugin's annotations to a task, in the caller's transaction. With `overwrite`,
    what this plugin wrote before is replaced; people's annotations always stay. False if
    the task is gone."""
    task = await session.get(TaskRow, task_id)
    if task is None:
        return False
    current = task.annotations or {}

    def kept(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not overwrite:
            return items
        return [item for item in items if (item.get("source") or {}).get("plugin_id") != plugin_id]

    task.annotations = {
        "objects": kept(current.get("objects", [])) + objects,
        "classifications": kept(current.get("classifications", [])) + classifications,
    }
    task.updated_at = utcnow()
    return True


# --- queries -------------------------------------------------------------------------------


async def _project(
    session: AsyncSession, organization_id: str, project_id: str, *, lock: bool = False
) -> Project:
    """The organization's project, else NotFound. `lock` holds its row until the transaction
    ends (SELECT ... FOR UPDATE on PostgreSQL; SQLite's writer lock already does)."""
    project = await session.get(Project, project_id, with_for_update=lock or None)
    if project is None or project.organization_id != organization_id:
        raise NotFound(f"project {project_id} not found")
    return project


async def _task(
    session: AsyncSession, organization_id: str, task_id: str
) -> tuple[TaskRow, AssetRow]:
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


async def _categories(session: AsyncSession, project_id: str) -> list[Category]:
    rows = await session.scalars(
        select(CategoryRow)
        .where(CategoryRow.project_id == project_id)
        .order_by(CategoryRow.position)
    )
    return [Category(id=r.id, name=r.name, tool=Tool(r.tool), color=r.color) for r in rows]


async def _batches_in_use(session: AsyncSession, project_id: str) -> list[str]:
    rows = await session.scalars(
        select(TaskBatch.batch)
        .where(TaskBatch.project_id == project_id)
        .distinct()
        .order_by(TaskBatch.batch)
    )
    return list(rows)


async def _batches_of(session: AsyncSession, task_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for start in range(0, len(task_ids), _LOOKUP_CHUNK):
        chunk = task_ids[start : start + _LOOKUP_CHUNK]
        rows = await session.execute(
            select(TaskBatch.task_id, TaskBatch.batch)
            .where(TaskBatch.task_id.in_(chunk))
            .order_by(TaskBatch.task_id, TaskBatch.batch)
        )
        for task_id, batch in rows:
            found.setdefault(task_id, []).append(batch)
    return found


async def _without_duplicates(
    session: AsyncSession, project_id: str, assets: list[AssetIn]
) -> list[AssetIn]:
    """`assets` less those whose external_id is already in the project or earlier in the list."""
    ids = list({a.external_id for a in assets if a.external_id is not None})
    seen: set[str] = set()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        found = await session.scalars(
            select(AssetRow.external_id)
            .where(AssetRow.project_id == project_id, AssetRow.external_id.in_(chunk))
            .distinct()
        )
        seen.update(external_id for external_id in found if external_id is not None)
    kept = []
    for asset in assets:
        if asset.external_id is not None:
            if asset.external_id in seen:
                continue
            seen.add(asset.external_id)
        kept.append(asset)
    return kept


def _conditions(
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


def _task_query(
    project_id: str, stages: list[str] | None, batches: list[str] | None
) -> Select[TaskRow, AssetRow]:
    return (
        select(TaskRow, AssetRow)
        .join(AssetRow, AssetRow.id == TaskRow.asset_id)
        .where(*_conditions(project_id, stages, batches))
    )


def _check_stages(project: Project, stages: list[str] | None) -> None:
    for stage in stages or ():
        if stage not in project.stages:
            raise Invalid(
                f"unknown stage {stage!r}; project {project.id} has stages "
                + ", ".join(project.stages)
            )


def _task_rows(
    project_id: str, task_ids: list[str], asset_ids: list[str], now: datetime
) -> list[dict[str, Any]]:
    empty = AnnotationSet().model_dump(mode="json")
    return [
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
    ]


def _sequential_ids(count: int) -> list[str]:
    """`count` fresh ids in increasing order, so rows created together keep their order."""
    first = new_id()
    millis, start = first[:12], int(first[12:], 16) & (2**47 - 1)
    return [f"{millis}{start + i:012x}" for i in range(count)]


# --- validation ----------------------------------------------------------------------------


def _check_annotations(
    annotations: AnnotationSet, categories: dict[str, Category], project_id: str
) -> None:
    problems: list[str] = []
    for index, obj in enumerate(annotations.objects):
        where = f"objects[{index}]"
        category = categories.get(obj.category_id)
        if category is None:
            problems.append(
                f"{where}: category_id {obj.category_id!r} is not a category of "
                f"project {project_id}"
            )
        elif category.tool is Tool.CLASSIFICATION:
            problems.append(
                f"{where}: category {category.name!r} is a classification; "
                "put it in classifications"
            )
        elif category.tool is not obj.tool:
            problems.append(
                f"{where}: category {category.name!r} uses the {category.tool.value} tool "
                f"but the object has a {obj.tool.value}"
            )
    for index, classification in enumerate(annotations.classifications):
        where = f"classifications[{index}]"
        category = categories.get(classification.category_id)
        if category is None:
            problems.append(
                f"{where}: category_id {classification.category_id!r} is not a category of "
                f"project {project_id}"
            )
        elif category.tool is not Tool.CLASSIFICATION:
            problems.append(
                f"{where}: category {category.name!r} uses the {category.tool.value} tool; "
                "a classification needs a classification category"
            )
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise Invalid("invalid annotations: " + "; ".join(problems[:5]) + more)


# --- shapes --------------------------------------------------------------------------------


def _asset(row: AssetRow, *, with_markdown: bool = True) -> Asset:
    return Asset(
        id=row.id,
        type=AssetType(row.type),
        url=asset_file_path(row.id) if row.storage_key is not None else row.url,
        markdown=row.markdown if with_markdown else None,
        external_id=row.external_id,
        width=row.width,
        height=row.height,
        metadata=row.metadata_ or {},
    )


def _full_task_view(task: TaskRow, asset: AssetRow, batches: dict[str, list[str]]) -> TaskView:
    """A task read alone: with its annotations and the markdown of its asset."""
    return _task_view(
        task,
        _asset(asset),
        batches.get(task.id, []),
        AnnotationSet.model_validate(task.annotations),
    )


def _task_view(
    task: TaskRow, asset: Asset, batches: list[str], annotations: AnnotationSet | None = None
) -> TaskView:
    return TaskView(
        id=task.id,
        project_id=task.project_id,
        stage=task.stage,
        batches=batches,
        asset=asset,
        created_at=task.created_at,
        updated_at=task.updated_at,
        annotations=annotations,
        stage_job_id=task.stage_job_id,
    )


_EXPORT_COLUMNS = (
    TaskRow.id,
    TaskRow.stage,
    TaskRow.annotations,
    TaskRow.updated_at,
    AssetRow.id.label("asset_id"),
    AssetRow.type,
    AssetRow.url,
    AssetRow.storage_key,
    AssetRow.external_id,
    AssetRow.width,
    AssetRow.height,
    AssetRow.markdown,
    AssetRow.metadata_.label("metadata"),
)


def _exported(row: Row[Any], batches: list[str], categories: dict[str, Category]) -> ExportedTask:
    stored = row.annotations or {}
    objects = []
    for obj in stored.get("objects", ()):
        category = categories.get(obj["category_id"])
        tool = category.tool if category else _tool_of(obj)
        name = category.name if category else ""
        objects.append({**obj, "category": name, "tool": tool})
    classifications = [
        {**c, "category": category.name if (category := categories.get(c["category_id"])) else ""}
        for c in stored.get("classifications", ())
    ]
    return ExportedTask.model_validate(
        {
            "task_id": row.id,
            "stage": row.stage,
            "batches": batches,
            "asset": {
                "id": row.asset_id,
                "type": row.type,
                "url": asset_file_path(row.asset_id) if row.storage_key is not None else row.url,
                "markdown": row.markdown,
                "external_id": row.external_id,
                "width": row.width,
                "height": row.height,
                "metadata": row.metadata or {},
            },
            "annotations": {"objects": objects, "classifications": classifications},
            "updated_at": row.updated_at.isoformat(),
        }
    )


def _tool_of(obj: dict[str, Any]) -> Tool:
    if "bbox" in obj:
        return Tool.BBOX
    return Tool.POLYGON if "polygon" in obj else Tool.POINT


# --- image headers -------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


class ImageSniffer:
    """Reads a PNG's or JPEG's type and dimensions from its header as the bytes stream by.

    JPEG segments before the frame header (EXIF, ICC profiles, thumbnails) are skipped by
    their length without buffering them, so memory stays a few bytes plus one chunk.
    """

    def __init__(self) -> None:
        self.content_type: str | None = None
        self.width: int | None = None
        self.height: int | None = None
        self._buffer = bytearray()
        self._skip = 0
        self._done = False
        self._jpeg = False

    def feed(self, data: bytes) -> None:
        if self._done:
            return
        if self._skip:
            skipped = min(self._skip, len(data))
            self._skip -= skipped
            data = data[skipped:]
        self._buffer += data
        if not self._jpeg:
            self._sniff_start()
        if self._jpeg and not self._done:
            self._walk_jpeg()

    def _sniff_start(self) -> None:
        buffer = self._buffer
        if len(buffer) >= 24 and buffer.startswith(_PNG_SIGNATURE):
            self.content_type = "image/png"
            if buffer[12:16] == b"IHDR":
                self._set_size(*struct.unpack(">II", buffer[16:24]))
            self._finish()
        elif len(buffer) >= 3 and buffer.startswith(b"\xff\xd8\xff"):
            self.content_type = "image/jpeg"
            self._jpeg = True
            del buffer[:2]
        elif len(buffer) >= 24 or not (
            _PNG_SIGNATURE.startswith(bytes(buffer[:8])) or b"\xff\xd8\xff".startswith(buffer[:3])
        ):
            self._finish()  # neither: no dimensions

    def _walk_jpeg(self) -> None:
        buffer = self._buffer
        while not self._skip:
            while len(buffer) >= 2 and buffer[0] == 0xFF and buffer[1] == 0xFF:
                del buffer[0]  # fill bytes before a marker
            if len(buffer) < 2:
                return
            if buffer[0] != 0xFF:
                self._finish()  # not a marker where one must be: give up
                return
            marker = buffer[1]
            if marker in _JPEG_STANDALONE:
                del buffer[:2]
                continue
            if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
                self._finish()
                return
            if marker in _JPEG_SOF:
                if len(buffer) < 9:
                    return
                height, width = struct.unpack(">HH", buffer[5:9])
                self._set_size(width, height)
                self._finish()
                return
            if len(buffer) < 4:
                return
            (length,) = struct.unpack(">H", buffer[2:4])
            if length < 2:
                self._finish()
                return
            del buffer[:4]
            skip = length - 2
            if len(buffer) >= skip:
                del buffer[:skip]
            else:
                self._skip = skip - len(buffer)
                buffer.clear()

    def _set_size(self, width: int, height: int) -> None:
        if width > 0 and height > 0:
            self.width, self.height = width, height

    def _finish(self) -> None:
        self._done = True
        self._buffer = bytearray()
