"""The hub creates or upgrades its schema itself: migrations match the models, a new database
is stamped current, and a database made before migrations keeps its data through the upgrade.
On SQLite, or on PostgreSQL with HUB_TEST_DATABASE_URL (each test its own empty database)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import produce_migrations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Boolean, Connection, bindparam, inspect, text

from hub import cli
from hub.db.migrations import Base, alembic_config, current_revision
from hub.db.tables import UTCDateTime
from hub.runtime import Hub
from hub.settings import Settings
from tests.databases import on_database, store_url


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


@pytest.fixture
def url(empty_database_url: str, tmp_path: Path) -> str:
    """The test's new, empty database: a SQLite file in tmp_path, or its own on PostgreSQL."""
    return store_url(empty_database_url, tmp_path)


async def test_the_migrations_build_exactly_the_models_schema(url: str) -> None:
    def upgrade_and_compare(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "head")  # revisions only, no create_all
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        difference = produce_migrations(context, Base.metadata).upgrade_ops
        assert difference is not None
        assert difference.is_empty(), difference.as_diffs()

    await on_database(url, upgrade_and_compare)


async def test_a_new_database_is_created_and_stamped_current(
    tmp_path: Path, empty_database_url: str, url: str
) -> None:
    hub = Hub(Settings(data_dir=tmp_path, database_url=empty_database_url))
    await hub.start()
    await hub.stop()
    assert await on_database(url, current_revision) == head()


async def test_a_database_from_before_migrations_is_upgraded_and_keeps_its_data(
    tmp_path: Path, empty_database_url: str, url: str
) -> None:
    # What `create_all` made before migrations existed: the baseline tables, no version table.
    def baseline_with_data(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "0001")
        connection.exec_driver_sql("DROP TABLE alembic_version")
        now = datetime(2026, 11, 1, 10, tzinfo=UTC)
        insert_org = text(
            "INSERT INTO organizations (id, name, created_at) VALUES ('org1', 'acme', :now)"
        ).bindparams(bindparam("now", type_=UTCDateTime()))
        connection.execute(insert_org, {"now": now})
        insert_plugin = text(
            "INSERT INTO plugins (id, organization_id, name, description, details, banner_url,"
            " type, class_names, public, listed, default_config, secret_hash,"
            " secret_rotated_at, created_at, updated_at) VALUES ('p1', 'org1', 'old one', '',"
            " '', '', 'custom', '[]', :no, :no, :config, :hash, :now, :now, :now)"
        ).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("no", type_=Boolean()))
        connection.execute(
            insert_plugin,
            {"now": now, "no": False, "config": json.dumps({"a": 1}), "hash": "0" * 64},
        )

    await on_database(url, baseline_with_data)

    hub = Hub(Settings(data_dir=tmp_path, database_url=empty_database_url))
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
    assert await on_database(url, current_revision) == head()
    tables = set(await on_database(url, lambda c: inspect(c).get_table_names()))
    assert {"web_sessions", "config_presets", "plugin_installs"} <= tables


def test_plugin_hub_migrate_creates_the_schema_and_is_idempotent(
    tmp_path: Path,
    empty_database_url: str,
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HUB_DATABASE_URL", empty_database_url)
    if not empty_database_url:
        url = store_url("", tmp_path / "data")
    for _ in range(2):  # the second run finds the schema current and changes nothing
        assert cli.main(["migrate"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed == {
            "revision": head(),
            "database": "postgresql" if empty_database_url else "sqlite",
        }
    tables = asyncio.run(on_database(url, lambda c: inspect(c).get_table_names()))
    assert set(Base.metadata.tables) | {"alembic_version"} == set(tables)


def test_plugin_hub_migrate_says_why_it_cannot_reach_the_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    # A directory where the database file should be: SQLite cannot open it.
    (tmp_path / "hub.db").mkdir()
    monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    assert cli.main(["migrate"]) == 1
    assert "plugin-hub: cannot migrate the database:" in capsys.readouterr().err
