"""What the services ask of the dispatcher, whichever node they run on.

On the dispatcher the engine is called directly. On another node a request becomes a row
in `hub_commands` (new jobs are stored in the same transaction), announced with NOTIFY;
the dispatcher applies commands in order and deletes each in the fenced transaction that
writes what it changed, so every command is applied once, by whichever node is the
dispatcher when it is read, and none is lost when the dispatcher changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.protocol import CloseCode, JobStatus
from hub.cluster import notify
from hub.db import JobRow, Store
from hub.db.cluster_tables import HubCommand
from hub.jobs.committer import Effect, Fenced
from hub.jobs.engine import JobEngine
from hub.jobs.live import LiveRegistry
from hub.jobs.state import ActiveJob, StoredOrActiveJob

log = logging.getLogger("hub.cluster")

BATCH = 200
"""Commands applied in one round."""
POLL = 0.5
"""Seconds between two reads of the commands when no news came."""
CONFIRM_WITHIN = 5.0
"""Seconds a node waits for the dispatcher to apply its cancel or retry before answering."""
_CHECK_EVERY = 0.05


class Dispatcher:
    """The services' way to the job engine: here, or through the commands table."""

    def __init__(
        self,
        store: Store,
        engine: JobEngine,
        live: LiveRegistry,
        *,
        clustered: bool,
    ) -> None:
        self._store = store
        self._engine = engine
        self._live = live
        self._clustered = clustered

    @property
    def here(self) -> bool:
        """True when this node runs the engine (always, for a single hub)."""
        return not self._clustered or self._engine.dispatching

    async def _on_engine(self, work: Callable[[], Awaitable[object]]) -> bool:
        """Do `work` on this node's engine when it dispatches. False when the commands table
        must carry it instead: another node dispatches, or the lease went while the work
        waited for its commit, unwritten, so the next dispatcher does it."""
        if not self.here:
            return False
        try:
            await work()
        except Fenced:
            if not self._clustered:
                raise
            return False
        return True

    async def submit(self, jobs: list[ActiveJob]) -> None:
        """Store new jobs; queued when this returns (here), or once the dispatcher adopts
        them (elsewhere; they are stored, and shown queued, at once)."""
        # As submitted (the engine changes them), for the commands path, which only a hub
        # of several nodes takes (one hub's engine raises instead).
        rows = [job.insert_row() for job in jobs] if self._clustered else []
        if await self._on_engine(lambda: self._engine.submit(jobs)):
            return
        async with self._store.write() as session:
            # The rows may be written already (their commit went through just before the
            # lease did): the adopt finds them either way.
            await session.execute(
                pg_insert(JobRow).on_conflict_do_nothing(index_elements=[JobRow.id]), rows
            )
            await _send(session, "adopt", {"job_ids": [job.id for job in jobs]})

    async def cancel(self, job_id: str, reason: str) -> None:
        async def here() -> None:
            job = await _in_the_books(self._engine, job_id)
            if job is not None:
                await self._engine.cancel(job, reason=reason)

        if not await self._on_engine(here):
            await self._ask("cancel", {"job_id": job_id, "reason": reason})

    async def retry(self, job_id: str) -> None:
        if not await self._on_engine(lambda: _retry(self._store, self._engine, job_id)):
            await self._ask("retry", {"job_id": job_id})

    async def retry_run(self, run_id: str, *, only_failed: bool, by: str) -> None:
        """Open a finished run again (see `JobEngine.retry_run`), on whichever node
        dispatches."""

        async def here() -> None:
            await _retry_run(self._store, self._engine, run_id, only_failed=only_failed, by=by)

        if not await self._on_engine(here):
            await self._ask("retry_run", {"run_id": run_id, "only_failed": only_failed, "by": by})

    async def end_plugin_jobs(self, plugin_id: str) -> None:
        if not await self._on_engine(lambda: self._engine.end_plugin_jobs(plugin_id)):
            await self._ask("end_plugin_jobs", {"plugin_id": plugin_id})

    async def disconnect(self, plugin_id: str, code: CloseCode, reason: str) -> None:
        """Close the plugin's connections (secret rotated, plugin deleted)."""
        await self._live.disconnect(plugin_id, code, reason)  # sockets still in a handshake
        if not self.here:
            await self._ask(
                "disconnect", {"plugin_id": plugin_id, "code": int(code), "reason": reason}
            )

    async def _ask(self, kind: str, payload: dict[str, Any]) -> None:
        """Send a command and wait (a while) until the dispatcher applied it."""
        async with self._store.write() as session:
            command_id = await _send(session, kind, payload)
        deadline = time.monotonic() + CONFIRM_WITHIN
        while time.monotonic() < deadline:
            async with self._store.read() as session:
                if await session.get(HubCommand, command_id) is None:
                    return
            await asyncio.sleep(_CHECK_EVERY)
        log.warning("the dispatcher has not applied command %s (%s) yet", command_id, kind)


async def _send(session: AsyncSession, kind: str, payload: dict[str, Any]) -> int:
    result = await session.execute(
        insert(HubCommand).values(kind=kind, payload=payload).returning(HubCommand.id)
    )
    await notify.notify(session, notify.COMMANDS)
    return int(result.scalar_one())


async def _retry(
    store: Store, engine: JobEngine, job_id: str, forget: Effect | None = None
) -> None:
    # A job the engine still holds is read from memory: it may have finished a moment ago,
    # its row not yet written.
    job: StoredOrActiveJob | None = engine.active(job_id)
    if job is None:
        async with store.read() as session:
            job = await session.get(JobRow, job_id)
    if forget is not None:
        engine.also(forget)  # no await until the retry is recorded: one transaction
    current = engine.active(job_id)
    if job is not None and JobStatus(job.status).is_terminal and current in (None, job):
        await engine.retry(job)


async def children_of(store: Store, run: StoredOrActiveJob) -> list[JobRow]:
    """The stored children of a run (a batch run's chunks, of every round), oldest first."""
    async with store.read() as session:
        rows = await session.scalars(
            select(JobRow)
            .where(
                JobRow.plugin_id == run.plugin_id,
                JobRow.type == run.type,
                JobRow.input["parent_id"].as_string() == run.id,
            )
            .order_by(JobRow.created_at, JobRow.id)
        )
        return list(rows)


async def _retry_run(
    store: Store,
    engine: JobEngine,
    run_id: str,
    *,
    only_failed: bool,
    by: str,
    forget: Effect | None = None,
) -> None:
    # The engine's copies first: a run or chunk may have ended a moment ago, unwritten.
    run: StoredOrActiveJob | None = engine.active(run_id)
    if run is None:
        async with store.read() as session:
            run = await session.get(JobRow, run_id)
    children: list[StoredOrActiveJob] = []
    if run is not None:
        children = [engine.active(row.id) or row for row in await children_of(store, run)]
    if forget is not None:
        engine.also(forget)  # no await until the retry is recorded: one transaction
    if run is not None and JobStatus(run.status).is_terminal:
        await engine.retry_run(run, children, only_failed=only_failed, by=by)


async def _in_the_books(engine: JobEngine, job_id: str) -> ActiveJob | None:
    """The engine's job, adopted first when another node stored it and its adopt command
    has not been applied yet (a cancel may overtake it)."""
    job = engine.active(job_id)
    if job is None and await engine.adopt([job_id]):
        job = engine.active(job_id)
    return job


Apply = Callable[[dict[str, Any], Effect], Awaitable[object]]
"""Applies one command's payload. It records `forget` (the command's deletion) with
`engine.also` after its reads and right before the change it records, with no await between,
so that both are written in one transaction: a command is deleted exactly when what it
changed is written."""


class CommandConsumer:
    """The dispatcher's side: applies the commands, oldest first."""

    def __init__(
        self, store: Store, engine: JobEngine, live: LiveRegistry, listener: notify.Listener
    ) -> None:
        self._store = store
        self._engine = engine
        self._listener = listener
        self._task: asyncio.Task[None] | None = None
        self._live = live
        self._apply: dict[str, Apply] = {
            "adopt": self._adopt,
            "cancel": self._cancel,
            "retry": lambda p, forget: _retry(store, engine, p["job_id"], forget),
            "retry_run": lambda p, forget: _retry_run(
                store,
                engine,
                p["run_id"],
                only_failed=bool(p["only_failed"]),
                by=str(p["by"]),
                forget=forget,
            ),
            "end_plugin_jobs": self._end_plugin_jobs,
            "disconnect": self._disconnect,
        }

    def start(self) -> None:
        self._task = asyncio.create_task(self._consume_forever(), name="hub-commands")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _consume_forever(self) -> None:
        while True:
            try:
                while await self.consume():
                    pass
            except Exception:
                log.exception("applying the commands of other nodes failed; retrying")
            await self._listener.wait(notify.COMMANDS, POLL)

    async def consume(self) -> int:
        """Apply a batch of waiting commands; how many there were."""
        async with self._store.read() as session:
            commands = list(
                await session.scalars(select(HubCommand).order_by(HubCommand.id).limit(BATCH))
            )
        if not commands:
            return 0
        for command in commands:
            forget = _forget(command.id)
            apply = self._apply.get(command.kind)
            if apply is None:
                log.warning("ignoring an unknown command %r", command.kind)
                self._engine.also(forget)
                continue
            await apply(command.payload, forget)
        await self._engine.durable()
        return len(commands)

    async def _adopt(self, payload: dict[str, Any], forget: Effect) -> None:
        # Forgetting it early loses nothing: the jobs are stored queued, and a dispatcher
        # loads every queued job when its term starts.
        self._engine.also(forget)
        await self._engine.adopt(payload["job_ids"])

    async def _cancel(self, payload: dict[str, Any], forget: Effect) -> None:
        job = await _in_the_books(self._engine, payload["job_id"])
        self._engine.also(forget)
        if job is not None:
            await self._engine.cancel(job, reason=payload["reason"])

    async def _end_plugin_jobs(self, payload: dict[str, Any], forget: Effect) -> None:
        self._engine.also(forget)
        await self._engine.end_plugin_jobs(payload["plugin_id"])

    async def _disconnect(self, payload: dict[str, Any], forget: Effect) -> None:
        # No stored change: a dispatcher closes every socket when its term ends anyway.
        self._engine.also(forget)
        code = CloseCode(payload["code"])
        await self._live.disconnect(payload["plugin_id"], code, payload["reason"])


def _forget(command_id: int) -> Effect:
    async def forget(session: AsyncSession) -> None:
        await session.execute(delete(HubCommand).where(HubCommand.id == command_id))

    return forget
