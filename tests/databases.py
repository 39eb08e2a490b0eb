"""The database a test's hub or store runs on: SQLite in the test's data dir (the default), or
a fresh PostgreSQL database of the test's own when `HUB_TEST_DATABASE_URL` names a server.

    HUB_TEST_DATABASE_URL=postgresql+asyncpg://127.0.0.1/postgres pytest

The URL's database is only where the suite connects to create and drop the others. Once per
session the schema is migrated into a template database; each test then gets
`CREATE DATABASE hubtest_<pid>_<start>_<n> TEMPLATE <template>` (a file copy: milliseconds),
dropped after the test whatever its outcome, with `WITH (FORCE)` so that a hub process a
failed test left behind cannot keep it. Databases of earlier runs whose process is gone (or
that are more than a day old) are dropped when a session starts; those of runs going on at
the same time are left alone.

Tests reach this through the fixtures of tests/conftest.py (`database_url`,
`empty_database_url`, `postgres`), never by reading the variable themselves.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Connection
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

T = TypeVar("T")

SWITCH = "HUB_TEST_DATABASE_URL"
"""The switch: unset or empty, every test runs on SQLite as it always has."""

FALLBACK_SERVER = "postgresql+asyncpg://127.0.0.1/postgres"
"""Where the tests that are about PostgreSQL itself look for a server when the switch is off
(they skip, saying why, when none answers there)."""

PREFIX = "hubtest_"
_NAME = re.compile(rf"^{PREFIX}(\d+)_(\d+)_")
_STALE_AFTER = 24 * 3600.0

ON_POSTGRES = bool(os.environ.get(SWITCH))
"""True when this run puts every test on PostgreSQL."""

sqlite_only = pytest.mark.skipif(
    ON_POSTGRES, reason="about SQLite's own files or pragmas: nothing of it exists on PostgreSQL"
)
"""For the few tests about SQLite itself: the database file's permissions, its pragmas, its
write-ahead log. Everything else runs on both."""

several_nodes = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="several hub nodes need PostgreSQL: this runs in the PostgreSQL pass "
    f"({SWITCH}, as `bash scripts/check` sets it)",
)
"""For the tests of real hub nodes sharing one database (tests/e2e/test_nodes.py and the
like): heavy, and the same in both passes, so they run once, in the PostgreSQL pass."""


def sqlite_url(data_dir: Path) -> str:
    """The URL a hub with `data_dir` and no HUB_DATABASE_URL uses."""
    return f"sqlite+aiosqlite:///{data_dir / 'hub.db'}"


def store_url(database_url: str, data_dir: Path) -> str:
    """What to hand a `Store`: the test's PostgreSQL database, or SQLite in `data_dir`."""
    return database_url or sqlite_url(data_dir)


def _quote(name: str) -> str:
    assert re.fullmatch(r"[a-z0-9_]+", name), name  # names made here only
    return f'"{name}"'


class PostgresServer:
    """One PostgreSQL server: an admin connection (asyncpg, on an event loop in a thread of
    its own, so sync and async fixtures alike can use it) that creates and drops databases."""

    def __init__(self, url: str) -> None:
        self.url: URL = make_url(url)
        if self.url.get_backend_name() != "postgresql":
            raise ValueError(f"{SWITCH} must be a postgresql+asyncpg:// URL, got {url!r}")
        self.url = self.url.set(drivername="postgresql+asyncpg")
        self._started = int(time.time())
        self._numbers = itertools.count(1)
        self._template: str | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="test-postgres", daemon=True
        )
        self._thread.start()
        self._connection: Any = None

    # --- running on the admin loop -------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    async def _connect(self) -> None:
        import asyncpg

        self._connection = await asyncpg.connect(
            host=self.url.host or "127.0.0.1",
            port=self.url.port or 5432,
            user=self.url.username or None,
            password=self.url.password or None,
            database=self.url.database or "postgres",
            timeout=5,
        )

    def connect(self) -> None:
        """Connect, or raise (OSError, ImportError, asyncpg's errors) when nothing answers."""
        self._run(self._connect(), timeout=30)

    async def _execute(self, sql: str) -> None:
        await self._connection.execute(sql)

    def execute(self, sql: str) -> None:
        self._run(self._execute(sql))

    async def _names(self) -> list[str]:
        rows = await self._connection.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1",
            PREFIX.replace("_", r"\_") + "%",
        )
        return [row["datname"] for row in rows]

    # --- databases -----------------------------------------------------------------------

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def _new_name(self, what: str) -> str:
        return f"{PREFIX}{os.getpid()}_{self._started}_{what}"

    def drop_stale(self) -> list[str]:
        """Drop the databases of earlier runs: their process is gone, or they are older than
        a day. Those of runs still going on (the same host, a live pid) stay."""
        dropped = []
        for name in self._run(self._names()):
            match = _NAME.match(name)
            if match is None:
                continue
            pid, started = int(match[1]), int(match[2])
            if pid == os.getpid() and started == self._started:
                continue
            if _alive(pid) and time.time() - started < _STALE_AFTER:
                continue
            self.drop(name)
            dropped.append(name)
        return dropped

    def create_empty(self) -> str:
        """A new database with nothing in it; returns its name."""
        name = self._new_name(str(next(self._numbers)))
        self.execute(f"CREATE DATABASE {_quote(name)} TEMPLATE template0")
        return name

    def create_migrated(self) -> str:
        """A new database with today's schema (a copy of the session's template)."""
        if self._template is None:
            self._template = self._make_template()
        name = self._new_name(str(next(self._numbers)))
        self.execute(f"CREATE DATABASE {_quote(name)} TEMPLATE {_quote(self._template)}")
        return name

    def _make_template(self) -> str:
        from hub.db.database import Store

        name = self._new_name("template")
        self.execute(f"CREATE DATABASE {_quote(name)} TEMPLATE template0")

        async def migrate() -> None:
            store = Store(self.url_of(name))
            try:
                await store.create_schema()
            finally:
                await store.close()  # a template may have no connections when it is copied

        self._run(migrate())
        return name

    @contextmanager
    def database(self, *, empty: bool = False) -> Iterator[str]:
        """A new database's URL, with today's schema or, when `empty`, nothing at all;
        dropped when the block ends, however it ends."""
        name = self.create_empty() if empty else self.create_migrated()
        try:
            yield self.url_of(name)
        finally:
            self.drop(name)

    def drop(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")

    def close(self) -> None:
        try:
            if self._template is not None:
                self.drop(self._template)
            if self._connection is not None:
                self._run(self._connection.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Databases:
    """Fresh databases for hubs and stores: `with databases.new() as url: ...` gives "" (SQLite
    in the data dir, as a hub has by default) or, with `HUB_TEST_DATABASE_URL`, the URL of a
    new PostgreSQL database, dropped when the block ends, failed or not."""

    def __init__(self, server: PostgresServer | None) -> None:
        self.server = server

    @contextmanager
    def new(self, *, empty: bool = False) -> Iterator[str]:
        """With today's schema, or none at all when `empty` (a new SQLite file is empty)."""
        if self.server is None:
            yield ""
            return
        with self.server.database(empty=empty) as url:
            yield url


async def on_database(url: str, work: Callable[[Connection], T]) -> T:
    """Run `work(connection)` in one transaction on the database at `url`, with an engine of
    its own (none of a hub's set-up: for looking behind the hub's back)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()
