"""The database: engine set-up, and read and write sessions.

SQLite allows one writer at a time. Rather than let concurrent writers collide and
retry on "database is locked", the hub funnels its own writes through one asyncio
lock and opens each write transaction with BEGIN IMMEDIATE, so the write lock is
taken up front; `busy_timeout` covers other processes (the CLI) writing at once.
Reads run concurrently beside the writer thanks to WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic_core import from_json, to_json
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from hub.private_files import private_file

_SQLITE_BUSY_TIMEOUT_MS = 10_000


def json_text(value: Any) -> str:
    """A JSON column's text, as the hub writes it everywhere (SQLAlchemy's JSON columns and
    the group commit's own rows): None as JSON null, a float that is not finite (which no
    input may hold) as null too."""
    return "null" if value is None else to_json(value, inf_nan_mode="null").decode()


class Store:
    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL") -> None:
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database not in (None, "", ":memory:"):
            _private_sqlite_files(Path(parsed.database))
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_pre_ping=not self.is_sqlite,
            # JSON columns through pydantic-core, not the json module: a group commit of
            # 1,000 jobs spent more time in json.dumps than in SQLite.
            json_serializer=json_text,
            json_deserializer=from_json,
        )
        if self.is_sqlite:
            _configure_sqlite(self.engine, sqlite_synchronous.upper())
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(
            self.engine.execution_options(hub_write=True), expire_on_commit=False
        )
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._held: AsyncConnection | None = None
        """SQLite: the pooled connection `driver_write` keeps for its transactions."""
        self._held_driver: Any = None

    async def create_schema(self) -> None:
        """Create or upgrade the tables (hub.db.migrations). As a writer from the start
        (BEGIN IMMEDIATE on SQLite): a second process starting at the same moment (the CLI
        beside `serve`) waits for the first instead of failing on a stale read snapshot. On
        PostgreSQL the migrations take an advisory lock instead (hub.db.migrations), so nodes
        starting at once on one database take turns."""
        from hub.db.migrations import migrate  # imports Alembic only when starting up

        async with self.engine.execution_options(hub_write=True).begin() as conn:
            await conn.run_sync(migrate)

    async def close(self) -> None:
        if self._held is not None:
            held, self._held, self._held_driver = self._held, None, None
            await held.close()
        await self.engine.dispose()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; nothing it changes is committed."""
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose changes commit when the block exits without an error."""
        if self._write_lock is None:
            async with self._write_sessions() as session, session.begin():
                yield session
            return
        async with self._write_lock, self._write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def driver_write(self) -> AsyncIterator[Any]:
        """SQLite only: the aiosqlite connection itself, inside BEGIN IMMEDIATE ... COMMIT
        (ROLLBACK on an error), for writes that need no ORM (the group commit's rows,
        hub/jobs/job_rows.py). A session's transaction costs a dozen hand-offs to the
        driver's thread and ~1.7 ms for a lone row; this takes one per statement. The
        connection is one of the pool's (so it was set up like the others), kept for
        these transactions alone, and taken under the same write lock as `write`."""
        assert self._write_lock is not None, "driver_write is for SQLite"
        async with self._write_lock:
            if self._held is None:
                self._held = await self.engine.connect()
                raw = await self._held.get_raw_connection()
                self._held_driver = raw.driver_connection
            driver = self._held_driver
            try:
                await driver.execute("BEGIN IMMEDIATE")
                yield driver
                await driver.execute("COMMIT")
            except BaseException:
                await self._roll_back_held(driver)
                raise

    async def _roll_back_held(self, driver: Any) -> None:
        """After anything went wrong in `driver_write` (a failed statement or COMMIT, a
        cancel while BEGIN was still running in the driver's thread): ROLLBACK, queued
        behind whatever the thread still runs, so the kept connection never stays inside
        a transaction holding SQLite's write lock. If even that fails, the connection is
        dropped and the next transaction takes a fresh one."""
        try:
            await driver.execute("ROLLBACK")
        except Exception as exc:
            if isinstance(exc, sqlite3.OperationalError) and "no transaction is active" in str(exc):
                return  # nothing was open (BEGIN failed, or COMMIT went through)
            held, self._held, self._held_driver = self._held, None, None
            if held is not None:
                with contextlib.suppress(Exception):
                    await held.invalidate()


def _private_sqlite_files(database: Path) -> None:
    """The database and its -wal and -shm files readable by the hub's user only: they hold
    password hashes and every job's data. Its directory is created private if missing (an
    existing one is the operator's: the data dir is tightened by the hub, not here)."""
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_file(database, create=True)
    for suffix in ("-wal", "-shm"):
        private_file(database.with_name(database.name + suffix))


def _enter_wal(cursor: Any) -> None:
    """PRAGMA journal_mode=WAL, waiting out another process that is opening the same file:
    setting up the WAL index can answer "locked" at once, past the busy timeout's reach.
    Runs in the driver's thread at connect, so sleeping blocks no event loop."""
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: AsyncEngine, synchronous: str) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The timeout first: switching a new file to WAL takes a lock another process may hold.
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        _enter_wal(cursor)
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front; readers stay deferred and concurrent.
        immediate = conn.get_execution_options().get("hub_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
