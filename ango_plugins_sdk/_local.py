"""Run a plugin's callback with no hub: `ango_plugins_sdk.testing.run_export(...)` and kin.

Each `run_*` builds, from plain data or files, the job a hub would send for its type (the
same `input`, with an `io` block of data paths when the type has one), runs it through the
SDK's real runner (`_local_run`) against a loopback stand-in for the hub's data paths
(`_local_io`), and returns what the hub would have received.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ango_plugins_sdk._explorer import FileExplorerPlugin
from ango_plugins_sdk._export import ExportPlugin
from ango_plugins_sdk._local_data import (
    PROJECT_ID,
    ClassMapping,
    Image,
    TaskLike,
    csv_rows,
    mapping_input,
    ndjson_lines,
    project_info,
    task_with_image,
)
from ango_plugins_sdk._local_io import LocalIO
from ango_plugins_sdk._local_run import (
    DEFAULT_TIMEOUT,
    BatchModelRun,
    ExportRun,
    ImportRun,
    ListingRun,
    LocalRun,
    MarkdownRun,
    ModelRun,
    R,
    execute,
)
from ango_plugins_sdk._markdown import MarkdownPlugin
from ango_plugins_sdk._model import BatchModelPlugin, ModelPlugin
from ango_plugins_sdk._plugins import Plugin
from ango_plugins_sdk.protocol import Job, JobType
from ango_plugins_sdk.protocol.workspace import ExportedTask, ProjectInfo

JOB_ID = "local-job"

Config = Mapping[str, Any] | BaseModel | None
"""A job's config as a user would submit it (a pydantic model is dumped to its JSON)."""


# --- the runs -----------------------------------------------------------------------------


def run_custom(
    plugin: Plugin[Any, Any],
    *,
    config: Config = None,
    input: Mapping[str, Any] | None = None,
    operation: str | None = None,
    project_id: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cancel_after: float | None = None,
    attempt: int = 1,
) -> LocalRun:
    """A custom job: `input` as given (with `project_id` added if one is given)."""
    job_input = dict(input or {})
    if project_id is not None:
        job_input["project_id"] = project_id
    return _run(
        plugin,
        JobType.CUSTOM,
        LocalRun,
        None,
        config,
        job_input,
        operation,
        timeout,
        cancel_after,
        attempt,
    )


def run_export(
    plugin: ExportPlugin[Any],
    *,
    tasks: Iterable[TaskLike] | str | os.PathLike[str] = (),
    project: ProjectInfo | Mapping[str, Any] | None = None,
    config: Config = None,
    stages: Sequence[str] | None = None,
    batches: Sequence[str] | None = None,
    operation: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cancel_after: float | None = None,
    attempt: int = 1,
) -> ExportRun:
    """An export job over `tasks` (`ExportedTask`s, their dicts, or a path to an NDJSON file
    of them), with the hub's `stages`/`batches` filters. Without a `project`, one is made
    up from the tasks: their categories, stages and batches."""
    lines = ndjson_lines(tasks)
    parsed = [(ExportedTask.model_validate_json(line), line) for line in lines]
    chosen = [
        (task, line)
        for task, line in parsed
        if (not stages or task.stage in stages)
        and (not batches or any(b in batches for b in task.batches))
    ]
    info = project_info(project, [task for task, _ in parsed])
    data = _io(JobType.EXPORT, attempt, tasks=b"".join(line + b"\n" for _, line in chosen))
    job_input = {
        "project_id": info.id,
        "stages": list(stages) if stages is not None else None,
        "batches": list(batches) if batches is not None else None,
        "project": info.model_dump(mode="json"),
        "num_tasks": len(chosen),
    }
    return _run(
        plugin,
        JobType.EXPORT,
        ExportRun,
        data,
        config,
        job_input,
        operation,
        timeout,
        cancel_after,
        attempt,
    )


def run_model(
    plugin: ModelPlugin[Any],
    *,
    image: Image | None = None,
    task: TaskLike | None = None,
    class_mapping: ClassMapping | None = None,
    config: Config = None,
    operation: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cancel_after: float | None = None,
    attempt: int = 1,
) -> ModelRun:
    """A model job on one task and its image. Without a `task`, one is made for the image
    (`task-1`, its asset `asset-1`, the size read from a PNG or JPEG header). Without a
    `class_mapping`, each of the plugin's `class_names` maps to a category of that name."""
    served, exported = task_with_image(task, image, 1)
    data = _io(JobType.MODEL, attempt, assets={"": served})
    job_input = {
        "task_id": exported.task_id,
        "project_id": PROJECT_ID,
        "class_mapping": mapping_input(plugin, class_mapping),
        "overwrite": True,
        "advance": None,
        "task": exported.model_dump(mode="json", exclude_none=True),
    }
    return _run(
        plugin,
        JobType.MODEL,
        ModelRun,
        data,
        config,
        job_input,
        operation,
        timeout,
        cancel_after,
        attempt,
    )


def run_batch_model(
    plugin: BatchModelPlugin[Any],
    *,
    tasks: Sequence[Image | tuple[TaskLike | None, Image | None]],
    class_mapping: ClassMapping | None = None,
    config: Config = None,
    timeout: float = DEFAULT_TIMEOUT,
    cancel_after: float | None = None,
    attempt: int = 1,
) -> BatchModelRun:
    """One chunk of a batch run: `tasks` are images, or `(task, image)` pairs (a `None`
    task is made for its image, `task-N`; a `None` image is the task's asset URL)."""
    assets: dict[str, bytes | str] = {}
    chunk: list[dict[str, Any]] = []
    for index, entry in enumerate(tasks, start=1):
        task, image = entry if isinstance(entry, tuple) else (None, entry)
        served, exported = task_with_image(task, image, index)
        assets[exported.asset.id] = served
        chunk.append(exported.model_dump(mode="json", exclude_none=True))
    data = _io(JobType.BATCH_MODEL, attempt, assets=assets)
    job_input = {
        "project_id": PROJECT_ID,
        "class_mapping": mapping_input(plugin, class_mapping),
        "overwrite": True,
        "tasks": chunk,
        "parent_id": "local-run",
    }
    return _run(
        plugin,
        JobType.BATCH_MODEL,
        BatchModelRun,
        data,
        config,
        job_input,
        "chunk",
        timeout,
        cancel_after,
        attempt,
    )


def run_markdown(
    plugin: MarkdownPlugin[Any],
    *,
    csv: str | bytes | os.PathLike[str] = "",
    template: str = "",
    config: Config = None,
    operation: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cancel_after: float | None = None,
    attempt: int = 1,
) -> MarkdownRun:
    """A markdown job. `csv` as a `str` is the CSV typed in (`csv_text`: the hub counts its
    rows, `job.num_rows`); as bytes or a path, an uploaded file (`csv_file_id`: not counted).
    With `"dedupe": true` in the config, a repeated external id is skipped, as the hub does."""
    raw = _config(config)
    job_input: dict[str, Any] = {"project_id": PROJECT_ID, "template": template}
    if isinstance(csv, str):
        body = csv.encode("utf-8")
        job_input.update(csv_text=csv, num_rows=csv_rows(csv))
    else:
        body = bytes(csv) if isinstance(csv, bytes) else Path(csv).read_bytes()
        job_input["csv_file_id"] = "local-file"
    data = _io(JobType.MARKDOWN, attempt, csv=body, dedupe=bool(raw.get("dedupe", False)))
    return _run(
        plugin,
        JobType.MARKDOWN,
        MarkdownRun,
        data,
        raw,
        job_input,
        operation,
        timeout,
        cancel_after,
        attempt,
    )


def run_file_explorer_list(
    plugin: FileExplorerPlugin[Any],
    *,
    folder: str = "",
    page_token: str | None = None,
    page_size: int = 100,
    config: Config = None,
    timeout: float = DEFAULT_TIMEOUT,
    cancel_after: float | None = None,
    attempt: int = 1,
) -> ListingRun:
    """A file explorer `list` job: one page of `folder` (no data paths)."""
    job_input = {
        "project_id": PROJECT_ID,
        "folder": folder,
        "page_token": page_token,
        "page_size": page_size,
    }
    return _run(
        plugin,
        JobType.FILE_EXPLORER,
        ListingRun,
        None,
        config,
        job_input,
        "list",
        timeout,
        cancel_after,
        attempt,
    )


def run_file_explorer_import(
    plugin: FileExplorerPlugin[Any],
    *,
    folder: str = "",
    recursive: bool = False,
    files: Sequence[str] = (),
    extensions: Sequence[str] = (),
    batch: str | None = None,
    dedupe: bool = False,
    config: Config = None,
    timeout: float = DEFAULT_TIMEOUT,
    cancel_after: float | None = None,
    attempt: int = 1,
) -> ImportRun:
    """A file explorer `import` job. What the hub receives is in `.imported`; `dedupe`
    skips a repeated external id and `batch` is checked, as the hub applies them."""
    job_input = {
        "project_id": PROJECT_ID,
        "folder": folder,
        "recursive": recursive,
        "files": list(files),
        "extensions": list(extensions),
        "batch": batch,
        "dedupe": dedupe,
    }
    data = _io(JobType.FILE_EXPLORER, attempt, operation="import", dedupe=dedupe, batch=batch)
    return _run(
        plugin,
        JobType.FILE_EXPLORER,
        ImportRun,
        data,
        config,
        job_input,
        "import",
        timeout,
        cancel_after,
        attempt,
    )


# --- building jobs --------------------------------------------------------------------------


def _run(
    plugin: Plugin[Any, Any],
    job_type: JobType,
    run_class: type[R],
    data: LocalIO | None,
    config: Config,
    job_input: dict[str, Any],
    operation: str | None,
    timeout: float,
    cancel_after: float | None,
    attempt: int,
) -> R:
    paths = None if data is None else data.paths()
    job = Job(
        job_id=JOB_ID,
        attempt=attempt,
        job_type=job_type,
        operation=operation,
        config=_config(config),
        input=job_input if paths is None else {**job_input, "io": paths},
        timeout_s=timeout,
    )
    return execute(plugin, run_class, job=job, io=data, timeout=timeout, cancel_after=cancel_after)


def _io(job_type: JobType, attempt: int, **data: Any) -> LocalIO:
    return LocalIO(job_type, JOB_ID, attempt, secrets.token_urlsafe(16), **data)


def _config(config: Config) -> dict[str, Any]:
    if isinstance(config, BaseModel):
        return config.model_dump(mode="json")
    return dict(config or {})
