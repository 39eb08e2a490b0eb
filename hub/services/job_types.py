"""What each job type needs: its inputs at submit, its data paths at dispatch, and the
checks its output passes before the hub applies it."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.protocol import JobType
from ango_plugins_sdk.protocol.listing import ListingPage
from ango_plugins_sdk.protocol.workspace import ExportedTask, ProjectInfo
from hub.jobs.engine import Applied
from hub.jobs.state import ActiveJob
from hub.jobs.tokens import JobTokens
from hub.paths import job_data_path
from hub.services.errors import Invalid
from hub.services.files import FileService
from hub.services.model_outputs import convert
from hub.storage import Storage
from hub.workspace import Workspace
from hub.workspace.projects import check_stages
from hub.workspace.task_rows import advance_task, write_plugin_annotations

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger("hub.jobs")

UPLOAD_URL_TTL = 6 * 3600
_CSV_SNIFF_BYTES = 64 * 1024


class InvalidOutput(ValueError):
    """A plugin's output does not fit its job type; the job fails with this message."""


class _ExportInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stages: list[str] | None = None
    batches: list[str] | None = None


class _Advance(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_stage: str = Field(alias="from", min_length=1, max_length=100)
    to_stage: str = Field(alias="to", min_length=1, max_length=100)


class _ModelInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(min_length=1, max_length=64)
    class_mapping: dict[str, str] = {}
    """Model class -> the project's category id."""
    overwrite: bool = True
    advance: _Advance | None = None
    """Move the task from one stage to another when the job succeeds (plugin stages)."""


class _BatchInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_ids: list[str] | None = Field(default=None, max_length=100_000)
    stages: list[str] | None = None
    batches: list[str] | None = None
    class_mapping: dict[str, str] = {}
    overwrite: bool = True


class _ListInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str = Field(default="", max_length=2_000)
    page_token: str | None = Field(default=None, max_length=10_000)
    page_size: int = Field(default=100, ge=1, le=1_000)


class _ImportInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str = Field(default="", max_length=2_000)
    recursive: bool = False
    files: list[str] = Field(default=[], max_length=10_000)
    extensions: list[str] = []
    batch: str | None = Field(default=None, min_length=1, max_length=200)
    dedupe: bool = False


class _MarkdownInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(min_length=1, max_length=1_000_000)
    csv_text: str | None = Field(default=None, max_length=50_000_000)
    csv_file_id: str | None = None


class JobTypeRules:
    def __init__(
        self, workspace: Workspace, files: FileService, storage: Storage, tokens: JobTokens
    ) -> None:
        self._workspace = workspace
        self._files = files
        self._storage = storage
        self._tokens = tokens
        # Attempts whose predecessors' assets are already gone (memory only: after a
        # restart the removal runs once more, finds nothing, and is harmless).
        self._fresh_attempts: set[str] = set()

    # --- at submit ---------------------------------------------------------------------

    async def prepare_input(
        self,
        organization_id: str,
        job_type: JobType,
        project_id: str | None,
        raw_input: dict[str, Any],
        *,
        operation: str | None = None,
        class_names: list[str] | None = None,
        where: str = "input",
    ) -> dict[str, Any]:
        """The job's stored input: validated, with what the plugin needs up front."""
        if job_type == JobType.MODEL:
            return await self._prepare_model(
                organization_id, project_id, raw_input, class_names or [], where
            )
        if job_type == JobType.FILE_EXPLORER:
            return await self._prepare_explorer(
                organization_id, project_id, operation, raw_input, where
            )
        if job_type == JobType.EXPORT:
            return await self._prepare_export(organization_id, project_id, raw_input, where)
        if job_type == JobType.MARKDOWN:
            return await self._prepare_markdown(organization_id, project_id, raw_input, where)
        prepared = dict(raw_input)
        if project_id is not None:
            await self._workspace.projects.info(organization_id, project_id)  # 404 if not ours
            prepared["project_id"] = project_id
        return prepared

    async def _prepare_export(
        self, organization_id: str, project_id: str | None, raw: dict[str, Any], where: str
    ) -> dict[str, Any]:
        project = await self._project(organization_id, project_id, "an export job")
        filters = _parse(_ExportInput, raw, where)
        check_stages(project, filters.stages or (), field=f"{where}.stages")
        count = await self._workspace.exports.count(
            organization_id, project.id, stages=filters.stages, batches=filters.batches
        )
        return {
            "project_id": project.id,
            "stages": filters.stages,
            "batches": filters.batches,
            "project": project.model_dump(mode="json"),
            "num_tasks": count,
        }

    async def _prepare_model(
        self,
        organization_id: str,
        requested_project: str | None,
        raw: dict[str, Any],
        class_names: list[str],
        where: str,
    ) -> dict[str, Any]:
        spec = _parse(_ModelInput, raw, where)
        project_id, task = await self._workspace.exports.task(organization_id, spec.task_id)
        if requested_project is not None and requested_project != project_id:
            raise Invalid(f"task {spec.task_id} is not in project {requested_project}")
        project = await self._workspace.projects.info(organization_id, project_id)
        if spec.advance is not None:
            advance = (spec.advance.from_stage, spec.advance.to_stage)
            check_stages(project, advance, field=f"{where}.advance")
        mapping = _mapping(project, spec.class_mapping, class_names, where)
        return {
            "task_id": spec.task_id,
            "project_id": project_id,
            "class_mapping": mapping,
            "overwrite": spec.overwrite,
            "advance": spec.advance.model_dump(by_alias=True) if spec.advance else None,
            "task": task.model_dump(mode="json", exclude_none=True),
        }

    async def _project(
        self, organization_id: str, project_id: str | None, kind: str
    ) -> ProjectInfo:
        """The job's project: required, and the caller's (another's is a 404)."""
        if not project_id:
            raise Invalid(f"{kind} needs a project_id")
        return await self._workspace.projects.info(organization_id, project_id)

    async def prepare_batch(
        self,
        organization_id: str,
        project_id: str | None,
        raw: dict[str, Any],
        *,
        class_names: list[str],
        chunk_size: int,
        where: str = "input",
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A batch run's own input and its chunks' inputs."""
        project = await self._project(organization_id, project_id, "a batch model job")
        project_id = project.id
        spec = _parse(_BatchInput, raw, where)
        mapping = _mapping(project, spec.class_mapping, class_names, where)
        tasks: list[ExportedTask] = []
        if spec.task_ids is not None:
            for task_id in dict.fromkeys(spec.task_ids):
                task_project, task = await self._workspace.exports.task(organization_id, task_id)
                if task_project != project_id:
                    raise Invalid(
                        f"{where}.task_ids: task {task_id} is not in project {project_id}"
                    )
                tasks.append(task)
        else:
            async for task in self._workspace.exports.stream(
                organization_id, project_id, stages=spec.stages, batches=spec.batches
            ):
                tasks.append(task)
        common = {"project_id": project_id, "class_mapping": mapping, "overwrite": spec.overwrite}
        run = {**common, "stages": spec.stages, "batches": spec.batches, "chunk_size": chunk_size}
        chunks = [
            {**common, "tasks": [t.model_dump(mode="json", exclude_none=True) for t in group]}
            for group in (tasks[i : i + chunk_size] for i in range(0, len(tasks), chunk_size))
        ]
        return run, chunks

    async def _prepare_explorer(
        self,
        organization_id: str,
        project_id: str | None,
        operation: str | None,
        raw: dict[str, Any],
        where: str,
    ) -> dict[str, Any]:
        await self._project(organization_id, project_id, "a file explorer job")
        if operation == "list":
            listed = _parse(_ListInput, raw, where)
            return {"project_id": project_id, **listed.model_dump()}
        if operation == "import":
            spec = _parse(_ImportInput, raw, where)
            return {"project_id": project_id, **spec.model_dump()}
        raise Invalid(f"a file explorer job's operation is 'list' or 'import', not {operation!r}")

    async def _prepare_markdown(
        self, organization_id: str, project_id: str | None, raw: dict[str, Any], where: str
    ) -> dict[str, Any]:
        await self._project(organization_id, project_id, "a markdown job")
        spec = _parse(_MarkdownInput, raw, where)
        if (spec.csv_text is None) == (spec.csv_file_id is None):
            raise Invalid(f"{where}: give exactly one of csv_text or csv_file_id")
        prepared: dict[str, Any] = {"project_id": project_id, "template": spec.template}
        if spec.csv_text is not None:
            prepared["csv_text"] = spec.csv_text
            prepared["num_rows"] = _check_csv(spec.csv_text, f"{where}.csv_text", complete=True)
        else:
            assert spec.csv_file_id is not None
            stored = await self._files.get(organization_id, spec.csv_file_id)
            head = b""
            async for chunk in self._files.read(stored):
                head += chunk
                if len(head) >= _CSV_SNIFF_BYTES:
                    break
            text = codecs.getincrementaldecoder("utf-8-sig")().decode(head[:_CSV_SNIFF_BYTES])
            _check_csv(text, f"file {stored.filename!r}", complete=len(head) < _CSV_SNIFF_BYTES)
            prepared["csv_file_id"] = stored.id
        return prepared

    # --- at dispatch -------------------------------------------------------------------

    def dispatch_input(self, job: ActiveJob) -> dict[str, Any]:
        """The input sent with this attempt: the stored input plus its data paths."""
        if job.type == JobType.CUSTOM or (
            job.type == JobType.FILE_EXPLORER and job.operation == "list"
        ):
            return job.input
        token = self._tokens.issue(job.id, job.attempt)
        paths: dict[str, Any] = {"token": token}
        if job.type == JobType.MODEL:
            paths["asset_url"] = job_data_path(job.id, "asset")
        elif job.type == JobType.BATCH_MODEL:
            paths["assets_url"] = job_data_path(job.id, "assets/")
        elif job.type == JobType.FILE_EXPLORER:
            paths["items_url"] = job_data_path(job.id, "items")
            paths["upload_url"] = job_data_path(job.id, "upload")
        elif job.type == JobType.EXPORT:
            key = artifact_key(job.id, job.attempt)
            presigned = self._storage.presigned_put(key, UPLOAD_URL_TTL)
            paths["tasks_url"] = job_data_path(job.id, "tasks")
            paths["upload"] = (
                {"url": presigned, "auth": False, "needs_length": True, "key": key}
                if presigned
                else {"url": job_data_path(job.id, "artifact"), "auth": True, "key": key}
            )
        else:
            paths["csv_url"] = job_data_path(job.id, "csv")
            paths["documents_url"] = job_data_path(job.id, "documents")
        return {**job.input, "io": paths}

    # --- while running ---------------------------------------------------------------

    async def creation_tag(self, job: ActiveJob) -> str:
        """The tag of the assets this attempt of a job creates (markdown documents, imported
        files). The first time an
        attempt after the first asks, assets of earlier attempts are removed: an attempt
        lost halfway would otherwise leave duplicates behind when the job runs again."""
        tag = f"{job.id}:{job.attempt}"
        # Only this run's earlier attempts: a retry starts a new run, and what an earlier
        # run created (and people may have annotated since) stays.
        first = int(job.input.get("run_from_attempt", 1))
        if job.attempt > first and tag not in self._fresh_attempts:
            removed = await self._workspace.assets.delete_created_by(
                job.organization_id,
                job.input["project_id"],
                job.id,
                attempts=range(first, job.attempt),
            )
            self._fresh_attempts.add(tag)
            if removed:
                log.info("job %s: removed %d assets of earlier attempts", job.id, removed)
        return tag

    # --- at outcome --------------------------------------------------------------------

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        """What a successful attempt's output means; raises InvalidOutput."""
        if job.type == JobType.EXPORT:
            return Applied(_export_result(job, output))
        if job.type == JobType.MODEL:
            return _model_result(job, output)
        if job.type == JobType.BATCH_MODEL:
            return _chunk_result(job, output)
        if job.type == JobType.FILE_EXPLORER and job.operation == "list":
            try:
                return Applied(ListingPage.model_validate(output).model_dump(mode="json"))
            except ValidationError as exc:
                raise InvalidOutput(f"a listing must be a ListingPage: {exc}") from None
        if job.type in (JobType.MARKDOWN, JobType.FILE_EXPLORER):
            if not isinstance(output, dict) or not all(
                isinstance(output.get(k), int) for k in ("created", "skipped")
            ):
                raise InvalidOutput(f"a {job.type} result needs integer 'created' and 'skipped'")
            return Applied(output)
        return Applied(output)


def _mapping(
    project: ProjectInfo, class_mapping: dict[str, str], class_names: list[str], where: str
) -> dict[str, dict[str, str]]:
    """Model class -> {category_id, tool}, checked: the category is in the project and
    the class is one the plugin declares (when it declares any)."""
    categories = {c.id: c for c in project.categories}
    mapping: dict[str, dict[str, str]] = {}
    for model_class, category_id in class_mapping.items():
        if class_names and model_class not in class_names:
            raise Invalid(
                f"{where}.class_mapping: the plugin has no class {model_class!r} "
                f"(its classes: {', '.join(class_names)})"
            )
        category = categories.get(category_id)
        if category is None:
            raise Invalid(
                f"{where}.class_mapping.{model_class}: category {category_id!r} is not in "
                f"project {project.id}"
            )
        mapping[model_class] = {"category_id": category.id, "tool": category.tool.value}
    return mapping


def _model_result(job: ActiveJob, output: Any) -> Applied:
    predictions = output.get("predictions") if isinstance(output, dict) else None
    if not isinstance(predictions, list) or not all(isinstance(p, dict) for p in predictions):
        raise InvalidOutput(
            "a model callback must return a list of BBox/Polygon/Point/Classification "
            "or a Prediction"
        )
    asset = job.input["task"]["asset"]
    source = {"kind": "plugin", "plugin_id": job.plugin_id, "plugin_version": job.plugin_version}
    converted = convert(
        predictions,
        job.input["class_mapping"],
        width=asset.get("width"),
        height=asset.get("height"),
        source=source,
    )
    task_id = job.input["task_id"]
    advance = job.input.get("advance")

    async def write(session: AsyncSession) -> None:
        await write_plugin_annotations(
            session,
            task_id,
            converted.objects,
            converted.classifications,
            plugin_id=job.plugin_id,
            overwrite=bool(job.input.get("overwrite", True)),
        )
        if advance:
            await advance_task(session, task_id, from_stage=advance["from"], to_stage=advance["to"])

    return Applied({"task_id": task_id, **converted.summary()}, write)


def _chunk_result(job: ActiveJob, output: Any) -> Applied:
    """One chunk of a batch run: each task's predictions, and the tasks that failed."""
    if not isinstance(output, dict) or not isinstance(output.get("predictions"), dict):
        raise InvalidOutput(
            "a batch model callback must return {task_id: predictions} "
            "(or {'predictions': {...}, 'errors': {task_id: reason}})"
        )
    predictions: dict[str, Any] = output["predictions"]
    errors: dict[str, str] = {
        str(k): str(v)[:1000] for k, v in (output.get("errors") or {}).items()
    }
    source = {"kind": "plugin", "plugin_id": job.plugin_id, "plugin_version": job.plugin_version}
    writes: list[tuple[str, Any]] = []
    totals = {"done": 0, "failed": 0, "written": 0, "unmapped": 0, "rejected": 0}
    for task in job.input["tasks"]:
        task_id = task["task_id"]
        if task_id in errors:
            continue
        found = predictions.get(task_id)
        if not isinstance(found, list):
            errors[task_id] = "the plugin returned no predictions for this task"
            continue
        asset = task["asset"]
        converted = convert(
            [p for p in found if isinstance(p, dict)],
            job.input["class_mapping"],
            width=asset.get("width"),
            height=asset.get("height"),
            source=source,
        )
        writes.append((task_id, converted))
        summary = converted.summary()
        totals["done"] += 1
        for key in ("written", "unmapped", "rejected"):
            totals[key] += summary[key]
    totals["failed"] = len(errors)
    overwrite = bool(job.input.get("overwrite", True))

    async def write(session: AsyncSession) -> None:
        for task_id, converted in writes:
            await write_plugin_annotations(
                session,
                task_id,
                converted.objects,
                converted.classifications,
                plugin_id=job.plugin_id,
                overwrite=overwrite,
            )

    return Applied({**totals, "errors": errors}, write)


def artifact_key(job_id: str, attempt: int) -> str:
    """Where an attempt's export file is stored; a plugin can only name its own."""
    return f"artifacts/{job_id}/{attempt}/export"


def _export_result(job: ActiveJob, output: Any) -> dict[str, Any]:
    artifact = output.get("artifact") if isinstance(output, dict) else None
    if not isinstance(artifact, dict):
        raise InvalidOutput("an export result needs an 'artifact' (return ExportResult)")
    if artifact.get("key") != artifact_key(job.id, job.attempt):
        raise InvalidOutput("the artifact is not this attempt's upload")
    filename = re.sub(r"[\x00-\x1f/\\]", "_", str(artifact.get("filename") or "export"))[:255]
    size = artifact.get("size")
    # Without its size an empty file could not be told from a full one.
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidOutput("an export artifact needs its 'size' in bytes")
    allow_empty = artifact.get("allow_empty", False)
    if not isinstance(allow_empty, bool):
        raise InvalidOutput("an export artifact's 'allow_empty' must be true or false")
    if size == 0 and not allow_empty:
        raise InvalidOutput(
            "the export file is empty (0 bytes). A file object is read from its current "
            "position: rewind it with seek(0) before returning it; if an empty file is "
            "intended, return ExportResult(..., allow_empty=True)"
        )
    return {
        "artifact": {
            "key": artifact["key"],
            "filename": filename,
            "size": size,
            "content_type": str(artifact.get("content_type") or "application/octet-stream")[:200],
        }
    }


def _parse(model: type[M], raw: dict[str, Any], where: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise Invalid(f"{where}.{field}: {first['msg']}") from None


def _check_csv(text: str, what: str, *, complete: bool) -> int | None:
    """Rows after the header if `complete`; raises Invalid if it does not read as CSV."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise Invalid(f"{what} has no header row: the first line must name the columns")
        if len(set(header)) != len(header):
            raise Invalid(f"{what} repeats a column name in its header: {header}")
        if not complete:
            return None
        rows = 0
        for row in reader:
            if row:
                rows += 1
        return rows
    except csv.Error as exc:
        raise Invalid(f"{what} is not valid CSV: {exc}") from None
