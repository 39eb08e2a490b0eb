"""What a local run's job is made of: tasks, a project, a class mapping, images and CSVs
turned into the shapes the hub would put in the job (`_local.py` runs them)."""

from __future__ import annotations

import csv as csv_module
import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ango_plugins_sdk._plugins import Plugin
from ango_plugins_sdk.protocol.images import ImageSniffer
from ango_plugins_sdk.protocol.workspace import Category, ExportedTask, ProjectInfo, Tool

PROJECT_ID = "local-project"

Image = bytes | str | os.PathLike[str]
"""An image: its bytes, a path to it, or an `http(s)://` URL (the hub redirects to it)."""
TaskLike = ExportedTask | Mapping[str, Any]
ClassMapping = Mapping[str, str | Mapping[str, str]]
"""Model class -> a category id (its tool `bbox`), or `{"category_id", "tool"}`."""


def ndjson_lines(tasks: Iterable[TaskLike] | str | os.PathLike[str]) -> list[bytes]:
    if isinstance(tasks, str | os.PathLike):
        return [line for line in Path(tasks).read_bytes().splitlines() if line.strip()]
    return [
        (task if isinstance(task, ExportedTask) else ExportedTask.model_validate(task))
        .model_dump_json(exclude_none=True)
        .encode("utf-8")
        for task in tasks
    ]


def project_info(
    project: ProjectInfo | Mapping[str, Any] | None, tasks: list[ExportedTask]
) -> ProjectInfo:
    if isinstance(project, ProjectInfo):
        return project
    if project is not None:
        return ProjectInfo.model_validate(project)
    categories: dict[str, Category] = {}
    for task in tasks:
        for obj in task.annotations.objects:
            categories.setdefault(
                obj.category_id, Category(id=obj.category_id, name=obj.category, tool=obj.tool)
            )
        for c in task.annotations.classifications:
            categories.setdefault(
                c.category_id, Category(id=c.category_id, name=c.category, tool=Tool.CLASSIFICATION)
            )
    return ProjectInfo(
        id=PROJECT_ID,
        name="Local project",
        categories=list(categories.values()),
        stages=list(dict.fromkeys(task.stage for task in tasks)) or ["todo"],
        batches=list(dict.fromkeys(b for task in tasks for b in task.batches)),
    )


def mapping_input(
    plugin: Plugin[Any, Any], mapping: ClassMapping | None
) -> dict[str, dict[str, str]]:
    if mapping is None:
        mapping = {name: name for name in plugin.class_names}
    return {
        cls: {"category_id": target, "tool": "bbox"}
        if isinstance(target, str)
        else {"tool": "bbox", **target}
        for cls, target in mapping.items()
    }


def task_with_image(
    task: TaskLike | None, image: Image | None, index: int
) -> tuple[bytes | str, ExportedTask]:
    """(what the asset path serves, the task): bytes, or a URL the hub redirects to."""
    given = (
        None
        if task is None
        else task
        if isinstance(task, ExportedTask)
        else ExportedTask.model_validate(task)
    )
    if image is None:
        url = "" if given is None else given.asset.url or ""
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                "give the image (bytes, a path or an http(s) URL), "
                "or a task whose asset has an http(s) url"
            )
        assert given is not None
        return url, given
    if isinstance(image, str) and image.startswith(("http://", "https://")):
        served: bytes | str = image
        asset: dict[str, Any] = {"url": image}
    else:
        name = None if isinstance(image, bytes) else Path(image).name
        served = image if isinstance(image, bytes) else Path(image).read_bytes()
        width, height = image_size(served) or (None, None)
        asset = {
            "width": width,
            "height": height,
            "external_id": name,
            "metadata": {"filename": name} if name else {},
        }
    if given is not None:
        return served, given
    asset_id = f"asset-{index}"
    asset.setdefault("url", f"/api/v1/assets/{asset_id}/file")  # the hub's for an upload
    made = {
        "task_id": f"task-{index}",
        "stage": "todo",
        "asset": {"id": asset_id, "type": "image", **asset},
    }
    return served, ExportedTask.model_validate(made)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header, as the hub reads an upload's; or None."""
    sniffer = ImageSniffer()
    sniffer.feed(data)
    return (sniffer.width, sniffer.height) if sniffer.width and sniffer.height else None


def csv_rows(text: str) -> int | None:
    """Data rows after the header, counted as the hub does for an inline CSV."""
    reader = csv_module.reader(io.StringIO(text))
    try:
        if next(reader, None) is None:
            return 0
        return sum(1 for row in reader if row)
    except csv_module.Error:
        return None
