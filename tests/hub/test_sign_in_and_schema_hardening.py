"""Defects a second read found in the sign-in throttle and the migrations, each pinned by a
test: parallel guesses, a table that grows or sweeps without bound, overlong emails,
databases made between the dashboard and migrations, two processes starting at once."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, bindparam, text

from hub.db.database import Store
from hub.db.migrations import Base, alembic_config
from hub.db.tables import UTCDateTime
from hub.runtime import Hub
from hub.services import throttle as throttle_module
from hub.services.errors import TooManyRequests, Unauthenticated
from hub.services.throttle import FailureThrottle
from hub.settings import Settings
from tests.databases import Databases, on_database, store_url
from tests.hub.conftest import Owner, TestClient

# --- Sign-in throttle -------------------------------------------------------------------


def test_concurrent_wrong_passwords_get_no_more_checks_than_the_limit(
    call: Callable[..., Any], hub: Hub, acme: Owner
) -> None:
    async def guesses() -> list[BaseException | Any]:
        return await asyncio.gather(
            *(
                hub.accounts.authenticate_password("owner@acme.example", f"guess {n}")
                for n in range(40)
            ),
            return_exceptions=True,
        )

    results = call(guesses)
    checked = sum(isinstance(r, Unauthenticated) for r in results)
    refused = sum(isinstance(r, TooManyRequests) for r in results)
    assert checked + refused == 40
    assert checked <= 10, f"{checked} passwords were checked against the account in one burst"


def test_the_throttle_table_stays_cheap_with_many_fresh_emails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(throttle_module, "SWEEP_AT", 100)
    throttle = FailureThrottle(clock=lambda: 1000.0)  # every failure within the window
    visits = 0
    recent = throttle._recent

    def counting_recent(key: str) -> Any:
        nonlocal visits
        visits += 1
        return recent(key)

    monkeypatch.setattr(throttle, "_recent", counting_recent)
    emails = 2000
    for n in range(emails):
        throttle.failed(f"user{n}@example.com")
    # failed() itself looks a key up once; sweeping should add O(1) per failure amortized.
    assert visits <= 10 * emails, f"{visits} key visits for {emails} failed sign-ins"


def test_an_overlong_email_is_not_kept_in_memory(client: TestClient, hub: Hub) -> None:
    page = client.get("/signin")
    token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    email = "x" * 500_000 + "@example.com"
    response = client.post(
        "/signin", data={"email": email, "password": "nope", "csrf_token": token}
    )
    assert response.status_code in (401, 422)
    kept = hub.accounts._sign_in_failures._failures
    longest = max((len(key) for key in kept), default=0)
    assert longest <= 320, f"a {longest}-character key is kept by the throttle"


# --- Migrations ------------------------------------------------------------------------


DASHBOARD_ERA = "0002"
"""The revision whose schema equals what the dashboard's create_all made (65db62f)."""


async def test_a_database_made_by_the_dashboard_before_migrations_starts(
    tmp_path: Path, empty_database_url: str
) -> None:
    # Its create_schema was `Base.metadata.create_all` of the models as they were then, which
    # revisions 0001 and 0002 make exactly; without a version table.
    url = store_url(empty_database_url, tmp_path)

    def dashboard_era(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), DASHBOARD_ERA)
        connection.exec_driver_sql("DROP TABLE alembic_version")
        connection.execute(
            text(
                "INSERT INTO organizations (id, name, created_at) VALUES ('org1', 'acme', :now)"
            ).bindparams(bindparam("now", type_=UTCDateTime())),
            {"now": datetime(2026, 11, 20, 10, tzinfo=UTC)},
        )

    await on_database(url, dashboard_era)

    hub = Hub(Settings(data_dir=tmp_path, database_url=empty_database_url))
    try:
        await hub.start()
    except Exception:
        await hub.store.close()  # start failed before the hub owned anything else
        raise
    await hub.stop()

    def check(connection: Connection) -> None:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert connection.exec_driver_sql("SELECT count(*) FROM organizations").scalar() == 1

    await on_database(url, check)


def _start_schema(url: str, barrier: Any, results: Any) -> None:
    """One hub process's create_schema (serve, or `plugin-hub admin create`)."""

    async def go() -> None:
        store = Store(url)
        barrier.wait()
        try:
            await store.create_schema()
            results.put("ok")
        except Exception as exc:  # reported to the test
            results.put(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        finally:
            await store.close()

    asyncio.run(go())


def _unversioned_baseline(connection: Connection) -> None:
    """What create_all made before migrations existed: revision 0001, no version table."""
    command.upgrade(alembic_config(connection), "0001")
    connection.exec_driver_sql("DROP TABLE alembic_version")


def _versions(connection: Connection) -> Any:
    return connection.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar()


async def test_two_processes_starting_on_one_database_both_start(
    tmp_path: Path, databases: Databases
) -> None:
    spawn = multiprocessing.get_context("spawn")
    outcomes = []
    for trial in range(4):
        # A new database each trial: a file, or one of its own on PostgreSQL.
        with databases.new(empty=True) as database_url:
            url = store_url(database_url, tmp_path / f"trial{trial}")
            if not database_url:
                (tmp_path / f"trial{trial}").mkdir()
            if trial % 2:
                await on_database(url, _unversioned_baseline)
                if not database_url:  # in WAL mode, as every hub has kept its SQLite file
                    with sqlite3.connect(tmp_path / f"trial{trial}" / "hub.db") as db:
                        db.execute("PRAGMA journal_mode=WAL")
            barrier, results = spawn.Barrier(2), spawn.Queue()
            processes = [
                spawn.Process(target=_start_schema, args=(url, barrier, results)) for _ in range(2)
            ]
            for process in processes:
                process.start()
            outcomes += [results.get(timeout=60) for _ in processes]
            for process in processes:
                process.join(timeout=60)
            assert await on_database(url, _versions) == 1
    failures = [o for o in outcomes if o != "ok"]
    assert not failures, failures
