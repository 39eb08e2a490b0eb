"""The job engine: holds active jobs, hands them to live connections, runs their leases.

While the hub runs, the engine's in-memory index of active (queued or running) jobs
is the authority and the database is its durable copy, written by group commit. The
rules that make this safe:

- an assignment is committed before the `job` message is sent, so attempt numbers
  are never reused;
- an outcome is committed before the `ack` is sent, so an acked outcome survives a
  crash, and an un-acked one is re-sent by the plugin and applied then;
- an outcome is applied only for the job's current running attempt (`ActiveJob.holds`),
  so each attempt's outcome is applied at most once; anything else is acked and dropped.

A job pinned to a plugin version (`ActiveJob.required_version`) goes only to a process
reporting that version and waits queued until one is live; the queue keeps such jobs apart
so the rest keeps flowing (`hub.jobs.queue`).

At start the engine reloads active jobs; running ones get a fresh lease, so their
plugins can reconnect and claim them (`hello.jobs`) before they are re-queued.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.protocol import (
    Accepted,
    Ack,
    Backoff,
    Cancel,
    Error,
    ErrorCode,
    Failed,
    JobRef,
    JobStatus,
    Log,
    Message,
    MessageTooLarge,
    Progress,
    ProtocolError,
    Release,
    Result,
    check_transition,
)
from hub.jobs import batches
from hub.jobs.committer import Committer, Effect
from hub.jobs.queue import INTERACTIVE, PluginQueue
from hub.jobs.state import ActiveJob
from hub.services.live import LiveConnection, LiveRegistry
from hub.settings import Settings
from hub.store import Job, Plugin, Store

log = logging.getLogger("hub.jobs")

TICK = 0.05
"""Seconds between checks of leases, deadlines, cancel grace periods and retry delays."""
RETRY_DELAY_CAP = 60.0
_PLUGIN_DELETED = "cancelled: the plugin was deleted"


class TypeRules(Protocol):
    """What differs between job types, as far as the engine is concerned."""

    def dispatch_input(self, job: ActiveJob) -> dict[str, Any]:
        """The input to send with the job's current attempt."""
        ...

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        """What a successful attempt's output means: the result to store, and perhaps a write
        to make in the same transaction (pre-labels, say). Raises ValueError if invalid."""
        ...


@dataclass(frozen=True, slots=True)
class Applied:
    result: Any
    effect: Effect | None = None


class _PassThrough:
    def dispatch_input(self, job: ActiveJob) -> dict[str, Any]:
        return job.input

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        return Applied(output)


class JobEngine:
    def __init__(
        self,
        store: Store,
        live: LiveRegistry,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        rules: TypeRules | None = None,
    ) -> None:
        self._rules: TypeRules = rules or _PassThrough()
        self._store = store
        self._live = live
        self._settings = settings
        self._clock = clock
        self._retry_backoff = Backoff(
            initial=settings.retry_delay, maximum=max(RETRY_DELAY_CAP, settings.retry_delay)
        )
        self._active: dict[str, ActiveJob] = {}
        self._running: set[str] = set()
        self._queues: defaultdict[str, PluginQueue] = defaultdict(PluginQueue)
        self._committer = Committer(store, after_commit=self._forget_finished)
        self._pump_pending: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._dispatching = False
        self._deleted_plugins: set[str] = set()
        """Plugins deleted while the hub runs: a job submitted to one in a race with the
        delete ends at once instead of waiting for a process that will never come."""
        self.finished: Counter[str] = Counter()
        """Jobs that reached each terminal status since the hub started (for /metrics)."""

    # --- life of the engine ----------------------------------------------------------

    async def start(self) -> None:
        now = self._clock()
        async with self._store.read() as session:
            rows = await session.scalars(
                select(Job).where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            )
            for row in rows:
                job = ActiveJob.from_row(row)
                self._active[job.id] = job
                if batches.is_coordinator(job):
                    continue  # never dispatched: its chunks are the work
                if job.status == JobStatus.QUEUED:
                    self._enqueue(job)
                else:
                    # Its plugin may still be running it: give it a lease's time to reconnect.
                    job.connection_id = None
                    job.lease_expires_at = now + self._settings.lease_ttl
                    if job.cancel_requested_at is not None:
                        job.cancel_deadline = now + self._settings.cancel_grace
                    self._running.add(job.id)
        if self._active:
            log.info("recovered %d active jobs (%d running)", len(self._active), len(self._running))
        self._committer.start()
        await self._end_jobs_of_missing_plugins()
        self._reaper = asyncio.create_task(self._reap_forever(), name="job-reaper")
        self._dispatching = True

    async def _end_jobs_of_missing_plugins(self) -> None:
        """Jobs whose plugin was deleted (by a hub from before deletes ended them) would
        wait for a process that can never connect: they end now, as a delete ends them."""
        plugin_ids = {job.plugin_id for job in self._active.values()}
        if not plugin_ids:
            return
        async with self._store.read() as session:
            existing = set(
                await session.scalars(select(Plugin.id).where(Plugin.id.in_(plugin_ids)))
            )
        for plugin_id in plugin_ids - existing:
            await self.end_plugin_jobs(plugin_id)

    async def stop(self) -> None:
        """Stop dispatching and hand assignments no plugin has accepted back to the queue."""
        self._dispatching = False
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        for job_id in list(self._running):
            job = self._active[job_id]
            if job.started_at is None and job.cancel_requested_at is None:
                self._release_capacity(job)
                self._requeue(job, reason="hub shutting down before the plugin accepted it")
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._committer.stop()

    @property
    def commits(self) -> int:
        return self._committer.commits

    def active_count(self) -> int:
        return len(self._active)

    def running_count(self) -> int:
        return len(self._running)

    def queued_count(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    # --- what the API asks for -----------------------------------------------------------

    async def submit(self, jobs: list[ActiveJob]) -> None:
        """Queue new jobs and return once they are stored.

        They are queued before their insert commits so that an idle plugin's assignment
        can ride in the same transaction; the pump still sends nothing before that commit.
        """
        for job in jobs:
            self._active[job.id] = job
            if job.status == JobStatus.QUEUED:
                self._enqueue(job)  # schedules the pump before the writer wakes...
        for job in jobs:
            self._committer.add(job)  # ...so one transaction carries insert and assignment
        if jobs and jobs[0].plugin_id in self._deleted_plugins:
            await self.end_plugin_jobs(jobs[0].plugin_id)
        await self._committer.commit()

    def active(self, job_id: str) -> ActiveJob | None:
        return self._active.get(job_id)

    async def cancel(self, job: ActiveJob, *, reason: str = "cancelled by user") -> None:
        """Cancel an active job: at once if queued; if running, when the plugin stops or the
        grace period ends, whichever comes first."""
        now = self._clock()
        if job.is_terminal:
            return  # finished meanwhile; its outcome is on its way to disk
        if batches.is_coordinator(job):
            # Stop the remaining chunks; the run ends now, with what was done so far.
            self._finish(
                job, JobStatus.CANCELLED, result=job.result, error=_error(reason, "Cancelled")
            )
            for chunk in [c for c in self._active.values() if batches.parent_id(c) == job.id]:
                await self.cancel(chunk, reason=reason)
        elif job.status == JobStatus.QUEUED:
            self._queues[job.plugin_id].remove(job.id)
            self._finish(job, JobStatus.CANCELLED, error=_error(reason, "Cancelled"))
        elif job.cancel_requested_at is None:
            job.cancel_requested_at = now
            job.cancel_deadline = now + self._settings.cancel_grace
            self._hub_log(job, "INFO", f"{reason}; waiting up to {self._settings.cancel_grace}s")
            self._committer.touch(job)
            self._send_cancel(job, reason, self._settings.cancel_grace)
        await self._committer.commit()

    async def retry(self, row: Job | ActiveJob) -> ActiveJob:
        """Queue a finished job again, as a fresh job with its attempt count going on."""
        job = ActiveJob.from_row(row)
        _move(job, JobStatus.QUEUED)
        job.failed_attempts = 0
        job.progress_current = job.progress_total = None
        job.progress_message = None
        job.result = job.error = None
        job.connection_id = None
        job.lease_expires_at = job.not_before = job.cancel_requested_at = None
        job.started_at = job.finished_at = None
        # A retry is a new run: what earlier runs created belongs to the user now.
        job.input = {**job.input, "run_from_attempt": job.attempt + 1}
        self._committer.also(_store_input(job.id, job.input))
        self._active[job.id] = job
        self._hub_log(job, "INFO", "retried by user")
        self._committer.touch(job)
        await self._committer.commit()
        self._enqueue(job)
        return job

    async def end_plugin_jobs(self, plugin_id: str, *, reason: str = _PLUGIN_DELETED) -> int:
        """The plugin is gone: every unfinished job of it ends now as cancelled, running ones
        without the usual grace (no process of it can report any more). Returns how many."""
        self._deleted_plugins.add(plugin_id)
        ended = 0
        for job in [j for j in self._active.values() if j.plugin_id == plugin_id]:
            if job.is_terminal:
                continue
            if job.status == JobStatus.QUEUED:
                self._queues[plugin_id].remove(job.id)
            elif job.id in self._running:
                self._send_cancel(job, reason, 0.0)
                self._release_capacity(job)
            if not job.is_terminal:  # a coordinator may have ended with its last chunk
                self._finish(
                    job, JobStatus.CANCELLED, result=job.result, error=_error(reason, "Cancelled")
                )
                ended += 1
        self._queues.pop(plugin_id, None)
        await self._committer.commit()
        return ended

    # --- what the gateway tells us ---------------------------------------------------------

    async def connection_opened(self, connection: LiveConnection, held: list[JobRef]) -> None:
        """A plugin connected; it names the attempts it still holds, which stay with it."""
        now = self._clock()
        for ref in held:
            job = self._current(connection, ref.job_id, ref.attempt)
            if job is None:
                continue  # finished or re-dispatched meanwhile: its outcome is acked and dropped
            self._release_capacity(job)
            job.connection_id = connection.id
            job.disconnected_at = None
            job.plugin_version = connection.plugin_version
            connection.running += 1
            job.lease_expires_at = now + self._settings.lease_ttl
            self._committer.touch(job)
            if job.cancel_requested_at is not None:
                self._send_cancel(
                    job, "cancelled by user", max(0.0, (job.cancel_deadline or now) - now)
                )
        self._kick(connection.plugin_id)

    async def connection_closed(self, connection: LiveConnection, *, orderly: bool) -> None:
        """The connection is gone.

        Assignments the plugin never accepted go back at once. Unless the close was orderly
        (the plugin or the hub closed it on purpose), that counts as a lost attempt: a job
        whose dispatch ends the connection (a frame the process cannot take, a crash on
        receipt) must not cycle forever. Accepted jobs stay with the process for the
        reconnect grace only: a process that comes back names them in `hello` and carries
        on; otherwise they run elsewhere then, not when the whole lease lapses.
        """
        now = self._clock()
        grace_ends = now + min(self._settings.reconnect_grace, self._settings.lease_ttl)
        for job_id in list(self._running):
            job = self._active[job_id]
            if job.connection_id != connection.id:
                continue
            job.connection_id = None
            self._committer.touch(job)  # so the stored row forgets the connection too
            if job.cancel_requested_at is not None and job.started_at is None:
                self._finish(
                    job, JobStatus.CANCELLED, error=_error("cancelled by user", "Cancelled")
                )
            elif job.started_at is None and orderly:
                self._requeue(job, reason="connection closed before the plugin accepted it")
            elif job.started_at is None:
                self._lose_attempt(job, "the connection ended before the plugin accepted it")
            else:
                job.disconnected_at = now
                job.lease_expires_at = min(job.lease_expires_at or grace_ends, grace_ends)
        connection.running = 0
        self._kick(connection.plugin_id)

    async def heartbeat(self, connection: LiveConnection, jobs: list[JobRef]) -> None:
        """Renew the leases of the listed attempts. Memory only: no write per heartbeat."""
        expires = self._clock() + self._settings.lease_ttl
        for ref in jobs:
            job = self._current(connection, ref.job_id, ref.attempt)
            # Unaccepted assignments keep their (short) accept timeout.
            if (
                job is not None
                and job.connection_id == connection.id
                and job.started_at is not None
            ):
                job.lease_expires_at = expires

    async def handle(self, connection: LiveConnection, message: Message) -> None:
        if isinstance(message, Result | Failed):
            self._on_outcome(connection, message)
        elif isinstance(message, Accepted):
            self._on_accepted(connection, message)
        elif isinstance(message, Progress):
            self._on_progress(connection, message)
        elif isinstance(message, Log):
            self._on_log(connection, message)
        elif isinstance(message, Release):
            self._on_release(connection, message)
        elif isinstance(message, Error):
            log.warning(
                "plugin %s connection %s reports %s: %s",
                connection.plugin_id,
                connection.id,
                message.code,
                message.message,
            )
        else:
            raise ProtocolError(
                ErrorCode.UNEXPECTED_MESSAGE,
                f"a plugin may not send {message.type!r}",
                job_id=getattr(message, "job_id", None),
            )

    def _current(self, connection: LiveConnection, job_id: str, attempt: int) -> ActiveJob | None:
        """The job if (job_id, attempt) is its running attempt and it belongs to the plugin
        on this connection; anything else is stale (or forged) and changes nothing."""
        job = self._active.get(job_id)
        if job is None or not job.holds(job_id, attempt) or job.plugin_id != connection.plugin_id:
            return None
        return job

    def _on_accepted(self, connection: LiveConnection, message: Accepted) -> None:
        job = self._current(connection, message.job_id, message.attempt)
        if job is None or job.started_at is not None:
            return
        now = self._clock()
        job.started_at = now
        job.lease_expires_at = now + self._settings.lease_ttl
        self._committer.touch(job)

    def _on_progress(self, connection: LiveConnection, message: Progress) -> None:
        job = self._current(connection, message.job_id, message.attempt)
        if job is None:
            return
        job.progress_current = message.current
        job.progress_total = message.total
        job.progress_message = message.message
        self._committer.touch(job)

    def _on_log(self, connection: LiveConnection, message: Log) -> None:
        job = self._active.get(message.job_id)
        if job is None or job.attempt != message.attempt or job.plugin_id != connection.plugin_id:
            return
        for record in message.records:
            self._committer.log(
                job.id,
                message.attempt,
                "plugin",
                record.level,
                record.message,
                time=record.time,
                fields=record.fields,
            )

    def _on_release(self, connection: LiveConnection, message: Release) -> None:
        job = self._current(connection, message.job_id, message.attempt)
        if job is None:
            return
        self._release_capacity(job)
        if job.cancel_requested_at is not None:
            self._finish(job, JobStatus.CANCELLED, error=_error("cancelled by user", "Cancelled"))
            return
        # Handing back is not a failure: no penalty, no delay.
        self._requeue(job, reason=f"handed back by the plugin: {message.reason or 'no reason'}")

    def _on_outcome(self, connection: LiveConnection, message: Result | Failed) -> None:
        job = self._current(connection, message.job_id, message.attempt)
        if job is not None:
            self._release_capacity(job)
            if job.cancel_requested_at is not None:
                self._finish(
                    job, JobStatus.CANCELLED, error=_error("cancelled by user", "Cancelled")
                )
            elif isinstance(message, Result):
                try:
                    applied = self._rules.apply(job, message.output)
                except ValueError as exc:
                    self._finish(job, JobStatus.FAILED, error=_error(str(exc), "InvalidResult"))
                else:
                    if applied.effect is not None:
                        self._committer.also(applied.effect)
                    self._finish(job, JobStatus.SUCCEEDED, result=applied.result)
            else:
                self._on_failed(job, message)
        # Applied or not (a stale or unknown attempt), the plugin may forget it once it is
        # on disk. Waiting in the background keeps this connection's frames flowing, so one
        # commit carries the outcomes of many jobs.
        self._spawn(self._ack_when_durable(connection, message))

    async def _ack_when_durable(self, connection: LiveConnection, message: Result | Failed) -> None:
        await self._committer.commit()
        await connection.send(Ack(job_id=message.job_id, attempt=message.attempt))

    def _on_failed(self, job: ActiveJob, message: Failed) -> None:
        error = message.error.model_dump()
        if message.error.traceback:
            self._hub_log(job, "ERROR", f"attempt {job.attempt} failed:\n{message.error.traceback}")
        if message.error.retryable and job.failed_attempts + 1 < self._settings.max_attempts:
            job.failed_attempts += 1
            self._requeue(job, reason=f"retryable failure: {message.error.message}", delay=True)
            return
        self._finish(job, JobStatus.FAILED, error=error)

    # --- dispatch --------------------------------------------------------------------------

    def _enqueue(self, job: ActiveJob) -> None:
        queue = self._queues[job.plugin_id]
        version = job.required_version
        if job.not_before is not None and job.not_before > self._clock():
            queue.push_later(
                job.id, job.organization_id, job.priority, job.not_before, version=version
            )
        else:
            queue.push(job.id, job.organization_id, job.priority, version=version)
            self._kick(job.plugin_id)

    def _kick(self, plugin_id: str) -> None:
        """Schedule a dispatch round for the plugin (one at a time; repeated kicks merge)."""
        if plugin_id not in self._pump_pending and self._dispatching:
            self._pump_pending.add(plugin_id)
            self._spawn(self._pump(plugin_id))

    async def _pump(self, plugin_id: str) -> None:
        """Fill the plugin's free slots from its queue.

        Each round offers work to the least loaded connection with a free slot, so several
        processes share it. A connection drops out of the round when nothing queued is for
        it: no job its version may run (see `PluginQueue.pop` for version pins), or only
        batch work while its remaining slots are kept for interactive jobs. The others go
        on, so a job no live process can take never stops the jobs behind it.
        """
        self._pump_pending.discard(plugin_id)
        queue = self._queues.get(plugin_id)
        if not queue or not queue.ready or not self._dispatching:
            return
        open_connections = [c for c in self._live.connections(plugin_id) if c.running < c.capacity]
        now = self._clock()
        assigned: list[tuple[LiveConnection, ActiveJob]] = []
        while open_connections and queue.ready:
            connection = max(open_connections, key=lambda c: c.capacity - c.running)
            job_id = queue.pop(connection.plugin_version)
            if job_id is None:
                open_connections.remove(connection)  # nothing queued that its version may run
                continue
            job = self._active.get(job_id)
            if job is None or job.status != JobStatus.QUEUED:
                continue
            if job.priority != INTERACTIVE and self._free_for_batch(connection) <= 0:
                # The rest of this connection is kept for interactive work; the queue
                # is in priority order, so nothing interactive for it waits behind this job.
                queue.push_back(
                    job.id, job.organization_id, job.priority, version=job.required_version
                )
                open_connections.remove(connection)
                continue
            _move(job, JobStatus.RUNNING)
            job.attempt += 1
            job.connection_id = connection.id
            job.plugin_version = connection.plugin_version
            job.lease_expires_at = now + self._settings.accept_timeout
            job.not_before = None
            job.started_at = None
            connection.running += 1
            self._running.add(job.id)
            self._committer.touch(job)
            assigned.append((connection, job))
            if connection.running >= connection.capacity:
                open_connections.remove(connection)
        if not assigned:
            return
        await self._committer.commit()  # never send an attempt that is not on disk
        for connection, job in assigned:
            if job.connection_id == connection.id and job.status == JobStatus.RUNNING:
                try:
                    await connection.send(job.to_message(self._rules.dispatch_input(job)))
                except MessageTooLarge as exc:
                    # Sent anyway, the process would drop the frame or the connection, and
                    # the job would come back forever.
                    self._release_capacity(job)
                    message = (
                        f"the job message is {exc.size} bytes, over the {exc.limit}-byte limit "
                        "of the plugin process; make the config or input smaller"
                    )
                    self._finish(job, JobStatus.FAILED, error=_error(message, "JobTooLarge"))

    def _free_for_batch(self, connection: LiveConnection) -> int:
        """Free slots batch work may take: all but the reserved ones, which keep a single
        listing or one-task model run from waiting behind a long batch (a connection with
        a single slot reserves nothing)."""
        reserve = self._settings.interactive_reserve if connection.capacity > 1 else 0
        return connection.capacity - connection.running - min(reserve, connection.capacity - 1)

    # --- leases, deadlines, grace periods ----------------------------------------------------

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                self.reap()
            except Exception:
                log.exception("job reaper failed; carrying on")

    def reap(self) -> None:
        """One round of time-based transitions (public so tests can drive it with a fake clock)."""
        now = self._clock()
        for job_id in list(self._running):
            job = self._active[job_id]
            if job.cancel_deadline is not None and now >= job.cancel_deadline:
                self._release_capacity(job)
                self._finish(
                    job,
                    JobStatus.CANCELLED,
                    error=_error("cancelled by user; the plugin did not stop in time", "Cancelled"),
                )
            elif job.deadline is not None and now >= job.deadline:
                self._send_cancel(job, "timed out", 0.0)
                self._release_capacity(job)
                self._finish(
                    job,
                    JobStatus.FAILED,
                    error=_error(f"timed out after {job.timeout_s:g}s of running", "Timeout"),
                )
            elif job.lease_expires_at is not None and now >= job.lease_expires_at:
                self._on_lease_lapsed(job)
        for plugin_id, queue in self._queues.items():
            due = queue.next_due()
            if due is not None and due <= now and queue.release_due(now):
                self._kick(plugin_id)

    def _on_lease_lapsed(self, job: ActiveJob) -> None:
        self._release_capacity(job)
        if job.cancel_requested_at is not None:
            # Nobody is working on it any more: the cancel is complete.
            self._finish(job, JobStatus.CANCELLED, error=_error("cancelled by user", "Cancelled"))
            return
        if job.started_at is None:
            self._lose_attempt(job, f"not accepted within {self._settings.accept_timeout:g}s")
        elif job.disconnected_at is not None:
            # The grace already spaced this attempt from the last: no retry delay on top.
            grace = min(self._settings.reconnect_grace, self._settings.lease_ttl)
            reason = f"its plugin process disconnected and did not come back within {grace:g}s"
            self._lose_attempt(job, reason, delay=False)
        else:
            self._lose_attempt(
                job,
                "lease expired: no heartbeat from the plugin process (killed, frozen or cut off)",
            )

    def _lose_attempt(self, job: ActiveJob, reason: str, *, delay: bool = True) -> None:
        """The attempt ended without an outcome: it counts against the job, which runs again
        (after a retry delay) or, when its attempts are used up, fails saying why."""
        job.failed_attempts += 1
        if job.failed_attempts >= self._settings.max_attempts:
            message = f"gave up after {job.failed_attempts} lost attempts; last: {reason}"
            self._finish(job, JobStatus.FAILED, error=_error(message, "AttemptsExhausted"))
        else:
            self._requeue(job, reason=f"attempt {job.attempt} lost: {reason}", delay=delay)

    # --- state changes -------------------------------------------------------------------------

    def _requeue(self, job: ActiveJob, *, reason: str, delay: bool = False) -> None:
        _move(job, JobStatus.QUEUED)
        job.connection_id = None
        job.disconnected_at = None
        job.lease_expires_at = None
        job.started_at = None
        job.not_before = (
            self._clock() + self._retry_backoff.delay(job.failed_attempts - 1) if delay else None
        )
        self._running.discard(job.id)
        self._hub_log(job, "WARNING", reason)
        self._committer.touch(job)
        self._enqueue(job)

    def _finish(
        self,
        job: ActiveJob,
        status: JobStatus,
        *,
        result: Any = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        _move(job, status)
        job.result = result
        job.error = error
        job.finished_at = self._clock()
        job.lease_expires_at = None
        job.cancel_deadline = None
        job.disconnected_at = None
        self._running.discard(job.id)
        self.finished[status] += 1
        if status == JobStatus.SUCCEEDED:
            self._hub_log(job, "INFO", f"succeeded on attempt {job.attempt}")
        else:
            self._hub_log(
                job,
                "ERROR" if status == JobStatus.FAILED else "INFO",
                f"{status}: {(error or {}).get('message', '')}",
            )
        self._committer.touch(job)
        run = self._active.get(batches.parent_id(job) or "")
        if run is not None and not run.is_terminal:
            if batches.fold_chunk(run, job):
                status, run_error = batches.outcome(run)
                self._finish(run, status, result=run.result, error=run_error)
            else:
                self._committer.touch(run)

    def _release_capacity(self, job: ActiveJob) -> None:
        """The job's connection has one more free slot."""
        if job.connection_id is None:
            return
        for connection in self._live.connections(job.plugin_id):
            if connection.id == job.connection_id:
                connection.running = max(0, connection.running - 1)
                self._kick(job.plugin_id)
                break

    def _forget_finished(self, written: Iterable[tuple[ActiveJob, str]]) -> None:
        """After a commit, jobs whose terminal state it wrote live only in the database.
        A job that finished while an older state of it was being written stays until the
        transaction carrying its outcome commits."""
        for job, written_status in written:
            if JobStatus(written_status).is_terminal and self._active.get(job.id) is job:
                del self._active[job.id]

    def _send_cancel(self, job: ActiveJob, reason: str, grace: float) -> None:
        for connection in self._live.connections(job.plugin_id):
            if connection.id == job.connection_id:
                cancel = Cancel(job_id=job.id, attempt=job.attempt, grace_s=grace, reason=reason)
                self._spawn(connection.send(cancel))

    def _hub_log(self, job: ActiveJob, level: str, message: str) -> None:
        self._committer.log(job.id, job.attempt, "hub", level, message, time=self._clock())

    def _spawn(self, work: Awaitable[Any]) -> None:
        """Run in the background, keeping a reference so the task is not collected mid-way."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        # Retrieve every outcome: a failure is logged once, with its traceback, instead of
        # asyncio's "Task exception was never retrieved" at some later garbage collection.
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background job work failed", exc_info=task.exception())


def _store_input(job_id: str, job_input: dict[str, Any]) -> Effect:
    async def write(session: AsyncSession) -> None:
        await session.execute(update(Job).where(Job.id == job_id).values(input=job_input))

    return write


def _move(job: ActiveJob, target: JobStatus) -> None:
    """Change a job's status along the protocol's state machine; an illegal move is a bug."""
    job.status = check_transition(JobStatus(job.status), target)


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"message": message, "kind": kind, "retryable": False, "traceback": None}
