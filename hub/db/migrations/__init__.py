"""Schema migrations (Alembic), run by the hub itself when it starts.

A new, empty database gets today's tables in one step and is stamped as current. A database
made before migrations existed (tables, but no `alembic_version`) is taken to be the
baseline revision and upgraded from there. Every other database is upgraded to the newest
revision. Nothing to run by hand: `plugin-hub serve` on an old data directory just works.

On PostgreSQL several hub nodes may start at once on one database: each migrates under a
transaction-level advisory lock on a fixed key (`MIGRATION_LOCK`), so one creates or upgrades
the schema while the others wait, then find it current and do nothing. (SQLite needs no such
lock: the hub migrates in a BEGIN IMMEDIATE transaction, which takes the file's write lock.)

To add a revision after changing the models: `scripts/new-migration "what changed"`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

import hub.db.cluster_tables  # its tables join Base.metadata too
import hub.db.workspace_tables  # noqa: F401 (its tables join Base.metadata)
from hub.db.tables import Base

log = logging.getLogger("hub.db")

BASELINE = "0001"
"""The schema as it was before migrations: what `create_all` made until then."""

MIGRATION_LOCK = 0x706C_7567_2D68_7562
"""The PostgreSQL advisory lock key every hub migrates under ("plug-hub" in ASCII): a fixed
64-bit number, the same in every version of the hub."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


def migrate(connection: Connection) -> None:
    """Bring the database on `connection` to the newest revision. Runs inside the caller's
    transaction, which commits the whole migration at once (DDL is transactional on both
    backends) and, on PostgreSQL, holds the migration lock until then."""
    _lock(connection)
    current = current_revision(connection)
    tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
    config = alembic_config(connection)
    if current is None and not tables:
        Base.metadata.create_all(connection)
        command.stamp(config, "head")
        log.info("database created at schema revision %s", current_revision(connection))
        return
    if current is None:
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")
    now = current_revision(connection)
    if now != current:
        log.info("database schema upgraded from %s to %s", current or "before migrations", now)


def _lock(connection: Connection) -> None:
    """On PostgreSQL, wait for any other node's migration to commit: after the lock, each
    statement of this transaction (READ COMMITTED) sees the schema that node left."""
    if connection.dialect.name != "postgresql":
        return
    taken = connection.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
    )
    if not taken.scalar():
        log.info("another hub is migrating the database; waiting for it")
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


def current_revision(connection: Connection) -> str | None:
    """The revision the database on `connection` is at; None before migrations."""
    return MigrationContext.configure(connection).get_current_revision()
