"""The group commit's rows go straight to the driver (hub/jobs/job_rows.py): what they
hold must read back through the ORM exactly as SQLAlchemy would have written it, on
SQLite and on PostgreSQL, in either transaction (a session's, or SQLite's driver one)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import insert, select

from ango_plugins_sdk.protocol import JobStatus
from hub.db import JobLog, JobRow, Store
from hub.jobs import job_rows
from hub.jobs.state import ActiveJob
from tests.jobs.conftest import ORG, PLUGIN

AWKWARD_JSON: dict[str, Any] = {
    "text": 'Ünïcødé ✓ 日本 "quoted" \\ back\nline',
    "nested": {"list": [1, 2.5, -3, True, None], "empty": {}},
    "big": 123456789012345678,
}


def a_job(job_id: str, **changes: Any) -> ActiveJob:
    job = ActiveJob(
        id=job_id,
        organization_id=ORG,
        plugin_id=PLUGIN,
        created_by="user-1",
        type="custom",
        operation="op",
        config=AWKWARD_JSON,
        input={"task": ["a", "b"]},
        priority=2,
        timeout_s=9.5,
        status=JobStatus.QUEUED,
        created_at=1_700_000_000.25,
    )
    return replace(job, **changes)


def as_stored(row: JobRow) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in JobRow.__table__.columns}


async def write_both_ways(store: Store, job: ActiveJob, *, driver: bool) -> None:
    """The job through job_rows, in the transaction the committer would use."""
    if driver:
        async with store.driver_write() as connection:
            await job_rows.write(connection, sqlite=True, new=[job], changed=[], logs=[])
        return
    async with store.write() as session:
        connection = await job_rows.driver_of(session)
        await job_rows.write(connection, sqlite=store.is_sqlite, new=[job], changed=[], logs=[])


@pytest.fixture(params=["session", "driver"])
def driver(request: pytest.FixtureRequest, store: Store) -> bool:
    if request.param == "driver" and not store.is_sqlite:
        pytest.skip("the driver transaction is SQLite's")
    return bool(request.param == "driver")


async def test_a_new_job_reads_back_as_sqlalchemy_writes_it(store: Store, driver: bool) -> None:
    ours = a_job("raw-1", result=None, error=None)
    theirs = a_job("orm-1", result=None, error=None)
    await write_both_ways(store, ours, driver=driver)
    async with store.write() as session:
        await session.execute(insert(JobRow), [theirs.insert_row()])
    async with store.read() as session:
        rows = {r.id: as_stored(r) for r in await session.scalars(select(JobRow))}
    assert {**rows["raw-1"], "id": "x"} == {**rows["orm-1"], "id": "x"}
    assert rows["raw-1"]["config"] == AWKWARD_JSON
    assert rows["raw-1"]["result"] is None


async def test_an_update_writes_every_mutable_column(store: Store, driver: bool) -> None:
    job = a_job("raw-2")
    await write_both_ways(store, job, driver=driver)
    job.status = JobStatus.RUNNING
    job.attempt = 3
    job.result = ["any", {"json": AWKWARD_JSON}]
    job.error = {"message": "m", "kind": "K", "retryable": False, "traceback": None}
    job.progress_current, job.progress_total, job.progress_message = 1.5, 3.0, "½ done"
    job.connection_id = "conn-9"
    job.started_at = 1_700_000_001.5
    async with store.write() as session:
        connection = await job_rows.driver_of(session)
        written = await job_rows.write(
            connection, sqlite=store.is_sqlite, new=[], changed=[job], logs=[]
        )
    assert written == [(job, JobStatus.RUNNING)]
    async with store.read() as session:
        row = await session.get(JobRow, "raw-2")
    assert row is not None
    assert (row.status, row.attempt, row.connection_id) == ("running", 3, "conn-9")
    assert row.result == ["any", {"json": AWKWARD_JSON}]
    assert row.error == job.error
    assert (row.progress_current, row.progress_total, row.progress_message) == (1.5, 3.0, "½ done")
    assert row.started_at == 1_700_000_001.5
    assert row.config == AWKWARD_JSON  # not a mutable column: left as inserted


async def test_log_rows_keep_their_order_and_fields(store: Store) -> None:
    logs = [
        {
            "job_id": "raw-3",
            "attempt": 1,
            "source": source,
            "level": "INFO",
            "message": f"line {n} ✓",
            "fields": {"n": n, "nested": [None]},
            "time": 1_700_000_000.0 + n,
        }
        for n, source in enumerate(["plugin", "hub", "plugin"])
    ]
    async with store.write() as session:
        connection = await job_rows.driver_of(session)
        await job_rows.write(connection, sqlite=store.is_sqlite, new=[], changed=[], logs=logs)
    async with store.read() as session:
        stored = list(await session.scalars(select(JobLog).order_by(JobLog.id)))
    assert [(r.source, r.message, r.fields, r.time) for r in stored] == [
        (log["source"], log["message"], log["fields"], log["time"]) for log in logs
    ]


async def test_a_failed_driver_transaction_writes_nothing(store: Store) -> None:
    if not store.is_sqlite:
        pytest.skip("the driver transaction is SQLite's")
    job = a_job("raw-4")
    await write_both_ways(store, job, driver=True)
    with pytest.raises(Exception, match="UNIQUE"):
        async with store.driver_write() as connection:
            await job_rows.write(
                connection, sqlite=True, new=[a_job("raw-5"), a_job("raw-4")], changed=[], logs=[]
            )
    async with store.read() as session:
        ids = set(await session.scalars(select(JobRow.id)))
    assert ids == {"raw-4"}  # raw-5 went with the rollback
    # The connection is usable again afterwards.
    await write_both_ways(store, a_job("raw-6"), driver=True)


async def test_rows_written_in_a_session_roll_back_with_it(store: Store) -> None:
    # asyncpg runs outside a transaction until the session's first statement: rows sent to
    # the driver before it would each have committed on their own.

    async def written_then_aborted() -> None:
        async with store.write() as session:
            connection = await job_rows.driver_of(session)
            await job_rows.write(
                connection, sqlite=store.is_sqlite, new=[a_job("raw-7")], changed=[], logs=[]
            )
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        await written_then_aborted()
    async with store.read() as session:
        assert await session.get(JobRow, "raw-7") is None


async def test_a_driver_transaction_cancelled_midway_leaves_the_connection_usable(
    store: Store,
) -> None:
    if not store.is_sqlite:
        pytest.skip("the driver transaction is SQLite's")
    inside = asyncio.Event()

    async def stuck() -> None:
        async with store.driver_write() as connection:
            await job_rows.write(connection, sqlite=True, new=[a_job("raw-8")], changed=[], logs=[])
            inside.set()
            await asyncio.Event().wait()  # cancelled here, inside the transaction

    task = asyncio.create_task(stuck())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Rolled back, and neither the kept connection nor the write lock is stuck.
    await write_both_ways(store, a_job("raw-9"), driver=True)
    await write_both_ways(store, a_job("raw-10"), driver=False)
    async with store.read() as session:
        ids = set(await session.scalars(select(JobRow.id)))
    assert ids == {"raw-9", "raw-10"}
