"""A large export through the example export plugin, against a real hub.

    .venv/bin/python bench/export.py [--tasks 100000] [--format coco]

Seeds a project with N image tasks (three boxes each) straight into the hub's database
through the workspace service, starts `plugin-hub serve` and `examples/export/plugin.py`
as real processes, runs one export job to completion, downloads the file, and prints:
the time from submit to succeeded, the file's size, and the peak resident memory (VmHWM)
of the hub and of the plugin — the hub's next to its resident memory before the export.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _stats import downloaded_bytes, memory_kib  # noqa: E402

from ango_plugins_sdk.protocol.workspace import AssetIn, CategoryIn  # noqa: E402
from hub.db.workspace_tables import TaskRow  # noqa: E402
from hub.runtime import Hub  # noqa: E402
from hub.settings import Settings  # noqa: E402
from hub.workspace.requests import ProjectCreate  # noqa: E402
from tests.e2e.harness import HubProcess, PluginProcess, wait_until  # noqa: E402

SEED_CHUNK = 10_000


async def seed(data_dir: Path, organization: str, count: int, *, database_url: str = "") -> str:
    """Create the project and its tasks in the hub's database; returns the project id."""
    hub = Hub(Settings(data_dir=data_dir, database_url=database_url))
    await hub.store.create_schema()
    organization_id = await hub.accounts.organization_id(organization)
    user = await hub.accounts.authenticate_password("owner@acme.test", "pw-12345678")
    project = await hub.workspace.projects.create(
        user,
        ProjectCreate(
            name="big",
            categories=[
                CategoryIn(name="car", tool="bbox"),
                CategoryIn(name="person", tool="bbox"),
            ],
        ),
    )
    categories = {c.name: c.id for c in project.categories}
    for start in range(0, count, SEED_CHUNK):
        assets = [
            AssetIn(
                url=f"https://images.example/{n}.jpg",
                external_id=f"frame_{n:07}.jpg",
                width=1920,
                height=1080,
            )
            for n in range(start, min(count, start + SEED_CHUNK))
        ]
        await hub.workspace.assets.create_many(organization_id, project.id, assets)
    annotations = {
        "objects": [
            {
                "category_id": categories["car"],
                "bbox": {"x": 100.5, "y": 200.25, "w": 300, "h": 150},
            },
            {"category_id": categories["car"], "bbox": {"x": 900, "y": 500, "w": 250, "h": 120}},
            {"category_id": categories["person"], "bbox": {"x": 1500, "y": 300, "w": 80, "h": 220}},
        ],
        "classifications": [],
    }
    async with hub.store.write() as session:
        await session.execute(
            update(TaskRow).where(TaskRow.project_id == project.id).values(annotations=annotations)
        )
    await hub.store.close()
    return project.id


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--format", choices=["coco", "yolo"], default="coco")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        hub = HubProcess(Path(tmp) / "hub", database_url="", env={"HUB_LOG_LEVEL": "WARNING"})
        hub.data_dir.mkdir(parents=True)
        hub.create_admin()
        started = time.monotonic()
        project_id = asyncio.run(seed(hub.data_dir, "acme", args.tasks))
        print(f"seeded {args.tasks} tasks in {time.monotonic() - started:.1f} s", flush=True)
        hub.start()
        assert hub.process is not None
        plugin_id, secret = hub.create_plugin("exporter", "export")
        plugin = PluginProcess(
            "examples/export/plugin.py", hub=hub, plugin_id=plugin_id, secret=secret
        ).start()
        try:
            wait_until(lambda: hub.is_live(plugin_id), timeout=15)
            hub_before = memory_kib(hub.process.pid, "VmRSS")
            submitted = time.monotonic()
            response = hub.api(
                "POST",
                f"/plugins/{plugin_id}/jobs",
                json={"project_id": project_id, "config": {"format": args.format}},
            )
            response.raise_for_status()
            job_id = response.json()["id"]
            wait_until(
                lambda: hub.job(job_id)["status"] in {"succeeded", "failed"},
                timeout=1800,
                interval=0.5,
            )
            elapsed = time.monotonic() - submitted
            job = hub.job(job_id)
            assert job["status"] == "succeeded", job["error"]
            hub_peak = memory_kib(hub.process.pid, "VmHWM")
            plugin_peak = memory_kib(plugin.pid, "VmHWM")
            size = downloaded_bytes(f"{hub.url}/api/v1/jobs/{job_id}/artifact", hub.api_key)
        finally:
            plugin.stop()
            hub.stop()
    print(
        f"export: {args.tasks} tasks as {args.format}: {elapsed:.1f} s "
        f"({args.tasks / elapsed:,.0f} tasks/s), file {size / 1e6:.1f} MB"
    )
    print(
        f"hub RSS: {hub_before / 1024:.0f} MB before, peak {hub_peak / 1024:.0f} MB "
        f"(growth {(hub_peak - hub_before) / 1024:.0f} MB; target < 150 MB)"
    )
    print(f"plugin peak RSS: {plugin_peak / 1024:.0f} MB")
    print(
        json.dumps(
            {
                "tasks": args.tasks,
                "seconds": round(elapsed, 2),
                "hub_rss_growth_mb": round((hub_peak - hub_before) / 1024, 1),
                "plugin_peak_mb": round(plugin_peak / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
