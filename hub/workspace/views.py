"""What the workspace's services return: frozen values, never ORM rows, so nothing a caller
holds is tied to a database session or can be written back by accident.

Assets, categories and annotations are the protocol's shapes (`ango_plugins_sdk.protocol
.workspace`), the ones the REST JSON, the export and the SDK share.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from ango_plugins_sdk.protocol.workspace import AnnotationSet, Asset, Category


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    """A project as a list shows it."""

    id: str
    organization_id: str
    name: str
    description: str
    stages: list[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ProjectDetails:
    """A project read alone: with its categories, the batch names in use and its task count."""

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
