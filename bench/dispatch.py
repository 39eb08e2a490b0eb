"""Job dispatch throughput and latency against a real hub and real plugin processes.

    .venv/bin/python bench/dispatch.py [--jobs 20000] [--plugins 4] [--rate 50] [--seconds 10]

Prints, from one run on this machine:
  - throughput: N no-op custom jobs through M plugin processes, submit to succeeded;
  - latency: jobs submitted one by one at a fixed rate, submit -> succeeded p50/p99
    (hub timestamps, one clock);
  - ceiling: round trips per second of a bare `websockets` echo on loopback with the
    same number of connections, and the ratio of the two.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _stats import latency_ms, percentile  # noqa: E402

from tests.e2e.harness import HubProcess, PluginProcess, free_port, wait_until  # noqa: E402

BATCH = 1000


def throughput(hub: HubProcess, plugin_id: str, count: int) -> tuple[float, float]:
    """Submit `count` jobs in batches as fast as possible; (jobs/s, seconds)."""
    started = time.monotonic()
    with httpx.Client(headers={"Authorization": f"Bearer {hub.api_key}"}, timeout=60) as client:
        for offset in range(0, count, BATCH):
            size = min(BATCH, count - offset)
            response = client.post(
                f"{hub.url}/api/v1/plugins/{plugin_id}/jobs/batch",
                json={"jobs": [{"config": {"n": offset + i}} for i in range(size)]},
            )
            response.raise_for_status()
        while True:
            stats = client.get(f"{hub.url}/healthz").json()
            if stats["active_jobs"] == 0:
                break
            time.sleep(0.01)
    elapsed = time.monotonic() - started
    return count / elapsed, elapsed


def latency(hub: HubProcess, plugin_id: str, rate: float, seconds: float) -> list[float]:
    """Submit single jobs at `rate`/s; submit->succeeded in ms, from the hub's own timestamps."""
    ids = []
    interval = 1 / rate
    with httpx.Client(headers={"Authorization": f"Bearer {hub.api_key}"}, timeout=10) as client:
        next_at = time.monotonic()
        end = next_at + seconds
        while next_at < end:
            response = client.post(
                f"{hub.url}/api/v1/plugins/{plugin_id}/jobs", json={"config": {}}
            )
            response.raise_for_status()
            ids.append(response.json()["id"])
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        wait_until(lambda: client.get(f"{hub.url}/healthz").json()["active_jobs"] == 0, timeout=30)
        latencies = []
        for job_id in ids:
            job = client.get(f"{hub.url}/api/v1/jobs/{job_id}").json()
            assert job["status"] == "succeeded", job
            latencies.append(latency_ms(job))
    return latencies


def echo_ceiling(connections: int, messages: int) -> float:
    """Round trips per second of a bare websockets echo server in another process."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "echo_server.py"), str(port)], stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "ready"
        return asyncio.run(_echo_round_trips(port, connections, messages))
    finally:
        server.terminate()
        server.wait()


async def _echo_round_trips(port: int, connections: int, messages: int, window: int = 64) -> float:
    # A frame the size of a typical `result`, pipelined like the hub's traffic.
    payload = '{"type":"result","job_id":"01a204d3eaf94b78f9688fb1","attempt":1,"output":{}}'
    per_connection = messages // connections

    async def drive() -> None:
        async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            sent = received = 0
            while received < per_connection:
                while sent < per_connection and sent - received < window:
                    await ws.send(payload)
                    sent += 1
                await ws.recv()
                received += 1

    started = time.monotonic()
    await asyncio.gather(*(drive() for _ in range(connections)))
    return per_connection * connections / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--plugins", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        hub = HubProcess(Path(tmp) / "hub", env={"HUB_LOG_LEVEL": "WARNING"})
        hub.data_dir.mkdir(parents=True)
        hub.create_admin()
        hub.start()
        plugin_id, secret = hub.create_plugin("noop")
        plugins = []
        try:
            for _ in range(args.plugins):
                plugin = PluginProcess(
                    "bench/noop_plugin.py",
                    hub=hub,
                    plugin_id=plugin_id,
                    secret=secret,
                    env={"CONCURRENCY": str(args.concurrency)},
                )
                plugins.append(plugin.start())
            wait_until(
                lambda: len(hub.plugin(plugin_id)["connections"]) == args.plugins, timeout=15
            )
            throughput(hub, plugin_id, 1000)  # warm up
            rate, elapsed = throughput(hub, plugin_id, args.jobs)
            lat = latency(hub, plugin_id, args.rate, args.seconds)
        finally:
            for plugin in plugins:
                plugin.stop()
            hub.stop()
    ceiling = echo_ceiling(args.plugins, 50_000)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(
        f"throughput: {args.jobs} no-op jobs, {args.plugins} plugin processes "
        f"(capacity {args.concurrency} each): {rate:,.0f} jobs/s ({elapsed:.2f} s)"
    )
    print(
        f"latency at {args.rate:g} jobs/s for {args.seconds:g} s ({len(lat)} jobs): "
        f"p50 {statistics.median(lat):.2f} ms, p99 {percentile(lat, 0.99):.2f} ms"
    )
    print(
        f"ceiling: bare websockets echo, {args.plugins} connections: {ceiling:,.0f} round trips/s"
    )
    print(f"ratio: jobs/s / echo round trips/s = {rate / ceiling:.3f}")


if __name__ == "__main__":
    main()
