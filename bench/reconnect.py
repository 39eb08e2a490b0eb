"""A fleet of plugin connections: memory per idle connection, and how long a restarted hub
takes to have them all back.

    .venv/bin/python bench/reconnect.py [--connections 5000] [--plugins 500] [--workers 4]
        [--rounds 3] [--setups sqlite,pg] [--postgres postgresql+asyncpg://127.0.0.1/postgres]
        [--profile PREFIX]

A real hub process and `--workers` processes of SDK connections (bench/_fleet.py: the SDK's
own `HubConnection`, handshake, heartbeats and reconnect policy, with no jobs) spread over
`--plugins` plugins. It prints:
  - the hub's resident memory per idle connection once all are live, next to the same
    figure for a bare `websockets` server holding as many idle connections (the baseline);
  - per round: the hub is stopped (SIGTERM, which closes every socket with 1012) and
    started again; seconds from the new process answering /healthz until every connection
    is live again, and from the stop; and the hub's CPU over that time (the fleet shares
    the machine's cores, so the seconds also measure the clients).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _stats import (  # noqa: E402
    cpu_seconds,
    each_setup,
    echo_server,
    memory_kib,
    profile,
    setups_parser,
    stop_profile,
)

from tests.e2e.harness import HubProcess, wait_until  # noqa: E402


def live(hub: HubProcess) -> int:
    try:
        count: int = httpx.get(f"{hub.url}/healthz", timeout=5).json()["live_connections"]
    except (httpx.HTTPError, ValueError):
        return -1
    return count


@contextlib.contextmanager
def fleet(
    hub: HubProcess, credentials: Path, connections: int, workers: int
) -> Iterator[list[subprocess.Popen[bytes]]]:
    share = -(-connections // workers)
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "_fleet.py"),
                hub.url,
                str(credentials),
                str(first),
                str(min(share, connections - first)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for first in range(0, connections, share)
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def bare_server_kib_per_connection(connections: int) -> float:
    """Resident memory per idle connection of a bare websockets server (bench/echo_server.py)."""
    with echo_server() as (port, pid):
        before = memory_kib(pid)

        async def hold() -> int:
            opened = []
            for _ in range(connections):
                opened.append(await connect(f"ws://127.0.0.1:{port}", compression=None))
            await asyncio.sleep(1)
            after = memory_kib(pid)
            for ws in opened:
                await ws.close()
            return after

        return (asyncio.run(hold()) - before) / connections


def run_setup(setup: str, database_url: str, args: argparse.Namespace, root: Path) -> None:
    hub = HubProcess(root / setup, database_url=database_url, env={"HUB_LOG_LEVEL": "WARNING"})
    hub.data_dir.mkdir(parents=True)
    hub.create_admin()
    hub.start(60)
    try:
        credentials = [list(hub.create_plugin(f"p{n}")) for n in range(args.plugins)]
        path = root / f"{setup}-credentials.json"
        path.write_text(json.dumps(credentials))
        assert hub.process is not None
        before = memory_kib(hub.process.pid)
        with fleet(hub, path, args.connections, args.workers):
            wait_until(lambda: live(hub) == args.connections, timeout=300, interval=0.2)
            time.sleep(2)  # settled
            assert hub.process is not None
            per_connection = (memory_kib(hub.process.pid) - before) / args.connections
            print(
                f"{setup}: hub memory per idle connection {per_connection:.1f} KiB "
                f"({args.connections} connections over {args.plugins} plugins)",
                flush=True,
            )
            for round_ in range(1, args.rounds + 1):
                stopping = time.monotonic()
                hub.stop(signal.SIGTERM, timeout=60)
                hub.launch()
                profiler = profile(hub.process, args.profile, setup) if round_ == 1 else None
                hub.wait_healthy(60)
                healthy = time.monotonic()
                assert hub.process is not None
                cpu_before = cpu_seconds(hub.process.pid)
                wait_until(lambda: live(hub) == args.connections, timeout=300, interval=0.05)
                done = time.monotonic()
                cpu = cpu_seconds(hub.process.pid) - cpu_before
                stop_profile(profiler)
                print(
                    f"{setup}: round {round_}: all {args.connections} live again "
                    f"{done - healthy:.2f} s after /healthz answered "
                    f"({done - stopping:.2f} s after the stop began); hub CPU meanwhile "
                    f"{cpu:.2f} s, {cpu / args.connections * 1e6:.0f} µs per connection",
                    flush=True,
                )
    finally:
        hub.stop()


def main() -> None:
    parser = setups_parser(__doc__)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--plugins", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    each_setup(args, lambda setup, url, tmp: run_setup(setup, url, args, tmp))
    baseline = bare_server_kib_per_connection(args.connections)
    print(f"baseline: a bare websockets server, {baseline:.1f} KiB per idle connection")


if __name__ == "__main__":
    main()
