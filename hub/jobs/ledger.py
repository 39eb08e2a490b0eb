"""The engine's books: the active jobs, their queues, and the moves every part of the engine
makes on them (queue, re-queue, finish, free a slot, lose an attempt), recorded for the
next group commit and the next delivery round. No I/O of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ango_plugins_sdk.protocol import Backoff, Cancel, HubMessage, JobStatus
from hub.db import Store
from hub.jobs.committer import Committer, Effect, Fence, Fenced
from hub.jobs.live import LiveConnection, LiveRegistry
from hub.jobs.queue import PluginQueue
from hub.jobs.state import ActiveJob, error, move
from hub.settings import Settings

log = logging.getLogger("hub.jobs")

RETRY_DELAY_CAP = 60.0
OnFenced = Callable[[Fenced], None]
CANCELLED = "cancelled by user"


class TypeRules(Protocol):
    """What differs between job types, as far as the engine is concerned."""

    def dispatch_input(self, job: ActiveJob) -> dict[str, Any]:
        """The input to send with the job's current attempt."""
        ...

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        """What a successful attempt's output means: the result to store, and perhaps a write
        to make in the same transaction (pre-labels, say). Raises ValueError if invalid."""
        ...

    def is_run(self, job: ActiveJob) -> bool:
        """A job whose work is done by child jobs (`input.parent_id`): never dispatched."""
        ...

    def fold(self, run: ActiveJob, child: ActiveJob) -> bool:
        """Add a finished child to its run; True once every child is in."""
        ...

    def run_outcome(self, run: ActiveJob) -> tuple[JobStatus, dict[str, Any] | None]:
        """How a run ends once every child is in."""
        ...

    def rerun(
        self,
        run: ActiveJob,
        children: Sequence[ActiveJob],
        *,
        only_failed: bool,
        by: str,
        now: float,
    ) -> tuple[list[ActiveJob], str]:
        """Open a finished run again (moved to running, its summary a new round) with new
        children; returns them and what to log. No children: nothing to do, the run unchanged."""
        ...


@dataclass(frozen=True, slots=True)
class Applied:
    result: Any
    effect: Effect | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A frame for one connection. A `job` frame carries its job and attempt instead of a
    message: it is built (data paths, tokens) only if the assignment still holds."""

    connection_id: str
    message: HubMessage | None = None
    job: ActiveJob | None = None
    attempt: int = 0


class Ledger:
    def __init__(
        self,
        store: Store,
        live: LiveRegistry,
        settings: Settings,
        *,
        rules: TypeRules,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rules = rules
        self._store = store
        self._live = live
        self._settings = settings
        self._clock = clock
        self._retry_backoff = Backoff(
            initial=settings.retry_delay, maximum=max(RETRY_DELAY_CAP, settings.retry_delay)
        )
        self._work = asyncio.Event()
        self.finished: Counter[str] = Counter()
        """Jobs that reached each terminal status since the hub started (for /metrics)."""
        self._end_waiters: defaultdict[str, list[asyncio.Future[ActiveJob | None]]] = defaultdict(
            list
        )
        """Callers long-polling a job (`GET /api/v1/jobs/{id}?wait=`): handed the job once
        its end is stored, or None when the term ends (they read the database then)."""
        self._new_term()

    def _new_term(self, fence: Fence | None = None, on_fenced: OnFenced | None = None) -> None:
        """Empty books for a term as dispatcher: what was in memory belongs to the last term
        (or to no one), and the database is the truth a term starts from."""
        self._wake_end_waiters((job_id, None) for job_id in list(self._end_waiters))
        self._active: dict[str, ActiveJob] = {}
        self._running: set[str] = set()
        self._queues: defaultdict[str, PluginQueue] = defaultdict(PluginQueue)
        self._committer = Committer(
            self._store, after_commit=self._forget_finished, fence=fence, on_fenced=on_fenced
        )
        self._kicked: set[str] = set()
        self._outgoing: list[Outgoing] = []
        self._dispatching = False
        self._deleted_plugins: set[str] = set()
        """Plugins deleted during this term: a job submitted to one in a race with the
        delete ends at once instead of waiting for a process that will never come."""

    @property
    def commits(self) -> int:
        return self._committer.commits

    def active_count(self) -> int:
        return len(self._active)

    def running_count(self) -> int:
        return len(self._running)

    def queued_count(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def active(self, job_id: str) -> ActiveJob | None:
        return self._active.get(job_id)

    @property
    def has_work(self) -> bool:
        """`flush` has something to do (a dispatch round, frames to send)."""
        return self._work.is_set()

    async def wait_for_work(self) -> None:
        """Return when `flush` has something to do."""
        await self._work.wait()

    def _send(self, connection_id: str, message: HubMessage) -> None:
        self._outgoing.append(Outgoing(connection_id, message))
        self._work.set()

    def _kick(self, plugin_id: str) -> None:
        """Have the next `flush` run a dispatch round for the plugin."""
        if self._dispatching:
            self._kicked.add(plugin_id)
            self._work.set()

    def _current(self, connection: LiveConnection, job_id: str, attempt: int) -> ActiveJob | None:
        """The job if (job_id, attempt) is its running attempt, not already being finished,
        and it belongs to the plugin on this connection; anything else is stale (or forged)
        and changes nothing."""
        job = self._active.get(job_id)
        if job is None or not job.holds(job_id, attempt) or job.plugin_id != connection.plugin_id:
            return None
        return None if job.applying else job

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

    def _requeue(self, job: ActiveJob, *, reason: str, delay: bool = False) -> None:
        move(job, JobStatus.QUEUED)
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

    def _lose_attempt(self, job: ActiveJob, reason: str, *, delay: bool = True) -> None:
        """The attempt ended without an outcome: it counts against the job, which runs again
        (after a retry delay) or, when its attempts are used up, fails saying why."""
        job.failed_attempts += 1
        if job.failed_attempts >= self._settings.max_attempts:
            message = f"gave up after {job.failed_attempts} lost attempts; last: {reason}"
            self._finish(job, JobStatus.FAILED, error=error(message, "AttemptsExhausted"))
        else:
            self._requeue(job, reason=f"attempt {job.attempt} lost: {reason}", delay=delay)

    def _finish(
        self,
        job: ActiveJob,
        status: JobStatus,
        *,
        result: Any = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        move(job, status)
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
            level = "ERROR" if status == JobStatus.FAILED else "INFO"
            self._hub_log(job, level, f"{status}: {(error or {}).get('message', '')}")
        self._committer.touch(job)
        run = self._active.get(job.parent_id or "")
        if run is not None and not run.is_terminal:
            if self._rules.fold(run, job):
                status, run_error = self._rules.run_outcome(run)
                self._finish(run, status, result=run.result, error=run_error)
            else:
                self._committer.touch(run)

    def _release_capacity(self, job: ActiveJob) -> None:
        """The job's connection has one more free slot."""
        connection = self._live.get(job.connection_id) if job.connection_id else None
        if connection is not None:
            connection.running = max(0, connection.running - 1)
            self._kick(job.plugin_id)

    def _forget_finished(self, written: Iterable[tuple[ActiveJob, str]]) -> None:
        """After a commit, jobs whose terminal state it wrote live only in the database.
        A job that finished while an older state of it was being written stays until the
        transaction carrying its outcome commits."""
        ended = []
        for job, written_status in written:
            if JobStatus(written_status).is_terminal and self._active.get(job.id) is job:
                del self._active[job.id]
                ended.append((job.id, job))
        if self._end_waiters:
            self._wake_end_waiters(ended)

    def stored_end(self, job_id: str) -> asyncio.Future[ActiveJob | None] | None:
        """A future resolved with the job once its end is stored (as stored: nothing changes
        it after), or with None when the term ends first; None if it is not active here
        (it ended already, or another node dispatches it)."""
        if job_id not in self._active:
            return None
        future = asyncio.get_running_loop().create_future()
        self._end_waiters[job_id].append(future)
        future.add_done_callback(lambda done: self._drop_end_waiter(job_id, done))
        return future

    def _drop_end_waiter(self, job_id: str, future: asyncio.Future[ActiveJob | None]) -> None:
        waiters = self._end_waiters.get(job_id)
        if waiters is not None and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._end_waiters[job_id]

    def _wake_end_waiters(self, ended: Iterable[tuple[str, ActiveJob | None]]) -> None:
        for job_id, job in ended:
            for future in self._end_waiters.pop(job_id, []):
                if not future.done():
                    future.set_result(job)

    def _send_cancel(self, job: ActiveJob, reason: str, grace: float) -> None:
        if job.connection_id is not None:
            cancel = Cancel(job_id=job.id, attempt=job.attempt, grace_s=grace, reason=reason)
            self._send(job.connection_id, cancel)

    def _hub_log(self, job: ActiveJob, level: str, message: str) -> None:
        self._committer.log(job.id, job.attempt, "hub", level, message, time=self._clock())
