"""Projects: create one with its categories and stages, list them, read one; and the one
check that a stage name is one of a project's stages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.protocol.workspace import Category, ProjectInfo
from hub.db import Store, utcnow
from hub.db.paging import newest_first
from hub.db.workspace_tables import DEFAULT_STAGES, CategoryRow, Project
from hub.security import new_id
from hub.services.accounts import Principal
from hub.services.errors import Invalid
from hub.workspace import queries, rows
from hub.workspace.ids import sequential_ids
from hub.workspace.requests import ProjectCreate
from hub.workspace.views import ProjectDetails, ProjectSummary

PALETTE = (
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
"""Colors given in turn to categories created without one."""


class Staged(Protocol):
    """A project as `check_stages` needs it: a row, a `ProjectInfo` or `ProjectDetails`."""

    @property
    def id(self) -> str: ...

    @property
    def stages(self) -> list[str]: ...


def check_stages(project: Staged, names: Iterable[str], *, field: str | None = None) -> None:
    """Invalid unless each of `names` is one of the project's stages. The message names the
    input `field` that gave the name, if there is one, else lists the project's stages."""
    for name in names:
        if name in project.stages:
            continue
        if field is not None:
            raise Invalid(f"{field}: project has no stage {name!r}")
        raise Invalid(
            f"unknown stage {name!r}; project {project.id} has stages " + ", ".join(project.stages)
        )


class ProjectService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, principal: Principal, spec: ProjectCreate) -> ProjectDetails:
        """The project, with the default stages first, then its own."""
        project = Project(
            id=new_id(),
            organization_id=principal.organization_id,
            name=spec.name,
            description=spec.description,
            stages=[*DEFAULT_STAGES, *(s for s in spec.stages if s not in DEFAULT_STAGES)],
            created_at=utcnow(),
        )
        categories = [
            Category(
                id=category_id,
                name=category.name,
                tool=category.tool,
                color=category.color or PALETTE[position % len(PALETTE)],
            )
            for position, (category, category_id) in enumerate(
                zip(spec.categories, sequential_ids(len(spec.categories)), strict=True)
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
        return rows.project_details(project, categories, batches=[], task_count=0)

    async def page(
        self, principal: Principal, *, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[ProjectSummary], str | None]:
        """One page of the organization's projects, newest first, and the next page's cursor."""
        query = select(Project).where(Project.organization_id == principal.organization_id)
        found, next_cursor = await newest_first(
            self._store, query, Project.id, cursor=cursor, limit=limit
        )
        return [rows.project_summary(row) for row in found], next_cursor

    async def get(self, principal: Principal, project_id: str) -> ProjectDetails:
        async with self._store.read() as session:
            project, categories, batches = await _with_schema(
                session, principal.organization_id, project_id
            )
            task_count = await queries.task_count(session, project_id)
        return rows.project_details(project, categories, batches, task_count)

    async def info(self, organization_id: str, project_id: str) -> ProjectInfo:
        """What a plugin learns about a project: categories, stages, batch names in use."""
        async with self._store.read() as session:
            project, categories, batches = await _with_schema(session, organization_id, project_id)
        return rows.project_info(project, categories, batches)


async def _with_schema(
    session: AsyncSession, organization_id: str, project_id: str
) -> tuple[Project, list[Category], list[str]]:
    """The organization's project (else NotFound), its categories and its batch names."""
    project = await queries.project_row(session, organization_id, project_id)
    categories = await queries.categories(session, project_id)
    return project, categories, await queries.batches_in_use(session, project_id)
