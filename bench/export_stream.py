"""The NDJSON export stream against a plain dump of the same rows.

    .venv/bin/python bench/export_stream.py [--tasks 20000] [--rounds 3] [--setups sqlite,pg]
        [--postgres postgresql+asyncpg://127.0.0.1/postgres] [--profile PREFIX]

Seeds a project with N image tasks (three boxes each; bench/export.py's seed) and starts
a real hub. Each round times, in turn:
  - the hub: `GET /api/v1/projects/{id}/export` read to the end (what a plugin's export
    and the dashboard's download read: keyset pages, batches, category names, one JSON
    line per task);
  - the baseline: the same SELECT (the export's own columns and join, compiled from
    hub.workspace.export) run once through the database's plain driver (sqlite3, asyncpg)
    and written as one `json.dumps` line per row, JSON columns parsed first;
and prints both and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _stats import (  # noqa: E402
    downloaded_bytes,
    each_setup,
    profile,
    setups_parser,
    stop_profile,
)
from export import seed  # noqa: E402

from hub.cluster.notify import asyncpg_dsn  # noqa: E402
from hub.db.workspace_tables import AssetRow, TaskRow  # noqa: E402
from hub.workspace.export import EXPORT_COLUMNS  # noqa: E402
from tests.e2e.harness import HubProcess  # noqa: E402

JSON_COLUMNS = ("annotations", "metadata")


def export_sql(project_id: str, postgres: bool) -> str:
    query = (
        select(*EXPORT_COLUMNS)
        .join_from(TaskRow, AssetRow, AssetRow.id == TaskRow.asset_id)
        .where(TaskRow.project_id == project_id)
        .order_by(TaskRow.id)
    )
    dialect = postgresql.dialect() if postgres else sqlite.dialect()
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _line(row: dict[str, Any]) -> bytes:
    for name in JSON_COLUMNS:
        if isinstance(row[name], str):
            row[name] = json.loads(row[name])
    for name, value in row.items():
        if isinstance(value, datetime):
            row[name] = value.isoformat()
    return json.dumps(row).encode() + b"\n"


def plain_dump(database: str, sql: str) -> tuple[float, int]:
    """(seconds, bytes) of the baseline."""
    started = time.perf_counter()
    size = 0
    if database.startswith("postgresql"):

        async def dump() -> int:
            connection = await asyncpg.connect(asyncpg_dsn(database))
            try:
                written = 0
                for record in await connection.fetch(sql):
                    written += len(_line(dict(record)))
                return written
            finally:
                await connection.close()

        size = asyncio.run(dump())
    else:
        connection = sqlite3.connect(database)
        connection.row_factory = sqlite3.Row
        for record in connection.execute(sql):
            size += len(_line(dict(record)))
        connection.close()
    return time.perf_counter() - started, size


def hub_stream(hub: HubProcess, project_id: str) -> tuple[float, int]:
    started = time.perf_counter()
    size = downloaded_bytes(f"{hub.url}/api/v1/projects/{project_id}/export", hub.api_key)
    return time.perf_counter() - started, size


def run_setup(setup: str, database_url: str, args: argparse.Namespace, root: Path) -> None:
    hub = HubProcess(root / setup, database_url=database_url, env={"HUB_LOG_LEVEL": "WARNING"})
    hub.data_dir.mkdir(parents=True)
    hub.create_admin()
    project_id = asyncio.run(seed(hub.data_dir, "acme", args.tasks, database_url=database_url))
    database = database_url or str(hub.data_dir / "hub.db")
    sql = export_sql(project_id, postgres=bool(database_url))
    hub.start(60)
    try:
        hub_stream(hub, project_id)  # warm up
        for round_ in range(1, args.rounds + 1):
            profiler = profile(hub.process, args.profile, setup) if round_ == 1 else None
            seconds, size = hub_stream(hub, project_id)
            stop_profile(profiler)
            plain, plain_size = plain_dump(database, sql)
            print(
                f"{setup:<7} {round_:>5} {seconds:>8.2f} {args.tasks / seconds:>10,.0f} "
                f"{size / 1e6:>7.1f} {plain:>8.2f} {plain_size / 1e6:>7.1f} "
                f"{seconds / plain:>6.2f}",
                flush=True,
            )
    finally:
        hub.stop()


def main() -> None:
    parser = setups_parser(__doc__)
    parser.add_argument("--tasks", type=int, default=20_000)
    args = parser.parse_args()
    print(f"{args.tasks} tasks with three boxes each")
    print(
        f"{'setup':<7} {'round':>5} {'hub s':>8} {'tasks/s':>10} {'MB':>7} {'plain s':>8} "
        f"{'MB':>7} {'ratio':>6}"
    )
    each_setup(args, lambda setup, url, tmp: run_setup(setup, url, args, tmp))


if __name__ == "__main__":
    main()
