"""Fixtures for the job engine: a fake clock, a real store (SQLite, or PostgreSQL with
HUB_TEST_DATABASE_URL: tests/databases.py), an engine driven by hand,
and fake plugin connections that record what the hub sends them.

Nothing runs in the background: `Harness.step()` is one delivery round (dispatch, commit,
send), and time moves only when a test moves the clock and calls `reap()`. So after a step,
what has not happened will not happen, and tests never sleep to find out."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel
from sqlalchemy import select

from ango_plugins_sdk.protocol import CloseCode, JobRef, JobStatus, MessageTooLarge, encode
from hub.db import JobLog, JobRow, Organization, Plugin, Store
from hub.jobs.engine import Applied, JobEngine
from hub.jobs.live import LiveConnection, LiveRegistry
from hub.jobs.loop import EngineLoop
from hub.jobs.queue import BATCH
from hub.jobs.state import ActiveJob
from hub.security import new_id
from hub.settings import Settings

M = TypeVar("M", bound=BaseModel)

PLUGIN = "plugin-1"
ORG = "org-1"

LEASE_TTL = 10.0
ACCEPT_TIMEOUT = 2.0
MAX_ATTEMPTS = 3
RETRY_DELAY = 1.0
CANCEL_GRACE = 3.0
RETRY_WAIT = 200.0
"""Clock advance that outlasts any retry delay (capped at 60 s)."""
RECONNECT_GRACE = 1.0


class FakeClock:
    """Time that only moves when a test moves it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass
class FakePeer:
    """The plugin side of one connection: what the hub sent it and how it was closed."""

    connection: LiveConnection
    harness: Harness
    sent: list[BaseModel] = field(default_factory=list)
    closed: list[tuple[CloseCode, str]] = field(default_factory=list)
    on_send: Callable[[BaseModel], Awaitable[None]] | None = None

    @property
    def id(self) -> str:
        return self.connection.id

    def of_type(self, kind: type[M]) -> list[M]:
        return [m for m in self.sent if isinstance(m, kind)]


_connection_numbers = itertools.count(1)


class PassThrough:
    """Job type rules that send the stored input and store the output as the result."""

    def dispatch_input(self, job: ActiveJob) -> dict[str, Any]:
        return job.input

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        return Applied(output)

    def is_run(self, job: ActiveJob) -> bool:
        return False

    def fold(self, run: ActiveJob, child: ActiveJob) -> bool:
        raise AssertionError("no runs here")

    def run_outcome(self, run: ActiveJob) -> tuple[JobStatus, dict[str, Any] | None]:
        raise AssertionError("no runs here")

    def rerun(
        self,
        run: ActiveJob,
        children: Sequence[ActiveJob],
        *,
        only_failed: bool,
        by: str,
        now: float,
    ) -> tuple[list[ActiveJob], str]:
        raise AssertionError("no runs here")


@dataclass
class Harness:
    """One engine on one store, with the fake clock and a live registry."""

    store: Store
    settings: Settings
    clock: FakeClock
    live: LiveRegistry
    engine: JobEngine
    stopped: bool = False

    async def step(self) -> None:
        """Delivery rounds, as the hub's loop runs them (dispatch, commit, send), until the
        engine has nothing left to do: what has not happened now will not happen by itself."""
        loop = EngineLoop(self.engine, self.live)
        for _ in range(10):
            await loop.deliver()
            if not self.engine.has_work:
                return
        raise AssertionError("the engine still has work after 10 delivery rounds")

    async def expect(self, predicate: Callable[[], Any], what: str = "the condition") -> None:
        """After the pending work is done, `predicate()` holds."""
        await self.step()
        assert predicate(), f"expected {what}"

    # --- jobs ------------------------------------------------------------------------

    def make_job(
        self,
        *,
        plugin_id: str = PLUGIN,
        organization_id: str = ORG,
        priority: int = BATCH,
        timeout_s: float | None = None,
        config: dict[str, Any] | None = None,
    ) -> ActiveJob:
        """An ActiveJob as JobService.submit builds it."""
        return ActiveJob(
            id=new_id(),
            organization_id=organization_id,
            plugin_id=plugin_id,
            created_by="user-1",
            type="custom",
            operation=None,
            config=config if config is not None else {},
            input={},
            priority=priority,
            timeout_s=timeout_s,
            status=JobStatus.QUEUED,
            created_at=self.clock(),
        )

    async def submit(self, count: int = 1, **kwargs: Any) -> list[ActiveJob]:
        jobs = [self.make_job(config={"n": n}, **kwargs) for n in range(count)]
        await self.engine.submit(jobs)
        return jobs

    # --- connections -----------------------------------------------------------------

    def register(
        self, capacity: int = 1, *, plugin_id: str = PLUGIN, max_message_size: int | None = None
    ) -> FakePeer:
        """A fake connection in the live registry (not yet announced to the engine). With
        `max_message_size`, its send refuses larger messages as the gateway's does."""
        peer: FakePeer

        async def send(messages: Sequence[BaseModel]) -> dict[int, MessageTooLarge]:
            refused: dict[int, MessageTooLarge] = {}
            for index, message in enumerate(messages):
                try:
                    encode(message, max_size=max_message_size)  # as the gateway refuses
                except MessageTooLarge as exc:
                    refused[index] = exc
                    continue
                if peer.on_send is not None:
                    await peer.on_send(message)
                peer.sent.append(message)
            return refused

        async def close(code: CloseCode, reason: str) -> None:
            peer.closed.append((code, reason))

        number = next(_connection_numbers)
        connection = LiveConnection(
            id=f"conn-{number}",
            plugin_id=plugin_id,
            sdk_version="1.0",
            plugin_version="1.0",
            hostname="host",
            pid=1000 + number,
            capacity=capacity,
            close=close,
            send=send,
        )
        peer = FakePeer(connection, self)
        self.live.add(connection)
        return peer

    async def connect(
        self,
        capacity: int = 1,
        *,
        held: list[JobRef] | None = None,
        plugin_id: str = PLUGIN,
        max_message_size: int | None = None,
    ) -> FakePeer:
        """Register a connection and announce it, as the gateway does after `hello`."""
        peer = self.register(capacity, plugin_id=plugin_id, max_message_size=max_message_size)
        self.engine.connection_opened(peer.connection, held or [])
        await self.step()
        return peer

    async def disconnect(self, peer: FakePeer, *, orderly: bool = False) -> None:
        """What the gateway does when a socket ends (by default, abruptly: a crash, a cut)."""
        self.live.remove(peer.connection)
        self.engine.connection_closed(peer.connection, orderly=orderly)
        await self.step()

    # --- the database ----------------------------------------------------------------

    async def row(self, job_id: str) -> JobRow:
        async with self.store.read() as session:
            row = await session.get(JobRow, job_id)
        assert row is not None, f"job {job_id} not in the database"
        return row

    async def logs(self, job_id: str, *, source: str | None = None) -> list[JobLog]:
        query = select(JobLog).where(JobLog.job_id == job_id).order_by(JobLog.id)
        if source is not None:
            query = query.where(JobLog.source == source)
        async with self.store.read() as session:
            return list(await session.scalars(query))

    async def expect_row(self, job_id: str, check: Callable[[JobRow], bool]) -> JobRow:
        """The job's stored row, once the pending work is done; it must pass `check`."""
        await self.step()
        row = await self.row(job_id)
        assert check(row), f"job {job_id} is not there; its row: {_describe(row)}"
        return row

    async def expect_status(self, job_id: str, status: str) -> JobRow:
        return await self.expect_row(job_id, lambda r: r.status == status)

    # --- the engine ------------------------------------------------------------------

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.engine.stop()

    async def restart(self) -> None:
        """Stop this engine and start a new one on the same store, with no connections."""
        await self.stop()
        self.live = LiveRegistry()
        self.engine = JobEngine(
            self.store, self.live, self.settings, clock=self.clock, rules=PassThrough()
        )
        await self.engine.start()
        self.stopped = False


def _describe(row: JobRow) -> dict[str, Any]:
    return {
        name: getattr(row, name)
        for name in ("status", "attempt", "failed_attempts", "connection_id", "not_before")
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Change with `@pytest.mark.parametrize("settings_overrides", [{...}])`."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, settings_overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "lease_ttl": LEASE_TTL,
        "accept_timeout": ACCEPT_TIMEOUT,
        "max_attempts": MAX_ATTEMPTS,
        "retry_delay": RETRY_DELAY,
        "cancel_grace": CANCEL_GRACE,
        "reconnect_grace": RECONNECT_GRACE,
        # Most tests are about leases and outcomes, not the interactive lane: no reserve
        # unless a test asks for one (test_interactive_reserve.py does).
        "interactive_reserve": 0,
    }
    values.update(settings_overrides)
    return Settings(**values)


PLUGINS = (PLUGIN, "plugin-2")
"""The plugins the tests' jobs belong to: registered, since the engine ends the jobs of a
plugin that does not exist."""


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    store = Store(settings.resolved_database_url)
    await store.create_schema()
    async with store.write() as session:
        session.add(Organization(id=ORG, name="acme"))
        for plugin_id in PLUGINS:
            session.add(
                Plugin(
                    id=plugin_id,
                    organization_id=ORG,
                    name=plugin_id,
                    type="custom",
                    secret_hash="0" * 64,
                )
            )
    yield store
    await store.close()


@pytest.fixture
async def hub(store: Store, settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    live = LiveRegistry()
    engine = JobEngine(store, live, settings, clock=clock, rules=PassThrough())
    await engine.start()
    harness = Harness(store=store, settings=settings, clock=clock, live=live, engine=engine)
    yield harness
    await harness.stop()
