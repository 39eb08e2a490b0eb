"""Turning a model's predictions into a task's annotations (model and batch model jobs).

Predictions name model classes; the run's class mapping turns them into the project's
categories. A prediction whose class is not mapped is dropped and counted; one whose kind
does not fit its category's tool is rejected; geometry is clipped to the image, and what
lies wholly outside it is rejected. Every count, with the first reasons, is in the result.
The writes go through the workspace's one writer of task rows, inside the transaction that
also records the job's outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.protocol.workspace import ProjectInfo
from hub.jobs.committer import Effect
from hub.jobs.state import ActiveJob
from hub.services.errors import Invalid
from hub.workspace.task_rows import advance_task, write_plugin_annotations

MAX_REASONS = 20
_TOOL_OF_KIND = {
    "bbox": "bbox",
    "polygon": "polygon",
    "point": "point",
    "classification": "classification",
}


class Converted:
    def __init__(self) -> None:
        self.objects: list[dict[str, Any]] = []
        self.classifications: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.reasons: list[str] = []

    def reject(self, count: str, reason: str) -> None:
        self.counts[count] += 1
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason)

    def summary(self) -> dict[str, Any]:
        return {
            "written": len(self.objects) + len(self.classifications),
            "unmapped": self.counts["unmapped"],
            "rejected": self.counts["rejected"],
            "clipped": self.counts["clipped"],
            "reasons": self.reasons,
        }


def convert(
    predictions: list[dict[str, Any]],
    mapping: dict[str, dict[str, str]],
    *,
    width: int | None,
    height: int | None,
    source: dict[str, Any],
) -> Converted:
    """`mapping`: model class -> {"category_id", "tool"}."""
    out = Converted()
    for index, prediction in enumerate(predictions):
        kind = str(prediction.get("kind"))
        cls = prediction.get("cls")
        target = mapping.get(str(cls))
        if target is None:
            out.reject("unmapped", f"#{index}: class {cls!r} is not mapped to a category")
            continue
        if _TOOL_OF_KIND.get(str(kind)) != target["tool"]:
            out.reject(
                "rejected",
                f"#{index}: a {kind} prediction cannot go to {target['tool']} category "
                f"{target['category_id']}",
            )
            continue
        common = {"category_id": target["category_id"], "source": source}
        if prediction.get("score") is not None:
            common["score"] = prediction["score"]
        if kind == "classification":
            out.classifications.append({**common, "value": prediction["value"]})
            continue
        geometry = _clip(kind, prediction, width, height, out, index)
        if geometry is not None:
            out.objects.append({**common, **geometry})
    return out


def _clip(
    kind: str, p: dict[str, Any], width: int | None, height: int | None, out: Converted, index: int
) -> dict[str, Any] | None:
    if width is None or height is None:
        # Without the image's size nothing can be clipped; keep what the model said.
        if kind == "bbox":
            return {"bbox": {k: p[k] for k in ("x", "y", "w", "h")}}
        if kind == "point":
            return {"point": {"x": p["x"], "y": p["y"]}}
        return {"polygon": [list(pt) for pt in p["points"]]}
    if kind == "bbox":
        x1, y1 = max(0.0, p["x"]), max(0.0, p["y"])
        x2, y2 = min(float(width), p["x"] + p["w"]), min(float(height), p["y"] + p["h"])
        if x2 <= x1 or y2 <= y1:
            out.reject("rejected", f"#{index}: box lies outside the {width}x{height} image")
            return None
        if (x1, y1, x2, y2) != (p["x"], p["y"], p["x"] + p["w"], p["y"] + p["h"]):
            out.counts["clipped"] += 1
        return {"bbox": {"x": x1, "y": y1, "w": x2 - x1, "h": y2 - y1}}
    if kind == "point":
        if not (0 <= p["x"] <= width and 0 <= p["y"] <= height):
            out.reject("rejected", f"#{index}: point lies outside the {width}x{height} image")
            return None
        return {"point": {"x": p["x"], "y": p["y"]}}
    points = [(min(max(x, 0.0), width), min(max(y, 0.0), height)) for x, y in p["points"]]
    if len(set(points)) < 3:
        out.reject("rejected", f"#{index}: polygon lies outside the {width}x{height} image")
        return None
    if points != [tuple(pt) for pt in p["points"]]:
        out.counts["clipped"] += 1
    return {"polygon": [list(pt) for pt in points]}


def class_mapping(
    project: ProjectInfo, requested: dict[str, str], class_names: list[str], where: str
) -> dict[str, dict[str, str]]:
    """Model class -> {category_id, tool}, checked: the category is in the project and the
    class is one the plugin declares (when it declares any)."""
    prefix = f"{where}." if where else ""
    categories = {c.id: c for c in project.categories}
    mapping: dict[str, dict[str, str]] = {}
    for model_class, category_id in requested.items():
        if class_names and model_class not in class_names:
            raise Invalid(
                f"{prefix}class_mapping: the plugin has no class {model_class!r} "
                f"(its classes: {', '.join(class_names)})"
            )
        category = categories.get(category_id)
        if category is None:
            raise Invalid(
                f"{prefix}class_mapping.{model_class}: category {category_id!r} is not in "
                f"project {project.id}"
            )
        mapping[model_class] = {"category_id": category.id, "tool": category.tool.value}
    return mapping


def converted(
    job: ActiveJob, predictions: list[dict[str, Any]], asset: dict[str, Any]
) -> Converted:
    """The job's predictions for one task's asset, as annotations made by its plugin."""
    source = {"kind": "plugin", "plugin_id": job.plugin_id, "plugin_version": job.plugin_version}
    return convert(
        predictions,
        job.input["class_mapping"],
        width=asset.get("width"),
        height=asset.get("height"),
        source=source,
    )


def write(
    job: ActiveJob,
    writes: Iterable[tuple[str, Converted]],
    *,
    advance: tuple[str, str, str] | None = None,
) -> Effect:
    """Each task's annotations (replacing this plugin's earlier ones when the job says
    overwrite), and perhaps moving one task on from a plugin stage (task, from, to)."""
    overwrite = bool(job.input.get("overwrite", True))
    pending = list(writes)

    async def effect(session: AsyncSession) -> None:
        for task_id, made in pending:
            await write_plugin_annotations(
                session,
                task_id,
                made.objects,
                made.classifications,
                plugin_id=job.plugin_id,
                overwrite=overwrite,
            )
        if advance is not None:
            task_id, from_stage, to_stage = advance
            await advance_task(session, task_id, from_stage=from_stage, to_stage=to_stage)

    return effect
