"""Interactive latency while batch work keeps the same plugins busy.

    .venv/bin/python bench/interactive.py [--samples 200] [--busy-seconds 0.2]

Starts a hub, a file explorer plugin and a model plugin (4 slots each, real processes).
Keeps both busy with a steady stream of batch-priority work (imports, and model jobs that
take --busy-seconds each), and meanwhile submits interactive jobs one at a time: a folder
listing, and a one-task model run with a no-op callback. Prints p50/p99 of submit ->
succeeded for each, from the hub's own timestamps; target: p50 under 20 ms for a listing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _stats import latency_ms, percentile  # noqa: E402

from tests.e2e.harness import HubProcess, PluginProcess, wait_until  # noqa: E402

BACKLOG = 40
"""Batch jobs kept waiting behind the busy slots."""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--busy-seconds", type=float, default=0.2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        hub = HubProcess(Path(tmp) / "hub", database_url="", env={"HUB_LOG_LEVEL": "WARNING"})
        hub.data_dir.mkdir(parents=True)
        hub.create_admin()
        hub.start()
        project = hub.api("POST", "/projects", json={"name": "bench", "categories": []}).json()
        hub.api(
            "POST",
            f"/projects/{project['id']}/assets",
            json={"assets": [{"url": "https://images.example/a.jpg", "width": 10, "height": 10}]},
        )
        task_id = hub.api("GET", f"/projects/{project['id']}/tasks").json()["items"][0]["id"]
        explorer_id, explorer_secret = hub.create_plugin("explorer", "file_explorer")
        model_id, model_secret = hub.create_plugin("model", "model")
        script = "bench/interactive_plugins.py"
        plugins = [
            PluginProcess(
                script,
                hub=hub,
                plugin_id=explorer_id,
                secret=explorer_secret,
                env={"BENCH_KIND": "explorer"},
            ).start(),
            PluginProcess(
                script,
                hub=hub,
                plugin_id=model_id,
                secret=model_secret,
                env={"BENCH_KIND": "model"},
            ).start(),
        ]
        stop = threading.Event()
        client = httpx.Client(
            base_url=f"{hub.url}/api/v1",
            timeout=30,
            headers={"Authorization": f"Bearer {hub.api_key}"},
        )

        def keep_busy() -> None:
            """Top up each plugin's batch backlog so its slots never run dry."""
            busy_import = {
                "project_id": project["id"],
                "operation": "import",
                "priority": "batch",
                "config": {"seconds": args.busy_seconds},
                "input": {"folder": ""},
            }
            busy_model = {
                "priority": "batch",
                "config": {"seconds": args.busy_seconds},
                "input": {"task_id": task_id},
            }
            with httpx.Client(
                base_url=f"{hub.url}/api/v1",
                timeout=30,
                headers={"Authorization": f"Bearer {hub.api_key}"},
            ) as busy:
                while not stop.is_set():
                    for plugin_id, body in ((explorer_id, busy_import), (model_id, busy_model)):
                        queued = busy.get(
                            "/jobs",
                            params={"plugin_id": plugin_id, "status": "queued", "limit": BACKLOG},
                        ).json()["items"]
                        if len(queued) < BACKLOG // 2:
                            busy.post(
                                f"/plugins/{plugin_id}/jobs/batch",
                                json={"jobs": [body] * (BACKLOG - len(queued))},
                            )
                    stop.wait(0.05)

        try:
            wait_until(lambda: hub.is_live(explorer_id) and hub.is_live(model_id), timeout=15)
            filler = threading.Thread(target=keep_busy, daemon=True)
            filler.start()
            time.sleep(1.0)  # let the backlog build and the slots fill

            def measure(plugin_id: str, body: dict) -> list[float]:
                latencies = []
                for _ in range(args.samples):
                    job = client.post(f"/plugins/{plugin_id}/jobs", json=body).json()
                    while (state := client.get(f"/jobs/{job['id']}").json())["status"] in {
                        "queued",
                        "running",
                    }:
                        time.sleep(0.002)
                    assert state["status"] == "succeeded", state
                    assert state["priority"] == "interactive"
                    latencies.append(latency_ms(state))
                return latencies

            listing = measure(
                explorer_id,
                {"project_id": project["id"], "operation": "list", "input": {"folder": ""}},
            )
            model = measure(model_id, {"config": {"seconds": 0}, "input": {"task_id": task_id}})
            busy_running = len(
                client.get("/jobs", params={"plugin_id": model_id, "status": "running"}).json()[
                    "items"
                ]
            )
        finally:
            stop.set()
            client.close()
            for plugin in plugins:
                plugin.stop()
            hub.stop()
    print(
        f"busy: {args.busy_seconds * 1000:.0f} ms batch jobs filling 4 slots per plugin "
        f"({busy_running} model jobs running at the end)"
    )
    print(
        f"file explorer list ({len(listing)}): p50 {statistics.median(listing):.1f} ms, "
        f"p99 {percentile(listing, 0.99):.1f} ms (target: p50 < 20 ms)"
    )
    print(
        f"one-task model, no-op ({len(model)}): p50 {statistics.median(model):.1f} ms, "
        f"p99 {percentile(model, 0.99):.1f} ms"
    )


if __name__ == "__main__":
    main()
