"""The job engine: holds active jobs, hands them to live connections, runs their leases.

While the hub runs, the engine's in-memory index of active (queued or running) jobs
is the authority and the database is its durable copy, written by group commit. The
rules that make this safe:

- an assignment is committed before the `job` message is sent, so attempt numbers
  are never reused;
- an outcome is committed before the `ack` is sent, so an acked outcome survives a
  crash, and an un-acked one is re-sent by the plugin and applied then;
- an outcome is applied only for the job's current running attempt (`ActiveJob.holds`),
  so each attempt's outcome is applied at most once; anything else is acked and dropped;
- an outcome's writes (pre-labels) commit in the same transaction as the job's final
  status, and a job whose writes fail is failed, never succeeded.

The engine does no I/O of its own. Gateway events (`connection_opened`, `handle`, ...) and
`reap` change its state at once; `flush` fills free slots, waits until everything recorded
so far is on disk, and returns the frames that may now go out. `hub.jobs.loop` runs that in
the hub; tests call it themselves, so they never wait for background work.

A job pinned to a plugin version (`ActiveJob.required_version`) goes only to a process
reporting that version and waits queued until one is live; the queue keeps such jobs apart
so the rest keeps flowing (`hub.jobs.queue`).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.protocol import JobStatus, MessageTooLarge
from hub.db import JobRow, Plugin
from hub.jobs.committer import Effect, Fence
from hub.jobs.dispatch import assign_round
from hub.jobs.leases import Leases
from hub.jobs.ledger import CANCELLED, Applied, OnFenced, Outgoing, TypeRules
from hub.jobs.reports import PluginReports
from hub.jobs.state import ActiveJob, StoredOrActiveJob, error, move

__all__ = ["Applied", "JobEngine", "Outgoing", "TypeRules"]

log = logging.getLogger("hub.jobs")

_PLUGIN_DELETED = "cancelled: the plugin was deleted"


class JobEngine(PluginReports, Leases):
    # --- life of the engine ----------------------------------------------------------

    async def start(self, *, fence: Fence | None = None, on_fenced: OnFenced | None = None) -> None:
        """Start a term as dispatcher: reload active jobs. Running ones get a fresh lease, so
        their plugins can reconnect and claim them (`hello.jobs`) before they are re-queued.
        With several nodes, `fence` checks the dispatcher lease in every write, and
        `on_fenced` hears when it was lost."""
        self._new_term(fence, on_fenced)
        now = self._clock()
        async with self._store.read() as session:
            rows = await session.scalars(
                select(JobRow).where(JobRow.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            )
            for row in rows:
                job = ActiveJob.from_row(row)
                self._active[job.id] = job
                if self._rules.is_run(job):
                    continue  # never dispatched: its chunks are the work
                if job.status == JobStatus.QUEUED:
                    self._enqueue(job)
                else:
                    job.connection_id = None
                    job.lease_expires_at = now + self._settings.lease_ttl
                    if job.cancel_requested_at is not None:
                        job.cancel_deadline = now + self._settings.cancel_grace
                    self._running.add(job.id)
        if self._active:
            log.info("recovered %d active jobs (%d running)", len(self._active), len(self._running))
        self._committer.start()
        self._dispatching = True
        await self._end_jobs_of_missing_plugins()

    async def _end_jobs_of_missing_plugins(self) -> None:
        """Jobs whose plugin was deleted (by a hub from before deletes ended them) would
        wait for a process that can never connect: they end now, as a delete ends them."""
        plugin_ids = {job.plugin_id for job in self._active.values()}
        if not plugin_ids:
            return
        async with self._store.read() as session:
            found = await session.scalars(select(Plugin.id).where(Plugin.id.in_(plugin_ids)))
            existing = set(found)
        for plugin_id in plugin_ids - existing:
            await self.end_plugin_jobs(plugin_id)

    @property
    def dispatching(self) -> bool:
        """True during a term: the engine holds the jobs and hands them out."""
        return self._dispatching

    async def abandon(self) -> None:
        """End the term without writing anything more: the lease is gone, and the next
        dispatcher starts from the database."""
        self._dispatching = False
        await self._committer.abandon()
        self._new_term()

    async def adopt(self, job_ids: list[str]) -> int:
        """Take into the books jobs another node stored (a submit there): queued ones are
        queued here. Returns how many were new to the books."""
        missing = [job_id for job_id in job_ids if job_id not in self._active]
        if not missing:
            return 0
        async with self._store.read() as session:
            rows = list(await session.scalars(select(JobRow).where(JobRow.id.in_(missing))))
        adopted = 0
        for row in rows:
            if row.id in self._active or JobStatus(row.status).is_terminal:
                continue
            job = ActiveJob.from_row(row)
            self._active[job.id] = job
            adopted += 1
            if job.status == JobStatus.QUEUED and not self._rules.is_run(job):
                self._enqueue(job)
            if job.plugin_id in self._deleted_plugins:
                self._end_plugin_jobs(job.plugin_id)
        return adopted

    async def durable(self) -> None:
        """Wait until everything recorded so far is on disk."""
        await self._committer.commit()

    def also(self, effect: Effect) -> None:
        """Write `effect` in the next transaction (under the lease, with the job states)."""
        self._committer.also(effect)
        self._work.set()

    async def stop(self) -> None:
        """Stop dispatching and hand assignments no plugin has accepted back to the queue."""
        if self._committer.fenced is not None:
            await self.abandon()  # nothing may be written any more
            return
        self._dispatching = False
        for job_id in list(self._running):
            job = self._active[job_id]
            if job.started_at is None and job.cancel_requested_at is None:
                self._release_capacity(job)
                self._requeue(job, reason="hub shutting down before the plugin accepted it")
        await self._committer.stop()

    # --- delivery ----------------------------------------------------------------------

    async def flush(self) -> list[Outgoing]:
        """Fill free slots from the queues, wait until everything recorded so far is on
        disk, and return the frames that may now be sent, in order."""
        self._work.clear()
        for plugin_id in sorted(self._kicked):
            self._kicked.discard(plugin_id)
            self._dispatch(plugin_id)
        ready, self._outgoing = self._outgoing, []
        await self._committer.commit()  # never send an attempt, or an ack, not on disk
        return [built for out in ready if (built := self._built(out)) is not None]

    def _built(self, out: Outgoing) -> Outgoing | None:
        job = out.job
        if job is None:
            return out
        if job.connection_id != out.connection_id or not job.holds(job.id, out.attempt):
            return None  # taken back meanwhile (connection closed, cancelled, timed out)
        message = job.to_message(self._rules.dispatch_input(job))
        return Outgoing(out.connection_id, message, job, out.attempt)

    def undeliverable(self, out: Outgoing, too_large: MessageTooLarge) -> None:
        """A `job` frame is larger than its process takes. Sent anyway, the process would
        drop the frame or the connection, and the job would come back forever."""
        job = out.job
        if job is None or not job.holds(job.id, out.attempt):
            return
        self._release_capacity(job)
        message = (
            f"the job message is {too_large.size} bytes, over the {too_large.limit}-byte limit "
            "of the plugin process; make the config or input smaller"
        )
        self._finish(job, JobStatus.FAILED, error=error(message, "JobTooLarge"))

    def _dispatch(self, plugin_id: str) -> None:
        queue = self._queues.get(plugin_id)
        if not queue or not queue.ready or not self._dispatching:
            return
        rounds = assign_round(
            queue,
            self._live.connections(plugin_id),
            self._active.get,
            interactive_reserve=self._settings.interactive_reserve,
        )
        now = self._clock()
        for connection, job in rounds:
            move(job, JobStatus.RUNNING)
            job.attempt += 1
            job.connection_id = connection.id
            job.plugin_version = connection.plugin_version
            job.lease_expires_at = now + self._settings.accept_timeout
            job.not_before = job.started_at = None
            connection.running += 1
            self._running.add(job.id)
            self._committer.touch(job)
            self._outgoing.append(Outgoing(connection.id, job=job, attempt=job.attempt))

    # --- what the API asks for -----------------------------------------------------------

    async def submit(self, jobs: list[ActiveJob]) -> None:
        """Queue new jobs and return once they are stored. An idle plugin's assignment may
        ride in the same transaction; its `job` frame still waits for that commit."""
        for job in jobs:
            self._active[job.id] = job
            self._committer.add(job)
            if job.status == JobStatus.QUEUED:
                self._enqueue(job)
        if jobs and jobs[0].plugin_id in self._deleted_plugins:
            self._end_plugin_jobs(jobs[0].plugin_id)
        await self._committer.commit()

    async def cancel(self, job: ActiveJob, *, reason: str = CANCELLED) -> None:
        """Cancel an active job: at once if queued; if running, when the plugin stops or the
        grace period ends, whichever comes first."""
        self._cancel(job, reason)
        await self._committer.commit()

    def _cancel(self, job: ActiveJob, reason: str) -> None:
        now = self._clock()
        if job.is_terminal or job.applying:
            return  # finished meanwhile; its outcome is on its way to disk
        if self._rules.is_run(job):
            # Stop the remaining chunks; the run ends now, with what was done so far.
            self._finish(
                job, JobStatus.CANCELLED, result=job.result, error=error(reason, "Cancelled")
            )
            for chunk in [c for c in self._active.values() if c.parent_id == job.id]:
                self._cancel(chunk, reason)
        elif job.status == JobStatus.QUEUED:
            self._queues[job.plugin_id].remove(job.id)
            self._finish(job, JobStatus.CANCELLED, error=error(reason, "Cancelled"))
        elif job.cancel_requested_at is None:
            job.cancel_requested_at = now
            job.cancel_deadline = now + self._settings.cancel_grace
            self._hub_log(job, "INFO", f"{reason}; waiting up to {self._settings.cancel_grace}s")
            self._committer.touch(job)
            self._send_cancel(job, reason, self._settings.cancel_grace)

    async def retry(self, row: StoredOrActiveJob) -> ActiveJob:
        """Queue a finished job again, as a fresh job with its attempt count going on."""
        job = ActiveJob.from_row(row)
        move(job, JobStatus.QUEUED)
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
        self._enqueue(job)
        await self._committer.commit()
        return job

    async def retry_run(
        self,
        row: StoredOrActiveJob,
        children: list[StoredOrActiveJob],
        *,
        only_failed: bool,
        by: str,
    ) -> ActiveJob | None:
        """Open a finished run again, same id, with new children for all its work or for
        what failed (the type decides: `rerun`), stored in one transaction. None when there
        is nothing to do: the run or one of its children is still active, or nothing failed."""
        held = self._active.get(row.id)
        if held is not None and not held.is_terminal:
            return None
        if any(not JobStatus(child.status).is_terminal for child in children):
            return None
        run = ActiveJob.from_row(row)
        chunks, note = self._rules.rerun(
            run,
            [ActiveJob.from_row(child) for child in children],
            only_failed=only_failed,
            by=by,
            now=self._clock(),
        )
        if not chunks:
            return None
        self._active[run.id] = run
        self._hub_log(run, "INFO", note)
        self._committer.touch(run)
        for chunk in chunks:
            self._active[chunk.id] = chunk
            self._committer.add(chunk)
            self._enqueue(chunk)
        if run.plugin_id in self._deleted_plugins:
            self._end_plugin_jobs(run.plugin_id)
        await self._committer.commit()
        return run

    async def end_plugin_jobs(self, plugin_id: str) -> int:
        """The plugin is gone: every unfinished job of it ends now as cancelled, running ones
        without the usual grace (no process of it can report any more). Returns how many."""
        ended = self._end_plugin_jobs(plugin_id)
        await self._committer.commit()
        return ended

    def _end_plugin_jobs(self, plugin_id: str) -> int:
        self._deleted_plugins.add(plugin_id)
        ended = 0
        for job in [j for j in self._active.values() if j.plugin_id == plugin_id]:
            if job.is_terminal or job.applying:
                continue
            if job.status == JobStatus.QUEUED:
                self._queues[plugin_id].remove(job.id)
            elif job.id in self._running:
                self._send_cancel(job, _PLUGIN_DELETED, 0.0)
                self._release_capacity(job)
            if not job.is_terminal:  # a run may have ended with its last chunk
                self._finish(
                    job,
                    JobStatus.CANCELLED,
                    result=job.result,
                    error=error(_PLUGIN_DELETED, "Cancelled"),
                )
                ended += 1
        self._queues.pop(plugin_id, None)
        return ended


def _store_input(job_id: str, job_input: dict[str, Any]) -> Effect:
    async def write(session: AsyncSession) -> None:
        await session.execute(update(JobRow).where(JobRow.id == job_id).values(input=job_input))

    return write
