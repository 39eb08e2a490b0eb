"""Jobs as users see them: submit, read, list, logs, cancel, retry."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json
from sqlalchemy import select

from ango_plugins_sdk.protocol import JobStatus, JobType
from hub.jobs import batches
from hub.jobs.engine import JobEngine
from hub.jobs.queue import BATCH, INTERACTIVE, PRIORITIES
from hub.jobs.state import ActiveJob
from hub.security import new_id
from hub.services.accounts import Principal
from hub.services.config_schema import check_config
from hub.services.errors import Conflict, Invalid, NotFound
from hub.services.job_types import JobTypeRules
from hub.services.plugins import PluginService
from hub.store import Job, JobLog, Plugin, Store
from hub.store.paging import newest_first

MAX_JOBS_PER_REQUEST = 1000
DEFAULT_CHUNK_SIZE = 16


def _default_priority(job_type: JobType, operation: str | None) -> int:
    """Short runs someone is waiting for (one task's pre-labels, a folder listing) go
    before bulk work unless the request says otherwise."""
    if job_type == JobType.MODEL or (job_type == JobType.FILE_EXPLORER and operation == "list"):
        return INTERACTIVE
    return BATCH


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] | None = None
    """The plugin's config for this run; the plugin's default config when left out."""
    input: dict[str, Any] = {}
    operation: Annotated[str, Field(max_length=100)] | None = None
    project_id: str | None = None
    priority: Literal["interactive", "batch"] | None = None
    timeout_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] | None = None


class JobBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: Annotated[list[JobRequest], Field(min_length=1, max_length=MAX_JOBS_PER_REQUEST)]


JobLike = Job | ActiveJob


class JobService:
    def __init__(
        self,
        store: Store,
        engine: JobEngine,
        plugins: PluginService,
        rules: JobTypeRules,
        *,
        max_job_size: int,
    ) -> None:
        self._store = store
        self._engine = engine
        self._plugins = plugins
        self._rules = rules
        self._max_job_size = max_job_size
        """Bytes a job's config and input may take together, as JSON: they travel in one
        frame to the plugin, which takes frames of a bounded size."""

    async def submit(
        self, principal: Principal, plugin_id: str, requests: list[JobRequest], *, now: float
    ) -> list[ActiveJob]:
        """Validate and store the jobs; they are queued when this returns. Each job keeps
        the organization's version pin of this moment, for all its attempts and retries."""
        plugin, pinned_version = await self._plugins.usable_with_pin(
            principal.organization_id, plugin_id
        )
        job_type = JobType(plugin.type)
        jobs: list[ActiveJob] = []
        shown: list[ActiveJob] = []
        for index, request in enumerate(requests):
            config = plugin.default_config if request.config is None else request.config
            prefix = "" if len(requests) == 1 else f"jobs[{index}]."
            check_config(plugin.config_schema, config, what=f"{prefix}config")
            if job_type == JobType.BATCH_MODEL:
                run, chunks = await self._batch_run(
                    principal,
                    plugin,
                    request,
                    config,
                    pinned_version=pinned_version,
                    prefix=prefix,
                    now=now,
                )
                for chunk in chunks:
                    self._check_size(chunk, prefix, hint="lower config.chunk_size")
                jobs += [run, *chunks]
                shown.append(run)
                continue
            job_input = await self._rules.prepare_input(
                principal.organization_id,
                job_type,
                request.project_id,
                request.input,
                operation=request.operation,
                class_names=plugin.class_names,
                where=f"{prefix}input",
            )
            priority = (
                PRIORITIES[request.priority]
                if request.priority
                else _default_priority(job_type, request.operation)
            )
            jobs.append(
                ActiveJob(
                    id=new_id(),
                    organization_id=principal.organization_id,
                    plugin_id=plugin.id,
                    created_by=principal.user_id,
                    type=job_type,
                    operation=request.operation,
                    config=config,
                    input=job_input,
                    priority=priority,
                    timeout_s=request.timeout_s or plugin.job_timeout_s,
                    status=JobStatus.QUEUED,
                    created_at=now,
                    required_version=pinned_version,
                )
            )
            self._check_size(jobs[-1], prefix, hint="pass bulk data through a project or files")
            shown.append(jobs[-1])
        await self._engine.submit(jobs)
        return shown

    def _check_size(self, job: ActiveJob, prefix: str, *, hint: str) -> None:
        size = len(to_json(job.config)) + len(to_json(job.input))
        if size > self._max_job_size:
            raise Invalid(
                f"{prefix}config and input take {size} bytes as JSON; the limit is "
                f"{self._max_job_size} bytes (half of HUB_MAX_MESSAGE_SIZE): {hint}"
            )

    async def _batch_run(
        self,
        principal: Principal,
        plugin: Plugin,
        request: JobRequest,
        config: dict[str, Any],
        *,
        pinned_version: str | None,
        prefix: str,
        now: float,
    ) -> tuple[ActiveJob, list[ActiveJob]]:
        """A batch run: the coordinator users see, and the chunk jobs that do the work."""
        chunk_size = config.get("chunk_size")
        if chunk_size is None:
            chunk_size = DEFAULT_CHUNK_SIZE
        if (
            not isinstance(chunk_size, int)
            or isinstance(chunk_size, bool)
            or not 1 <= chunk_size <= 1000
        ):
            raise Invalid(f"{prefix}config.chunk_size must be a whole number from 1 to 1000")
        run_input, chunk_inputs = await self._rules.prepare_batch(
            principal.organization_id,
            request.project_id,
            request.input,
            class_names=plugin.class_names,
            chunk_size=chunk_size,
            where=f"{prefix}input",
        )
        total = sum(len(chunk["tasks"]) for chunk in chunk_inputs)

        def job(operation: str, job_input: dict[str, Any], status: JobStatus) -> ActiveJob:
            return ActiveJob(
                id=new_id(),
                organization_id=principal.organization_id,
                plugin_id=plugin.id,
                created_by=principal.user_id,
                type=JobType.BATCH_MODEL,
                operation=operation,
                config=config,
                input=job_input,
                priority=PRIORITIES[request.priority or "batch"],
                timeout_s=request.timeout_s or plugin.job_timeout_s,
                status=status,
                created_at=now,
                required_version=pinned_version,  # the chunks run on the run's version
            )

        # With nothing to do the run is done at once; else it runs until its chunks are in.
        run = job(
            "run",
            {**run_input, "total": total},
            JobStatus.RUNNING if total else JobStatus.SUCCEEDED,
        )
        run.result = batches.empty_summary(total, len(chunk_inputs))
        run.progress_current, run.progress_total = 0.0, float(max(total, 1))
        run.started_at = now
        if not total:
            run.finished_at = now
        chunks = [job("chunk", {**c, "parent_id": run.id}, JobStatus.QUEUED) for c in chunk_inputs]
        return run, chunks

    async def get(self, principal: Principal, job_id: str) -> JobLike:
        """The job's freshest state: the engine's while active, else the stored one."""
        active = self._engine.active(job_id)
        if active is not None and active.organization_id == principal.organization_id:
            return active
        async with self._store.read() as session:
            row = await session.get(Job, job_id)
        if row is None or row.organization_id != principal.organization_id:
            raise NotFound(f"job {job_id} not found")
        return self._engine.active(job_id) or row

    async def page(
        self,
        principal: Principal,
        *,
        plugin_id: str | None,
        status: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[JobLike], str | None]:
        query = select(Job).where(Job.organization_id == principal.organization_id)
        if plugin_id:
            query = query.where(Job.plugin_id == plugin_id)
        if status:
            if status not in set(JobStatus):
                raise Invalid(f"unknown status {status!r}; expected one of {', '.join(JobStatus)}")
            query = query.where(Job.status == status)
        rows, next_cursor = await newest_first(
            self._store, query, Job.id, cursor=cursor, limit=limit
        )
        return [self._engine.active(r.id) or r for r in rows], next_cursor

    async def current(self, principal: Principal, job_ids: list[str]) -> dict[str, JobLike]:
        """The freshest state of each of the organization's jobs among `job_ids`: active ones
        from memory, the rest in one read. Unknown and other organizations' ids are left out."""
        found: dict[str, JobLike] = {}
        missing = []
        for job_id in job_ids:
            active = self._engine.active(job_id)
            if active is not None and active.organization_id == principal.organization_id:
                found[job_id] = active
            else:
                missing.append(job_id)
        if missing:
            async with self._store.read() as session:
                rows = await session.scalars(
                    select(Job).where(
                        Job.id.in_(missing), Job.organization_id == principal.organization_id
                    )
                )
                for row in rows:
                    found[row.id] = self._engine.active(row.id) or row
        return found

    async def logs(
        self, principal: Principal, job_id: str, *, after: int, limit: int
    ) -> tuple[list[JobLog], int | None]:
        """Log records after the record id `after`, oldest first, and the cursor to go on."""
        await self.get(principal, job_id)
        limit = max(1, min(limit, 1000))
        async with self._store.read() as session:
            rows = list(
                await session.scalars(
                    select(JobLog)
                    .where(JobLog.job_id == job_id, JobLog.id > after)
                    .order_by(JobLog.id)
                    .limit(limit)
                )
            )
        return rows, (rows[-1].id if rows else None)

    async def cancel(self, principal: Principal, job_id: str) -> JobLike:
        job = await self.get(principal, job_id)
        if not isinstance(job, ActiveJob) or job.is_terminal:
            raise Conflict(f"job {job_id} already {job.status}")
        await self._engine.cancel(job)
        return job

    async def retry(self, principal: Principal, job_id: str) -> JobLike:
        job = await self.get(principal, job_id)
        if isinstance(job, ActiveJob) and not job.is_terminal:
            raise Conflict(f"job {job_id} is still {job.status}; cancel it first")
        if job.type == JobType.BATCH_MODEL:
            raise Conflict("a batch run or chunk is not retried alone: submit a new run")
        # Still there and still usable (an install stops working when the plugin turns
        # private); the retry keeps the job's version pin.
        await self._plugins.usable(principal.organization_id, job.plugin_id)
        return await self._engine.retry(job)
