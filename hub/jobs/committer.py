"""Group commit: one writer task turns many small job changes into one transaction.

Changes are recorded, not written: a new job, a job whose state changed (its full
snapshot is written, so the order of changes inside one batch does not matter), a log
record, an effect (a write an outcome makes, such as pre-labels). The writer wakes when
there is work and writes everything pending at once; whoever needs durability awaits
`commit()`, which resolves after the next transaction that contains everything recorded
before the call.

Effects run first in their transaction, each in a savepoint, and each reports back whether
it held; the job states are snapshotted after that, so a job whose effect failed is
written as failed in the same transaction, never as succeeded.

With several hub nodes, every transaction begins with the `fence`: it checks (and
renews) the dispatcher lease this engine runs under, so a node that lost it writes
nothing. A fenced transaction is not retried: the committer stops and says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import Store
from hub.jobs import job_rows
from hub.jobs.state import ActiveJob

log = logging.getLogger("hub.jobs")

Effect = Callable[[AsyncSession], Awaitable[None]]
Fence = Callable[[AsyncSession], Awaitable[None]]
"""Raises `Fenced` inside a write transaction unless this node still holds its lease."""
EffectDone = Callable[[Exception | None], None]
"""Told how an effect went (None: it held), inside its transaction, before the job states
are snapshotted: what it changes in memory is written with it."""


class Fenced(Exception):
    """This node no longer holds the dispatcher lease: its writes were refused."""


@dataclass
class _Taken:
    """What one transaction carries, taken from what is pending (given back if it fails)."""

    effects: list[tuple[Effect, EffectDone | None]] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    new: dict[str, ActiveJob] = field(default_factory=dict)
    dirty: dict[str, ActiveJob] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)


class Committer:
    def __init__(
        self,
        store: Store,
        *,
        after_commit: Callable[[list[tuple[ActiveJob, str]]], None],
        fence: Fence | None = None,
        on_fenced: Callable[[Fenced], None] | None = None,
    ) -> None:
        self._store = store
        self._after_commit = after_commit
        self._fence = fence
        self._on_fenced = on_fenced
        self.fenced: Fenced | None = None
        """Set once a transaction was refused for a lost lease; nothing is written after."""
        self._new: dict[str, ActiveJob] = {}
        self._dirty: dict[str, ActiveJob] = {}
        self._logs: list[dict[str, Any]] = []
        self._effects: list[tuple[Effect, EffectDone | None]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._writing = False
        self._task: asyncio.Task[None] | None = None
        self.commits = 0
        """Transactions written so far (for /metrics and benchmarks)."""

    def add(self, job: ActiveJob) -> None:
        self._new[job.id] = job
        self._wake.set()

    def touch(self, job: ActiveJob) -> None:
        if job.id not in self._new:
            self._dirty[job.id] = job
        self._wake.set()

    def log(
        self,
        job_id: str,
        attempt: int,
        source: str,
        level: str,
        message: str,
        *,
        time: float,
        fields: dict[str, Any] | None = None,
    ) -> None:
        self._logs.append(
            {
                "job_id": job_id,
                "attempt": attempt,
                "source": source,
                "level": level,
                "message": message,
                "fields": fields or {},
                "time": time,
            }
        )
        self._wake.set()

    def also(self, effect: Effect, then: EffectDone | None = None) -> None:
        """Run `effect` inside the next transaction, so what it writes commits together with
        the job states in it (an outcome's side effects, applied exactly once with it), and
        tell `then` whether it held. A failed effect is undone alone (a savepoint)."""
        self._effects.append((effect, then))
        self._wake.set()

    @property
    def idle(self) -> bool:
        """Nothing recorded that is not on disk, and no transaction being written."""
        return not (self._writing or self._new or self._dirty or self._logs or self._effects)

    async def commit(self) -> None:
        """Wait until everything recorded so far is durable. Raises `Fenced` once this
        node lost the dispatcher lease."""
        if self.fenced is not None:
            raise self.fenced
        if self.idle:
            return
        if self._task is None:
            # Never started: a term that ended before this was recorded (the engine's next
            # committer waits for the next term). Nothing would ever write it.
            raise Fenced("this node does not dispatch")
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake.set()
        await waiter

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        """Write what is pending, then stop the writer."""
        await self.commit()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def abandon(self) -> None:
        """Stop the writer and forget what is pending, unwritten (the lease is gone). Whoever
        waits for a commit is told `Fenced`: what they wait for will never be written here."""
        if self.fenced is None:
            self.fenced = Fenced("this node stopped dispatching: the lease was lost")
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._new, self._dirty, self._logs, self._effects = {}, {}, [], []
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(self.fenced)
        self._waiters = []

    async def _run(self) -> None:
        while self.fenced is None:
            await self._wake.wait()
            # Let the tasks woken with this one record first: the delivery round that a
            # submit or an outcome kicked assigns the next jobs now, so their assignments
            # ride in this transaction instead of waiting for the next one.
            await asyncio.sleep(0)
            self._wake.clear()
            self._writing = True
            try:
                await self._write_pending()
            finally:
                self._writing = False

    async def _write_pending(self) -> None:
        if not (self._effects or self._new or self._dirty or self._logs):
            done, self._waiters = self._waiters, []
            _resolve(done)  # what they waited for went out in an earlier transaction
            return
        taken = _Taken()
        try:
            if self._store.is_sqlite and self._fence is None and not self._effects:
                # Rows alone: straight to the driver (Store.driver_write).
                async with self._store.driver_write() as driver:
                    written = await self._write_rows(driver, taken)
            else:
                async with self._store.write() as session:
                    if self._fence is not None:
                        await self._fence(session)
                    # Effects recorded while earlier ones ran join this transaction too.
                    while self._effects:
                        batch, self._effects = self._effects, []
                        taken.effects += batch
                        for effect, then in batch:
                            await _run_effect(session, effect, then)
                    driver = await job_rows.driver_of(session)
                    written = await self._write_rows(driver, taken)
        except Fenced as fenced:
            self._stop_fenced(fenced, taken.waiters)
            return
        except Exception as exc:
            jobs = len(taken.new) + len(taken.dirty)
            log.exception("group commit of %d jobs failed; will retry", jobs)
            # Put the changes back so the next transaction retries them. An effect's
            # `then` may run again: it must be idempotent.
            self._new = {**taken.new, **self._new}
            for job_id, job in taken.dirty.items():
                self._dirty.setdefault(job_id, job)
            self._logs = taken.logs + self._logs
            self._effects = taken.effects + self._effects
            for waiter in taken.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            await asyncio.sleep(0.5)
            self._wake.set()
            return
        self.commits += 1
        self._after_commit(written)
        _resolve(taken.waiters)

    async def _write_rows(
        self, driver: job_rows.Driver, taken: _Taken
    ) -> list[tuple[ActiveJob, str]]:
        """Take what is pending into `taken` and write its rows. From the taking to the
        writes nothing awaits: the waiters taken now wait for nothing that is not in these
        rows (a waiter taken earlier could be told of a commit that missed its jobs; one
        taken later, of a failure of a transaction that wrote them). Later changes go in
        the next transaction."""
        taken.waiters, self._waiters = self._waiters, []
        taken.new, self._new = self._new, {}
        taken.dirty, self._dirty = self._dirty, {}
        taken.logs, self._logs = self._logs, []
        return await job_rows.write(
            driver,
            sqlite=self._store.is_sqlite,
            new=list(taken.new.values()),
            changed=list(taken.dirty.values()),
            logs=taken.logs,
        )

    def _stop_fenced(self, fenced: Fenced, waiters: list[asyncio.Future[None]]) -> None:
        """The lease is gone: nothing recorded may be written any more, by this node."""
        log.warning("the dispatcher lease was lost: this node writes no more job states")
        self.fenced = fenced
        for waiter in [*waiters, *self._waiters]:
            if not waiter.done():
                waiter.set_exception(fenced)
        self._waiters = []
        if self._on_fenced is not None:
            self._on_fenced(fenced)


def _resolve(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)


async def _run_effect(session: AsyncSession, effect: Effect, then: EffectDone | None) -> None:
    """An effect runs in a savepoint: if it fails, it alone is undone (a bad effect must not
    stall every job), and `then` hears why."""
    try:
        async with session.begin_nested():
            await effect(session)
    except Exception as exc:
        log.exception("a job outcome's side effect failed")
        if then is not None:
            then(exc)
        return
    if then is not None:
        then(None)
