"""Rows to domain values: the one place that reads the workspace's ORM rows into what the
services return (hub/workspace/views.py) and into the export's line (`ExportedTask`).

An uploaded asset's `url` is where the hub serves its bytes. That path belongs to the hub's
URL layout, not to the workspace: the converters take it as `asset_url`, which the hub sets
to `hub.paths.asset_file_path` when it builds the workspace (hub/runtime.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ango_plugins_sdk.protocol.workspace import (
    AnnotationSet,
    Asset,
    AssetType,
    Category,
    ExportedTask,
    ProjectInfo,
    Tool,
)
from hub.db.workspace_tables import AssetRow, CategoryRow, Project, TaskRow
from hub.workspace.views import ProjectDetails, ProjectSummary, TaskView

AssetUrl = Callable[[str], str]
"""Where the hub serves an uploaded asset's bytes, given the asset's id."""


def project_summary(row: Project) -> ProjectSummary:
    return ProjectSummary(
        id=row.id,
        organization_id=row.organization_id,
        name=row.name,
        description=row.description,
        stages=list(row.stages),
        created_at=row.created_at,
    )


def project_details(
    row: Project, categories: list[Category], batches: list[str], task_count: int
) -> ProjectDetails:
    return ProjectDetails(
        id=row.id,
        organization_id=row.organization_id,
        name=row.name,
        description=row.description,
        stages=list(row.stages),
        categories=categories,
        batches=batches,
        task_count=task_count,
        created_at=row.created_at,
    )


def project_info(row: Project, categories: list[Category], batches: list[str]) -> ProjectInfo:
    return ProjectInfo(
        id=row.id, name=row.name, categories=categories, stages=list(row.stages), batches=batches
    )


def category(row: CategoryRow) -> Category:
    return Category(id=row.id, name=row.name, tool=Tool(row.tool), color=row.color)


def _url(
    asset_url: AssetUrl, asset_id: str, storage_key: str | None, url: str | None
) -> str | None:
    """An uploaded asset's path on the hub, else its own URL (None for markdown)."""
    return asset_url(asset_id) if storage_key is not None else url


def asset(row: AssetRow, asset_url: AssetUrl, *, with_markdown: bool = True) -> Asset:
    return Asset(
        id=row.id,
        type=AssetType(row.type),
        url=_url(asset_url, row.id, row.storage_key, row.url),
        markdown=row.markdown if with_markdown else None,
        external_id=row.external_id,
        width=row.width,
        height=row.height,
        metadata=row.metadata_ or {},
    )


def task_view(
    task: TaskRow, asset: Asset, batches: list[str], annotations: AnnotationSet | None = None
) -> TaskView:
    """A task; lists leave `annotations` out, a task read alone has them."""
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


def full_task_view(
    task: TaskRow, asset_row: AssetRow, batches: list[str], asset_url: AssetUrl
) -> TaskView:
    """A task read alone: with its annotations and the markdown of its asset."""
    annotations = AnnotationSet.model_validate(task.annotations)
    return task_view(task, asset(asset_row, asset_url), batches, annotations)


CategoryLabels = dict[str, tuple[str, str]]
"""A project's category id -> (name, tool): what an export line adds to each annotation."""


def category_labels(categories: list[Category]) -> CategoryLabels:
    return {c.id: (c.name, c.tool.value) for c in categories}


def exported_task(
    row: Sequence[Any], batches: list[str], labels: CategoryLabels, asset_url: AssetUrl
) -> ExportedTask:
    """One export line from a row of `hub.workspace.export.EXPORT_COLUMNS`."""
    return ExportedTask.model_validate(export_line(row, batches, labels, asset_url))


def export_line(
    row: Sequence[Any], batches: list[str], labels: CategoryLabels, asset_url: AssetUrl
) -> dict[str, Any]:
    """An export line's data, as plain JSON values, None values left out (as the NDJSON
    export writes it): what `ExportedTask` validates. The export's hot loop: the row is
    unpacked by position, and dicts are built in the models' field order, so the line
    reads as the models would write it (numbers stay as stored: a whole-number coordinate
    a plugin sent is not written as a float)."""
    (
        task_id,
        stage,
        annotations,
        updated_at,
        asset_id,
        asset_type,
        url,
        storage_key,
        external_id,
        width,
        height,
        markdown,
        metadata,
    ) = row
    stored = annotations or {}
    objects = []
    for obj in stored.get("objects", ()):
        name, tool = labels.get(obj["category_id"]) or ("", _tool_of(obj).value)
        line = {"category_id": obj["category_id"], "category": name, "tool": tool}
        for field in _OBJECT_FIELDS:
            if (value := obj.get(field)) is not None:
                line[field] = value
        objects.append(_with_source(line, obj))
    classifications = []
    for classification in stored.get("classifications", ()):
        name, _ = labels.get(classification["category_id"], ("", ""))
        line = {
            "category_id": classification["category_id"],
            "category": name,
            "value": classification["value"],
        }
        classifications.append(_with_source(line, classification))
    return {
        "task_id": task_id,
        "stage": stage,
        "batches": batches,
        "asset": _present(
            {
                "id": asset_id,
                "type": asset_type,
                "url": asset_url(asset_id) if storage_key is not None else url,
                "markdown": markdown,
                "external_id": external_id,
                "width": width,
                "height": height,
                "metadata": metadata or {},
            }
        ),
        "annotations": {"objects": objects, "classifications": classifications},
        "updated_at": updated_at.isoformat(),
    }


_OBJECT_FIELDS = ("bbox", "polygon", "point")
_HUMAN = {"kind": "human"}


def _with_source(line: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """`line` with the stored annotation's source and score, as the models write them: in
    field order, None left out, a missing source a person's. Annotations are stored in
    whatever order their writer used (a person's through the models, a plugin's by
    hub.job_types.predictions), so the line is built field by field."""
    source = stored.get("source")
    line["source"] = _present(source) if source else _HUMAN
    if (score := stored.get("score")) is not None:
        line["score"] = score
    return line


def _present(values: dict[str, Any]) -> dict[str, Any]:
    """`values` without the None ones (a scan in C first: most have none)."""
    if None not in values.values():
        return values
    return {name: value for name, value in values.items() if value is not None}


def _tool_of(obj: dict[str, Any]) -> Tool:
    """The tool of an object whose category is gone, from the geometry it carries."""
    if "bbox" in obj:
        return Tool.BBOX
    return Tool.POLYGON if "polygon" in obj else Tool.POINT
