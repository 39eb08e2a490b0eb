"""Jobs as users see them: submit, read, list, logs, cancel, retry; and the check that opens
a running attempt's data paths to its plugin."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ango_plugins_sdk.protocol import Backoff, JobStatus
from ango_plugins_sdk.protocol.messages import checked_json
from hub.cluster.commands import Dispatcher, children_of
from hub.db import JobLog, JobRow, Store
from hub.db.paging import newest_first
from hub.job_types import JobTypes
from hub.job_types.base import PluginFacts, Submission
from hub.job_types.batch_model import RunTasks, run_tasks
from hub.jobs.engine import JobEngine
from hub.jobs.queue import PRIORITIES
from hub.jobs.state import ActiveJob, StoredOrActiveJob
from hub.jobs.tokens import InvalidToken, JobTokens
from hub.services.accounts import Principal
from hub.services.config_schema import check_config
from hub.services.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from hub.services.plugins import PluginService

MAX_JOBS_PER_REQUEST = 1000
WAIT_POLLS = Backoff(initial=0.05, maximum=1.0)
"""How soon a long poll on a node that does not dispatch the job reads it again: after
50 ms, then twice as long after each read up to a second, so a thousand clients waiting a
minute cost the shared database a few thousand reads, not a million."""


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] | None = None
    """The plugin's config for this run; the plugin's default config when left out."""
    input: dict[str, Any] = Field(default_factory=dict)
    operation: Annotated[str, Field(max_length=100)] | None = None
    project_id: str | None = None
    priority: Literal["interactive", "batch"] | None = None
    timeout_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] | None = None


class JobBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: Annotated[list[JobRequest], Field(min_length=1, max_length=MAX_JOBS_PER_REQUEST)]


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    only_failed: bool = False
    """For a batch run: only its failed tasks (else all of them)."""


class JobService:
    def __init__(
        self,
        store: Store,
        engine: JobEngine,
        dispatcher: Dispatcher,
        plugins: PluginService,
        job_types: JobTypes,
        tokens: JobTokens,
        *,
        max_job_size: int,
    ) -> None:
        self._store = store
        self._engine = engine
        """Read here for the jobs this node dispatches (the freshest state)."""
        self._dispatcher = dispatcher
        """Where changes to jobs go: this node's engine, or the dispatcher's."""
        self._plugins = plugins
        self._job_types = job_types
        self._tokens = tokens
        self._max_job_size = max_job_size
        """Bytes a job's config and input may take together, as JSON: they travel in one
        frame to the plugin, which takes frames of a bounded size."""

    async def submit(
        self, principal: Principal, plugin_id: str, requests: list[JobRequest], *, now: float
    ) -> list[ActiveJob]:
        """Validate and store the jobs; they are queued when this returns. Each job keeps
        the organization's version pin of this moment, for all its attempts and retries.
        Returns the jobs users see (a batch run, not its chunks)."""
        plugin, pinned_version = await self._plugins.usable_with_pin(
            principal.organization_id, plugin_id
        )
        kind = self._job_types[plugin.type]
        facts = PluginFacts(plugin.id, plugin.class_names, plugin.job_timeout_s, pinned_version)
        jobs: list[ActiveJob] = []
        shown: list[ActiveJob] = []
        for index, request in enumerate(requests):
            # A copy: the plugin comes from a cache every submit shares.
            config = (
                copy.deepcopy(plugin.default_config) if request.config is None else request.config
            )
            prefix = "" if len(requests) == 1 else f"jobs[{index}]."
            check_config(plugin.config_schema, config, what=f"{prefix}config")
            made = await kind.prepare(
                Submission(
                    organization_id=principal.organization_id,
                    user_id=principal.user_id,
                    plugin=facts,
                    config=config,
                    raw_input=request.input,
                    operation=request.operation,
                    project_id=request.project_id,
                    priority=PRIORITIES[request.priority] if request.priority else None,
                    timeout_s=request.timeout_s,
                    where=f"{prefix}input",
                    now=now,
                )
            )
            for job in made:
                if not kind.is_run(job):
                    self._check_payload(job, prefix)
            jobs += made
            shown.append(made[0])
        await self._dispatcher.submit(jobs)
        return shown

    def _check_payload(self, job: ActiveJob, prefix: str) -> None:
        """The job's config and input are JSON a frame can carry (no NaN or Infinity, which
        a JSON body may hold and no plugin could read) and fit the frame together."""
        size = 0
        for name, value in (("config", job.config), ("input", job.input)):
            try:
                size += len(checked_json(value))
            except ValueError as exc:
                raise Invalid(f"{prefix}{name}: {exc}") from None
        if size > self._max_job_size:
            hint = (
                "lower config.chunk_size"
                if job.parent_id is not None
                else "pass bulk data through a project or files"
            )
            raise Invalid(
                f"{prefix}config and input take {size} bytes as JSON; the limit is "
                f"{self._max_job_size} bytes (half of HUB_MAX_MESSAGE_SIZE): {hint}"
            )

    async def running_attempt(self, token: str, job_id: str) -> ActiveJob:
        """The job whose running attempt `token` was issued for; it opens that job's data
        paths while the attempt runs, and nothing else. Any node answers: the dispatcher
        from memory, another node from the stored row."""
        try:
            grant = self._tokens.verify(token)
        except InvalidToken as exc:
            raise Unauthenticated(str(exc)) from None
        if grant.job_id != job_id:
            raise Forbidden("this token is for another job")
        job = self._engine.active(grant.job_id)
        if job is None and not self._dispatcher.here:
            async with self._store.read() as session:
                row = await session.get(JobRow, grant.job_id)
            job = ActiveJob.from_row(row) if row is not None else None
        if job is None or not job.holds(grant.job_id, grant.attempt):
            raise Forbidden("this job attempt is no longer running")
        return job

    async def get(self, principal: Principal, job_id: str) -> StoredOrActiveJob:
        """The job's freshest state: the engine's while active, else the stored one."""
        active = self._engine.active(job_id)
        if active is not None and active.organization_id == principal.organization_id:
            return active
        async with self._store.read() as session:
            row = await session.get(JobRow, job_id)
        if row is None or row.organization_id != principal.organization_id:
            raise NotFound(f"job {job_id} not found")
        return self._engine.active(job_id) or row

    async def wait_ended(
        self, principal: Principal, job_id: str, *, within: float
    ) -> StoredOrActiveJob:
        """The job once its end is stored, or as it is after `within` seconds (a long poll:
        clients stop polling). Woken by the engine where this node dispatches the job; a
        node that does not reads the database again and again (`WAIT_POLLS`)."""
        deadline = time.monotonic() + within
        reads = 0
        while True:
            job = await self.get(principal, job_id)
            left = deadline - time.monotonic()
            if JobStatus(job.status).is_terminal or left <= 0:
                return job
            ended = self._engine.stored_end(job_id)
            if ended is None:
                await asyncio.sleep(min(left, WAIT_POLLS.ceiling(reads)))
                reads += 1
                continue
            # Cancelled on timeout (or with the request), which also forgets it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    stored = await ended
                if stored is not None:
                    return stored  # as its end was stored: no read needed

    async def page(
        self,
        principal: Principal,
        *,
        plugin_id: str | None,
        status: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[StoredOrActiveJob], str | None]:
        query = select(JobRow).where(JobRow.organization_id == principal.organization_id)
        if plugin_id:
            query = query.where(JobRow.plugin_id == plugin_id)
        if status:
            if status not in set(JobStatus):
                raise Invalid(f"unknown status {status!r}; expected one of {', '.join(JobStatus)}")
            query = query.where(JobRow.status == status)
        rows, next_cursor = await newest_first(
            self._store, query, JobRow.id, cursor=cursor, limit=limit
        )
        return [self._engine.active(r.id) or r for r in rows], next_cursor

    async def current(
        self, principal: Principal, job_ids: list[str]
    ) -> dict[str, StoredOrActiveJob]:
        """The freshest state of each of the organization's jobs among `job_ids`: active ones
        from memory, the rest in one read. Unknown and other organizations' ids are left out."""
        found: dict[str, StoredOrActiveJob] = {}
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
                    select(JobRow).where(
                        JobRow.id.in_(missing), JobRow.organization_id == principal.organization_id
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

    async def cancel(self, principal: Principal, job_id: str) -> StoredOrActiveJob:
        job = await self.get(principal, job_id)
        if JobStatus(job.status).is_terminal:
            raise Conflict(f"job {job_id} already {job.status}")
        await self._dispatcher.cancel(job.id, "cancelled by user")
        return await self.get(principal, job_id)

    async def retry(
        self, principal: Principal, job_id: str, *, only_failed: bool = False
    ) -> StoredOrActiveJob:
        """Run a finished job again, same id. A batch run is opened again as a new round
        with new chunks: for the tasks that failed (`only_failed`) or for all of its tasks."""
        job = await self.get(principal, job_id)
        if not JobStatus(job.status).is_terminal:
            raise Conflict(f"job {job_id} is still {job.status}; cancel it first")
        kind = self._job_types[job.type]
        is_run = kind.is_run(ActiveJob.from_row(job))
        if not is_run:
            kind.check_retry(job)
            if only_failed:
                raise Invalid("only_failed is for a batch run (a batch_model job, operation run)")
        # Still there and still usable (an install stops working when the plugin turns
        # private); the retry keeps the job's version pin.
        await self._plugins.usable(principal.organization_id, job.plugin_id)
        if not is_run:
            await self._dispatcher.retry(job.id)
            return await self.get(principal, job_id)
        tasks = await self.run_tasks(job)
        if tasks.unfinished:
            raise Conflict(
                f"{tasks.unfinished} chunks of run {job_id} are still stopping; retry once "
                "they have ended"
            )
        if only_failed and not tasks.failed:
            raise Conflict(f"run {job_id} has no failed task to retry")
        if not tasks.tasks:
            raise Conflict(f"run {job_id} has no task to run again")
        await self._dispatcher.retry_run(job.id, only_failed=only_failed, by=principal.user_id)
        return await self.get(principal, job_id)

    async def run_tasks(self, run: StoredOrActiveJob) -> RunTasks:
        """A run's tasks and which of them failed, read from its chunks (every round)."""
        children = [
            self._engine.active(row.id) or row for row in await children_of(self._store, run)
        ]
        return run_tasks(children)
