"""The path most users take: one `POST /api/v1/plugins/{id}/jobs` per job, then the result.

    .venv/bin/python bench/submit.py [--requests 4000] [--connections 16] [--rate 50]
        [--seconds 10] [--rounds 3] [--setups sqlite,pg]
        [--postgres postgresql+asyncpg://127.0.0.1/postgres] [--profile PREFIX]

A real hub process (SQLite in its data dir; `pg`: one node on a fresh PostgreSQL database)
with 4 no-op plugin processes, and in the same run the baseline: a trivial Starlette JSON
endpoint under uvicorn with the same HTTP stack (bench/trivial_app.py). The client is raw
keep-alive HTTP (bench/_raw_http.py), cheap enough not to be what is measured. Each round
prints:
  - single-POST submit rate over `--connections` connections, hub vs the trivial endpoint,
    and their ratio;
  - hub CPU per job: the hub process's user+system CPU from the first POST until every job
    has succeeded, divided by the jobs (dispatch and outcome included), next to the trivial
    endpoint's CPU per request;
  - submit -> succeeded at `--rate` jobs/s, one POST then `GET /api/v1/jobs/{id}?wait=10`
    until the job ended: p50/p99 on the hub's clock (created_at -> finished_at) and as the
    client saw it (POST sent -> terminal answer read).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _raw_http import RawConnection, hammer  # noqa: E402
from _stats import (  # noqa: E402
    cpu_seconds,
    each_setup,
    latency_ms,
    percentile,
    profile,
    setups_parser,
    stop_profile,
)

from tests.e2e.harness import HubProcess, PluginProcess, free_port, wait_until  # noqa: E402

TERMINAL = {"succeeded", "failed", "cancelled"}


@contextlib.contextmanager
def trivial_endpoint() -> Iterator[tuple[int, int]]:
    """(port, pid) of bench/trivial_app.py, running until the block ends."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "trivial_app.py"), str(port)])
    try:
        wait_until(lambda: _answers(port), timeout=30, interval=0.05)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait()


def _answers(port: int) -> bool:
    async def probe() -> bool:
        try:
            connection = await RawConnection.open(port)
        except OSError:
            return False
        status, _ = await connection.request("POST", "/submit", b"{}")
        connection.close()
        return status == 202

    return asyncio.run(probe())


@contextlib.contextmanager
def hub_with_plugins(root: Path, database_url: str) -> Iterator[tuple[HubProcess, str]]:
    hub = HubProcess(root, database_url=database_url, env={"HUB_LOG_LEVEL": "WARNING"})
    root.mkdir(parents=True)
    hub.create_admin()
    hub.start(30)
    plugin_id, secret = hub.create_plugin("noop")
    plugins = [
        PluginProcess("bench/noop_plugin.py", hub=hub, plugin_id=plugin_id, secret=secret).start()
        for _ in range(4)
    ]
    try:
        wait_until(lambda: len(hub.plugin(plugin_id)["connections"]) == 4, timeout=30)
        yield hub, plugin_id
    finally:
        for plugin in plugins:
            plugin.stop()
        hub.stop()


async def settle(port: int) -> None:
    """Until the hub holds no active job."""
    connection = await RawConnection.open(port)
    try:
        while True:
            _, health = await connection.json("GET", "/healthz")
            if health["active_jobs"] == 0:
                return
            await asyncio.sleep(0.005)
    finally:
        connection.close()


async def single_posts(
    hub: HubProcess, plugin_id: str, requests: int, connections: int
) -> tuple[float, float]:
    """(submits per second, hub CPU seconds per job until all succeeded)."""
    assert hub.process is not None
    auth = f"authorization: Bearer {hub.api_key}\r\n".encode()
    cpu_before = cpu_seconds(hub.process.pid)
    rate, answers = await hammer(
        hub.port,
        f"/api/v1/plugins/{plugin_id}/jobs",
        b'{"config": {}}',
        requests=requests,
        connections=connections,
        headers=auth,
    )
    await settle(hub.port)
    assert all(json.loads(a)["status"] in ("queued", "running", "succeeded") for a in answers)
    return rate, (cpu_seconds(hub.process.pid) - cpu_before) / requests


async def paced_latency(
    hub: HubProcess, plugin_id: str, rate: float, seconds: float
) -> tuple[list[float], list[float]]:
    """Jobs at `rate`/s, each one POST then long-polling GETs until it ended:
    (hub-clock ms, client-observed ms)."""
    auth = f"authorization: Bearer {hub.api_key}\r\n".encode()
    pool: asyncio.Queue[RawConnection] = asyncio.Queue()
    for _ in range(8):
        pool.put_nowait(await RawConnection.open(hub.port))
    hub_ms: list[float] = []
    client_ms: list[float] = []

    async def one() -> None:
        connection = await pool.get()
        try:
            started = time.perf_counter()
            status, job = await connection.json(
                "POST", f"/api/v1/plugins/{plugin_id}/jobs", {"config": {}}, auth
            )
            assert status == 202, job
            while job["status"] not in TERMINAL:
                _, job = await connection.json(
                    "GET", f"/api/v1/jobs/{job['id']}?wait=10", headers=auth
                )
            client_ms.append((time.perf_counter() - started) * 1000)
            assert job["status"] == "succeeded", job
            hub_ms.append(latency_ms(job))
        finally:
            pool.put_nowait(connection)

    tasks = []
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    end = next_at + seconds
    while next_at < end:
        tasks.append(asyncio.create_task(one()))
        next_at += 1 / rate
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    return hub_ms, client_ms


def run_setup(setup: str, database_url: str, args: argparse.Namespace, root: Path) -> None:
    body = b'{"config": {}}'
    with (
        trivial_endpoint() as (trivial_port, trivial_pid),
        hub_with_plugins(root / setup, database_url) as (hub, plugin_id),
    ):
        asyncio.run(single_posts(hub, plugin_id, 500, args.connections))  # warm up
        asyncio.run(paced_latency(hub, plugin_id, args.rate, 1))
        for round_ in range(1, args.rounds + 1):
            profiler = profile(hub.process, args.profile, setup) if round_ == 1 else None
            cpu_before = cpu_seconds(trivial_pid)
            trivial_rate, _ = asyncio.run(
                hammer(
                    trivial_port,
                    "/submit",
                    body,
                    requests=args.requests,
                    connections=args.connections,
                )
            )
            trivial_cpu = (cpu_seconds(trivial_pid) - cpu_before) / args.requests
            rate, cpu = asyncio.run(single_posts(hub, plugin_id, args.requests, args.connections))
            stop_profile(profiler)
            hub_ms, client_ms = asyncio.run(paced_latency(hub, plugin_id, args.rate, args.seconds))
            print(
                f"{setup:<7} {round_:>5} {rate:>9,.0f} {trivial_rate:>9,.0f} "
                f"{rate / trivial_rate:>6.3f} {cpu * 1e3:>8.3f} {trivial_cpu * 1e3:>8.3f} "
                f"{statistics.median(hub_ms):>7.2f} {percentile(hub_ms, 0.99):>7.2f} "
                f"{statistics.median(client_ms):>7.2f} {percentile(client_ms, 0.99):>7.2f}",
                flush=True,
            )


def main() -> None:
    parser = setups_parser(__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(
        f"{args.requests} single POSTs over {args.connections} keep-alive connections; "
        f"latency at {args.rate:g} jobs/s for {args.seconds:g} s (POST, then GET ?wait=10)"
    )
    print(
        f"{'setup':<7} {'round':>5} {'hub /s':>9} {'trivial':>9} {'ratio':>6} "
        f"{'cpu ms':>8} {'triv ms':>8} {'hub p50':>7} {'hub p99':>7} {'cli p50':>7} "
        f"{'cli p99':>7}"
    )
    each_setup(args, lambda setup, url, tmp: run_setup(setup, url, args, tmp))


if __name__ == "__main__":
    main()
