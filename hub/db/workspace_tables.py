"""The workspace's tables: projects, categories, assets, tasks and their batches.

One task per asset. A task's annotations are one JSON document (an `AnnotationSet` dump):
they are always read and written whole, and the export streams them task by task.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.tables import Base, utcnow
from hub.security import new_id

DEFAULT_STAGES = ("todo", "in_progress", "review", "done")


def _default_stages() -> list[str]:
    return list(DEFAULT_STAGES)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (Index("ix_projects_org_id", "organization_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    stages: Mapped[list[str]] = mapped_column(default=_default_stages)
    """Stage names in workflow order: the default four, then the project's own."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CategoryRow(Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_categories_project_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(200))
    tool: Mapped[str] = mapped_column(String(20))
    color: Mapped[str] = mapped_column(String(7))
    position: Mapped[int] = mapped_column(Integer)


class AssetRow(Base):
    __tablename__ = "assets"
    __table_args__ = (Index("ix_assets_project_external_id", "project_id", "external_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    organization_id: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(20))
    url: Mapped[str | None] = mapped_column(String(4000), default=None)
    """The image's own URL; None for uploaded files (served by the hub) and markdown."""
    storage_key: Mapped[str | None] = mapped_column(String(500), default=None)
    content_type: Mapped[str | None] = mapped_column(String(100), default=None)
    size: Mapped[int | None] = mapped_column(default=None)
    external_id: Mapped[str | None] = mapped_column(String(500), default=None)
    width: Mapped[int | None] = mapped_column(default=None)
    height: Mapped[int | None] = mapped_column(default=None)
    markdown: Mapped[str | None] = mapped_column(Text, default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_by_job: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskRow(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_project_id", "project_id", "id"),
        Index("ix_tasks_project_stage", "project_id", "stage", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), unique=True)
    stage: Mapped[str] = mapped_column(String(100))
    annotations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stage_job_id: Mapped[str | None] = mapped_column(String(32), default=None)
    """The job its current plugin stage queued for it, if any (its error shows why it waits)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TaskBatch(Base):
    __tablename__ = "task_batches"
    __table_args__ = (Index("ix_task_batches_project_batch", "project_id", "batch", "task_id"),)

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    batch: Mapped[str] = mapped_column(String(200), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(32))


class PluginStage(Base):
    """A stage whose tasks a model plugin pre-labels as they enter it, then moves on."""

    __tablename__ = "plugin_stages"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(100), primary_key=True)
    plugin_id: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    class_mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    overwrite: Mapped[bool] = mapped_column(default=True)
    next_stage: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
