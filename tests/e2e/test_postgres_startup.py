"""Hub nodes starting at once on one new PostgreSQL database all come up: the migrations run
under an advisory lock (hub/db/migrations), so one node creates the schema while the others
wait for it, then find it current. Without the lock, one of two nodes crashed in 2 of 5 trials
on a unique violation in the catalog. And `plugin-hub migrate` does the same as a command.

These run whenever a PostgreSQL server answers (HUB_TEST_DATABASE_URL's, or 127.0.0.1's),
whatever the switch says, and skip saying why when none does."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from hub.db.migrations import Base, alembic_config
from tests.databases import PostgresServer, on_database
from tests.e2e.harness import HubProcess, MotoServer
from tests.timing import PATIENCE

ROUNDS = 10
NODES = 3
BUCKET = "nodes"


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def schema(connection: Connection) -> tuple[list[str | None], set[str]]:
    """Every row of alembic_version, and the tables."""
    versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
    return list(versions), set(inspect(connection).get_table_names())


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoServer]:
    """Blob storage the nodes share, as several nodes must (moto's S3 server)."""
    pytest.importorskip("moto", reason="moto is needed for the nodes' shared S3 storage")
    moto = MotoServer().start()
    moto.create_bucket(BUCKET)
    yield moto
    moto.stop()


# Ten rounds of three hub start-ups: more than the suite's 120 s per test on a busy machine.
@pytest.mark.timeout(ROUNDS * 60)
def test_three_nodes_starting_at_once_on_an_empty_database_all_come_up(
    postgres: PostgresServer, s3: MotoServer, tmp_path: Path
) -> None:
    for round_ in range(ROUNDS):
        with postgres.database(empty=True) as url:
            nodes = [
                HubProcess(
                    tmp_path / f"round{round_}" / f"node{n}",
                    database_url=url,
                    env={
                        **s3.env,
                        "HUB_STORAGE_URL": f"s3://{BUCKET}/round{round_}",
                        "HUB_SECRET_KEY": "shared-by-the-nodes-of-one-hub",
                    },
                )
                for n in range(NODES)
            ]
            try:
                for node in nodes:
                    node.launch()
                for node in nodes:
                    node.wait_healthy(PATIENCE)
            finally:
                for node in nodes:
                    if node.process is not None:
                        node.stop()
            versions, tables = asyncio.run(on_database(url, schema))
            assert versions == [head()], f"round {round_}"
            assert set(Base.metadata.tables) <= tables, f"round {round_}"


def migrate(url: str, data_dir: Path) -> subprocess.Popen[str]:
    """`plugin-hub migrate` in a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "migrate"],
        env={**os.environ, "HUB_DATABASE_URL": url, "HUB_DATA_DIR": str(data_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_plugin_hub_migrate_creates_the_schema_and_is_idempotent(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    with postgres.database(empty=True) as url:
        # Three at once on the empty database, then once more on the current schema.
        for batch in (3, 1):
            processes = [migrate(url, tmp_path / "data") for _ in range(batch)]
            for process in processes:
                out, err = process.communicate(timeout=PATIENCE)
                assert process.returncode == 0, err
                assert json.loads(out) == {"revision": head(), "database": "postgresql"}
        versions, tables = asyncio.run(on_database(url, schema))
        assert versions == [head()]
        assert set(Base.metadata.tables) | {"alembic_version"} == tables
    assert not (tmp_path / "data").exists(), "a hub on PostgreSQL keeps no SQLite data dir"
