"""The group commit's rows, written straight through the database driver.

A group commit writes up to thousands of job and log rows. Through SQLAlchemy each row's
parameters are processed one by one (compiled parameter dicts, a bind processor per
JSON column) and each statement costs the async adaptor a cursor and three hand-offs to
the driver; that was a quarter of the hub's CPU per job and most of a lone job's
latency. Here the statements are fixed text, each row is a tuple built by one C-level
getter with its JSON columns rendered by pydantic-core, and each statement is one
`executemany` on the driver connection of the session's transaction: one hand-off to
aiosqlite's thread, one round trip to PostgreSQL. The rows are what SQLAlchemy would
have written (the JSON columns' text, None as JSON null), so every reader is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any, Protocol, cast

from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import JobLog, JobRow, json_text
from hub.jobs.state import INSERTED_COLUMNS, MUTABLE_COLUMNS, ActiveJob

_JSON_COLUMNS = frozenset({"config", "input", "result", "error", "fields"})
_LOG_COLUMNS = ("job_id", "attempt", "source", "level", "message", "fields", "time")

Row = tuple[Any, ...]


class Driver(Protocol):
    """The driver connection under a transaction: aiosqlite's or asyncpg's."""

    async def executemany(self, sql: str, rows: list[Row]) -> Any: ...


async def driver_of(session: AsyncSession) -> Driver:
    """The driver connection of the session's transaction, begun. SQLAlchemy's asyncpg
    adaptor opens the driver's transaction with its own first statement only: rows written
    to the driver before one would each commit on their own (SQLite's BEGIN IMMEDIATE is
    sent when the session takes its connection, hub/db/database.py)."""
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        await connection.exec_driver_sql("SELECT 1")
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # a pooled connection in a transaction has its driver's
    return cast(Driver, driver)


@dataclass(frozen=True, slots=True)
class _Statement:
    sqlite: str
    postgres: str
    values: Callable[[Any], Row]

    def rows(self, items: Sequence[Any]) -> list[Row]:
        return [self.values(item) for item in items]

    async def execute(self, driver: Driver, rows: list[Row], *, sqlite: bool) -> None:
        if not rows:
            return
        await driver.executemany(self.sqlite if sqlite else self.postgres, rows)


def _row_builder(columns: tuple[str, ...], getter: Callable[[Any], Row]) -> Callable[[Any], Row]:
    """A row as a tuple in `columns` order, its JSON columns as JSON text."""
    json_at = [index for index, name in enumerate(columns) if name in _JSON_COLUMNS]

    def values(item: Any) -> Row:
        row = list(getter(item))
        for index in json_at:
            row[index] = json_text(row[index])
        return tuple(row)

    return values


def _quoted(name: str) -> str:
    """An identifier both databases read as a name (`time`, `type` and `input` are
    keywords too)."""
    return f'"{name}"'


def _sql(
    template: str, table: str, columns: Sequence[str], placeholder: Callable[[int], str]
) -> str:
    """`template` with `{table}`, `{names}`, `{values}`, `{sets}` (each column but the last) and
    `{last}` (the last one's placeholder) filled in for `columns`. Only our own table and
    column names go in: no input reaches this text."""
    marks = [placeholder(n) for n in range(1, len(columns) + 1)]
    return template.format(
        table=table,
        names=", ".join(map(_quoted, columns)),
        values=", ".join(marks),
        sets=", ".join(
            f"{_quoted(name)} = {mark}" for name, mark in zip(columns[:-1], marks, strict=False)
        ),
        last=marks[-1],
    )


def _statement(
    template: str, table: str, columns: tuple[str, ...], getter: Callable[[Any], Row]
) -> _Statement:
    return _Statement(
        sqlite=_sql(template, table, columns, lambda _: "?"),
        postgres=_sql(template, table, columns, lambda n: f"${n}"),
        values=_row_builder(columns, getter),
    )


_UPDATED_COLUMNS = (*MUTABLE_COLUMNS, "id")

INSERT_JOBS = _statement(
    "INSERT INTO {table} ({names}) VALUES ({values})",
    JobRow.__tablename__,
    INSERTED_COLUMNS,
    attrgetter(*INSERTED_COLUMNS),
)
# The last column, `id`, is the key: its placeholder closes the statement, the rest set.
UPDATE_JOBS = _statement(
    "UPDATE {table} SET {sets} WHERE id = {last}",
    JobRow.__tablename__,
    _UPDATED_COLUMNS,
    attrgetter(*_UPDATED_COLUMNS),
)
INSERT_LOGS = _statement(
    "INSERT INTO {table} ({names}) VALUES ({values})",
    JobLog.__tablename__,
    _LOG_COLUMNS,
    itemgetter(*_LOG_COLUMNS),
)


async def write(
    driver: Driver,
    *,
    sqlite: bool,
    new: Sequence[ActiveJob],
    changed: Sequence[ActiveJob],
    logs: Sequence[dict[str, Any]],
) -> list[tuple[ActiveJob, str]]:
    """Insert `new` jobs, update `changed` ones (every mutable column: a snapshot), insert
    `logs`; returns each job with the status written. The rows are taken before the first
    await, so changes made while the statements run go in the next transaction."""
    inserts = INSERT_JOBS.rows(new)
    updates = UPDATE_JOBS.rows(changed)
    log_rows = INSERT_LOGS.rows(logs)
    written = [(job, job.status) for job in (*new, *changed)]
    await INSERT_JOBS.execute(driver, inserts, sqlite=sqlite)
    await UPDATE_JOBS.execute(driver, updates, sqlite=sqlite)
    await INSERT_LOGS.execute(driver, log_rows, sqlite=sqlite)
    return written
