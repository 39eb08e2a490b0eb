"""The hub creates or upgrades its schema itself: migrations match the models, a new database
is stamped current, and a database made before migrations keeps its data through the upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.autogenerate import produce_migrations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from hub.db.migrations import Base, alembic_config
from hub.runtime import Hub
from hub.settings import Settings


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def test_the_migrations_build_exactly_the_models_schema(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")  # revisions only, no create_all
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        difference = produce_migrations(context, Base.metadata).upgrade_ops
        assert difference is not None
        assert difference.is_empty(), difference.as_diffs()
    engine.dispose()


async def test_a_new_database_is_created_and_stamped_current(tmp_path: Path) -> None:
    hub = Hub(Settings(data_dir=tmp_path))
    await hub.start()
    await hub.stop()
    with sqlite3.connect(tmp_path / "hub.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]


async def test_a_database_from_before_migrations_is_upgraded_and_keeps_its_data(
    tmp_path: Path,
) -> None:
    # What `create_all` made before migrations existed: the baseline tables, no version table.
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
        connection.exec_driver_sql("DROP TABLE alembic_version")
        now = "2026-11-01 10:00:00.000000"
        connection.exec_driver_sql(
            "INSERT INTO organizations (id, name, created_at) VALUES ('org1', 'acme', ?)", (now,)
        )
        connection.exec_driver_sql(
            "INSERT INTO plugins (id, organization_id, name, description, details, banner_url,"
            " type, class_names, public, listed, default_config, secret_hash,"
            " secret_rotated_at, created_at, updated_at) VALUES ('p1', 'org1', 'old one', '',"
            " '', '', 'custom', '[]', 0, 0, '{\"a\": 1}', ?, ?, ?, ?)",
            ("0" * 64, now, now, now),
        )
    engine.dispose()

    hub = Hub(Settings(data_dir=tmp_path))
    await hub.start()
    try:
        plugin = await hub.plugins.get("org1", "p1")
        assert (plugin.name, plugin.default_config, plugin.pinned_version) == (
            "old one",
            {"a": 1},
            None,
        )
        await hub.plugins.set_pin("org1", "p1", "2.0")  # a column the upgrade added
        assert (await hub.plugins.get("org1", "p1")).pinned_version == "2.0"
    finally:
        await hub.stop()
    with sqlite3.connect(tmp_path / "hub.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert {"web_sessions", "config_presets", "plugin_installs"} <= tables
