"""Export plugin: a project's annotations as COCO JSON or a YOLO dataset zip.

Run it with `PLUGIN_ID`, `PLUGIN_SECRET` and `HUB_URL` in the environment:

    python examples/export/plugin.py

Config: `{"format": "coco" | "yolo", "polygons_as_boxes": false, "include_polygons": true}`.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool, field_validator

from ango_plugins_sdk import ExportJob, ExportPlugin, ExportResult, run
from ango_plugins_sdk.protocol.workspace import ExportedTask

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, HERE)
from converters import write_coco, write_yolo  # noqa: E402


class ExportConfig(BaseModel):
    """The job's config. Unknown keys are refused, so a typo doesn't silently do nothing.

    The SDK validates each job's config into it (`config_model`): a bad one fails the job with
    every problem named, before the callback runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["coco", "yolo"] = "coco"
    polygons_as_boxes: StrictBool = False
    """YOLO: export polygons as their bounding boxes (otherwise they are left out)."""
    include_polygons: StrictBool = True
    """COCO: export polygons as segmentations (with their bounds as bbox)."""

    @field_validator("format", mode="before")
    @classmethod
    def _lowercase(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


def artifact_name(project_name: str, fmt: str) -> str:
    """`<project name>-coco.json` or `<project name>-yolo.zip`, safe as a file name."""
    safe = re.sub(r'[\x00-\x1f\x7f/\\<>:"|?*]+', "_", project_name).strip(". ")[:150]
    return f"{safe or 'export'}-{fmt}." + ("json" if fmt == "coco" else "zip")


class ExportCancelled(RuntimeError):
    """The hub asked to cancel the job; the partial file is thrown away."""


def _tracked(job: ExportJob[Any]) -> Iterator[ExportedTask]:
    """The job's tasks, reporting progress about every 1% and stopping on a cancel."""
    total = job.num_tasks
    step = max(1, total // 100)
    done = 0
    for task in job.tasks():
        if job.cancelled:
            raise ExportCancelled(f"export cancelled after {done} of {total} tasks")
        yield task
        done += 1
        if done % step == 0:
            job.progress(done, max(total, done))
    job.progress(done, max(total, done, 1))


def export(job: ExportJob[ExportConfig]) -> ExportResult:
    config = job.config
    project = job.project
    job.logger.info(
        "exporting %d tasks of project %r as %s", job.num_tasks, project.name, config.format
    )
    started = time.monotonic()
    # An anonymous temporary file: gone as soon as it is closed, which happens when the SDK is
    # done uploading it and drops the result (or if this process dies), so no export is ever
    # left behind on the plugin's disk. A path would stay there after the upload.
    out = tempfile.TemporaryFile(prefix="export-", buffering=1 << 20)  # noqa: SIM115
    try:
        if config.format == "coco":
            summary: Any = write_coco(
                _tracked(job),
                project.categories,
                out,
                include_polygons=config.include_polygons,
                info={"description": project.name, "hub_project_id": project.id},
            )
        else:
            summary = write_yolo(
                _tracked(job),
                project.categories,
                out,
                polygons_as_boxes=config.polygons_as_boxes,
                logger=job.logger,
            )
        out.flush()
        size = out.tell()
        out.seek(0)
    except BaseException:
        out.close()
        raise
    counts = {k: v for k, v in summary.as_dict().items() if v and not isinstance(v, list)}
    job.logger.info(
        "wrote %s (%d bytes) in %.1f s: %s",
        config.format,
        size,
        time.monotonic() - started,
        ", ".join(f"{k}={v}" for k, v in counts.items()) or "nothing",
    )
    return ExportResult(
        file=out,
        filename=artifact_name(project.name, config.format),
        content_type="application/json" if config.format == "coco" else "application/zip",
    )


export_plugin = ExportPlugin(callback=export, config_model=ExportConfig, concurrency=2)

if __name__ == "__main__":
    run(export_plugin)
