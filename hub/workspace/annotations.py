"""A task's annotations: the checks a person's edit passes, and how a plugin's pre-labels
join what is there. Pure: the writes are hub/workspace/task_rows.py's."""

from __future__ import annotations

from typing import Any

from ango_plugins_sdk.protocol.workspace import (
    AnnotationObject,
    AnnotationSet,
    Category,
    Classification,
    Tool,
)
from hub.services.errors import Invalid

MAX_PROBLEMS_SHOWN = 5


def check_annotations(
    annotations: AnnotationSet, categories: dict[str, Category], project_id: str
) -> None:
    """Invalid unless every object and classification names one of the project's categories
    and fits its tool; the message lists the first few problems."""
    problems: list[str] = []
    for index, obj in enumerate(annotations.objects):
        if problem := _object_problem(obj, categories, project_id):
            problems.append(f"objects[{index}]: {problem}")
    for index, item in enumerate(annotations.classifications):
        if problem := _classification_problem(item, categories, project_id):
            problems.append(f"classifications[{index}]: {problem}")
    if problems:
        more = (
            f" (and {len(problems) - MAX_PROBLEMS_SHOWN} more)"
            if len(problems) > MAX_PROBLEMS_SHOWN
            else ""
        )
        raise Invalid("invalid annotations: " + "; ".join(problems[:MAX_PROBLEMS_SHOWN]) + more)


def _object_problem(
    obj: AnnotationObject, categories: dict[str, Category], project_id: str
) -> str | None:
    category = categories.get(obj.category_id)
    if category is None:
        return _not_a_category(obj.category_id, project_id)
    if category.tool is Tool.CLASSIFICATION:
        return f"category {category.name!r} is a classification; put it in classifications"
    if category.tool is not obj.tool:
        return (
            f"category {category.name!r} uses the {category.tool.value} tool "
            f"but the object has a {obj.tool.value}"
        )
    return None


def _classification_problem(
    item: Classification, categories: dict[str, Category], project_id: str
) -> str | None:
    category = categories.get(item.category_id)
    if category is None:
        return _not_a_category(item.category_id, project_id)
    if category.tool is not Tool.CLASSIFICATION:
        return (
            f"category {category.name!r} uses the {category.tool.value} tool; "
            "a classification needs a classification category"
        )
    return None


def _not_a_category(category_id: str, project_id: str) -> str:
    return f"category_id {category_id!r} is not a category of project {project_id}"


def with_plugin_annotations(
    current: dict[str, Any],
    objects: list[dict[str, Any]],
    classifications: list[dict[str, Any]],
    *,
    plugin_id: str,
    overwrite: bool,
) -> dict[str, Any]:
    """A stored annotation document with a plugin's objects and classifications added. With
    `overwrite`, what this plugin wrote before goes; people's annotations always stay."""

    def kept(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not overwrite:
            return items
        return [item for item in items if (item.get("source") or {}).get("plugin_id") != plugin_id]

    return {
        "objects": kept(current.get("objects", [])) + objects,
        "classifications": kept(current.get("classifications", [])) + classifications,
    }
