"""Schema migrations (Alembic), run by the hub itself when it starts.

A new, empty database gets today's tables in one step and is stamped as current. A database
made before migrations existed (tables, but no `alembic_version`) is taken to be the
baseline revision and upgraded from there. Every other database is upgraded to the newest
revision. Nothing to run by hand: `plugin-hub serve` on an old data directory just works.

To add a revision after changing the models: `scripts/new-migration "what changed"`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

import hub.db.workspace_tables  # noqa: F401 (its tables join Base.metadata)
from hub.db.tables import Base

log = logging.getLogger("hub.db")

BASELINE = "0001"
"""The schema as it was before migrations: what `create_all` made until then."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


def migrate(connection: Connection) -> None:
    """Bring the database on `connection` to the newest revision."""
    current = MigrationContext.configure(connection).get_current_revision()
    tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
    config = alembic_config(connection)
    if current is None and not tables:
        Base.metadata.create_all(connection)
        command.stamp(config, "head")
        log.info("database created at schema revision %s", _revision(connection))
        return
    if current is None:
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")
    now = _revision(connection)
    if now != current:
        log.info("database schema upgraded from %s to %s", current or "before migrations", now)


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
