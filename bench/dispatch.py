"""Job dispatch throughput and latency against real hubs and real plugin processes.

    .venv/bin/python bench/dispatch.py [--jobs 20000] [--plugins 4] [--rate 50] [--seconds 10]
        [--rounds 3] [--setups sqlite,pg1,pg2,pg3]
        [--postgres postgresql+asyncpg://127.0.0.1/postgres] [--profile PREFIX]

Runs each setup in turn, in one run on this machine: `sqlite` is the single hub with its
embedded defaults; `pgN` is N hub nodes on one fresh PostgreSQL database with S3 storage on
moto's server (multi-node mode, docs/scaling.md), the plugin processes connected to the
dispatcher (as a balancer routing /ws/plugin by /healthz/dispatcher does) and every request
sent to the nodes in turn. For each it prints:
  - throughput: N no-op custom jobs through M plugin processes, submit to succeeded, and
    the dispatcher's CPU (user + system) per job over that time, `--rounds` times;
  - latency: jobs submitted one by one at a fixed rate, submit -> succeeded p50/p99
    (hub timestamps, one clock);
  - with several nodes, cancel through a node that does not dispatch: request -> the job
    `cancelled`, as that node shows it;
then the ceiling: round trips per second of a bare `websockets` echo on loopback with the
same number of connections, and each setup's ratio to it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _stats import (  # noqa: E402
    cpu_seconds,
    echo_server,
    latency_ms,
    percentile,
    profile,
    stop_profile,
)

from tests.databases import FALLBACK_SERVER, PostgresServer  # noqa: E402
from tests.e2e.harness import (  # noqa: E402
    HubProcess,
    MotoServer,
    PluginProcess,
    wait_until,
)

BATCH = 1000
BUCKET = "bench"


@dataclass
class Result:
    setup: str
    rounds: list[tuple[float, float, float]]
    """(jobs/s, seconds, dispatcher CPU seconds per job) of each throughput round."""
    p50: float
    p99: float
    cancels: list[float]


class Nodes:
    """The hub's nodes as a client sees them: requests go to each in turn."""

    def __init__(self, nodes: list[HubProcess]) -> None:
        self.nodes = nodes
        self._turn = itertools.cycle(nodes)
        self.client = httpx.Client(
            headers={"Authorization": f"Bearer {nodes[0].api_key}"}, timeout=60
        )

    def next(self) -> str:
        return next(self._turn).url

    def dispatcher(self) -> HubProcess:
        for node in self.nodes:
            if self.client.get(f"{node.url}/healthz/dispatcher").status_code == 200:
                return node
        raise RuntimeError("no node dispatches")

    def settled(self) -> bool:
        """No job queued or running, as the database and the dispatcher tell."""
        url = self.nodes[0].url
        for status in ("queued", "running"):
            page = self.client.get(f"{url}/api/v1/jobs", params={"status": status, "limit": 1})
            if page.json()["items"]:
                return False
        active: int = self.client.get(f"{self.dispatcher().url}/healthz").json()["active_jobs"]
        return active == 0


def throughput(nodes: Nodes, plugin_id: str, count: int) -> tuple[float, float]:
    """Submit `count` jobs in batches as fast as possible, through the nodes in turn;
    (jobs/s, seconds) until every one succeeded."""
    started = time.monotonic()
    for offset in range(0, count, BATCH):
        size = min(BATCH, count - offset)
        response = nodes.client.post(
            f"{nodes.next()}/api/v1/plugins/{plugin_id}/jobs/batch",
            json={"jobs": [{"config": {"n": offset + i}} for i in range(size)]},
        )
        response.raise_for_status()
    while not nodes.settled():
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    return count / elapsed, elapsed


def latency(nodes: Nodes, plugin_id: str, rate: float, seconds: float) -> list[float]:
    """Submit single jobs at `rate`/s through the nodes in turn; submit->succeeded in ms,
    from the hub's own timestamps."""
    ids = []
    interval = 1 / rate
    next_at = time.monotonic()
    end = next_at + seconds
    while next_at < end:
        response = nodes.client.post(
            f"{nodes.next()}/api/v1/plugins/{plugin_id}/jobs", json={"config": {}}
        )
        response.raise_for_status()
        ids.append(response.json()["id"])
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    wait_until(nodes.settled, timeout=60)
    latencies = []
    for job_id in ids:
        job = nodes.client.get(f"{nodes.next()}/api/v1/jobs/{job_id}").json()
        assert job["status"] == "succeeded", job
        latencies.append(latency_ms(job))
    return latencies


def cancels(nodes: Nodes, plugin_id: str, rounds: int) -> list[float]:
    """Seconds from a cancel sent to a node that does not dispatch, for a job running on a
    process the dispatcher holds, until that node shows the job `cancelled`."""
    dispatcher = nodes.dispatcher()
    other = next(node for node in nodes.nodes if node is not dispatcher)
    client = nodes.client
    measured = []
    for _ in range(rounds):
        response = client.post(
            f"{dispatcher.url}/api/v1/plugins/{plugin_id}/jobs", json={"config": {"sleep": 60}}
        )
        job_url = f"{other.url}/api/v1/jobs/{response.json()['id']}"

        def status(url: str = job_url) -> str:
            value: str = client.get(url).json()["status"]
            return value

        wait_until(lambda: status() == "running", timeout=30)
        started = time.monotonic()
        client.post(f"{job_url}/cancel").raise_for_status()
        wait_until(lambda: status() == "cancelled", timeout=30, interval=0.01)
        measured.append(time.monotonic() - started)
    return measured


@contextlib.contextmanager
def hub_nodes(
    root: Path, count: int, database_url: str, env: dict[str, str]
) -> Iterator[list[HubProcess]]:
    nodes = [
        HubProcess(root / f"node{n}", database_url=database_url, env=env) for n in range(count)
    ]
    try:
        nodes[0].data_dir.mkdir(parents=True)
        key = nodes[0].create_admin()
        for node in nodes:
            node.api_key = key
            node.launch()
        for node in nodes:
            node.wait_healthy(30)
        yield nodes
    finally:
        for node in nodes:
            if node.process is not None:
                node.stop()


def measure(setup: str, nodes: list[HubProcess], args: argparse.Namespace) -> Result:
    view = Nodes(nodes)
    dispatcher = view.dispatcher()
    plugin_id, secret = dispatcher.create_plugin("noop")
    plugins = []
    try:
        for _ in range(args.plugins):
            plugin = PluginProcess(
                "bench/noop_plugin.py",
                hub=dispatcher,
                plugin_id=plugin_id,
                secret=secret,
                env={"CONCURRENCY": str(args.concurrency)},
            )
            plugins.append(plugin.start())
        wait_until(
            lambda: len(dispatcher.plugin(plugin_id)["connections"]) == args.plugins, timeout=30
        )
        throughput(view, plugin_id, 1000)  # warm up
        assert dispatcher.process is not None
        rounds = []
        for round_ in range(args.rounds):
            profiler = profile(dispatcher.process, args.profile, setup) if round_ == 0 else None
            cpu_before = cpu_seconds(dispatcher.process.pid)
            rate, elapsed = throughput(view, plugin_id, args.jobs)
            cpu = (cpu_seconds(dispatcher.process.pid) - cpu_before) / args.jobs
            stop_profile(profiler)
            rounds.append((rate, elapsed, cpu))
        lat = latency(view, plugin_id, args.rate, args.seconds)
        cancelled = cancels(view, plugin_id, args.cancels) if len(nodes) > 1 else []
    finally:
        for plugin in plugins:
            plugin.stop()
        view.client.close()
    return Result(setup, rounds, statistics.median(lat), percentile(lat, 0.99), cancelled)


def run_setup(setup: str, args: argparse.Namespace, root: Path) -> Result:
    quiet = {"HUB_LOG_LEVEL": "WARNING"}
    if setup == "sqlite":
        with hub_nodes(root / setup, 1, "", quiet) as nodes:
            return measure(setup, nodes, args)
    count = int(setup.removeprefix("pg"))
    server = PostgresServer(args.postgres)
    moto = MotoServer().start()
    try:
        server.connect()
        moto.create_bucket(BUCKET)
        env = {
            **quiet,
            **moto.env,
            "HUB_STORAGE_URL": f"s3://{BUCKET}/{setup}",
            "HUB_SECRET_KEY": "one-key-for-every-node",
        }
        with server.database() as url, hub_nodes(root / setup, count, url, env) as nodes:
            return measure(setup, nodes, args)
    finally:
        server.close()
        moto.stop()


def echo_ceiling(connections: int, messages: int) -> float:
    """Round trips per second of a bare websockets echo server in another process."""
    with echo_server() as (port, _pid):
        return asyncio.run(_echo_round_trips(port, connections, messages))


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
    parser.add_argument("--cancels", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--setups", default="sqlite,pg1,pg2,pg3")
    parser.add_argument("--profile", help="py-spy raw output to PREFIX-SETUP.txt (round 1)")
    parser.add_argument("--postgres", default=FALLBACK_SERVER)
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for setup in args.setups.split(","):
            results.append(run_setup(setup, args, Path(tmp)))
            print(f"  ({setup} done)", file=sys.stderr)
    ceiling = echo_ceiling(args.plugins, 50_000)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(
        f"{args.jobs} no-op jobs, {args.plugins} plugin processes (capacity "
        f"{args.concurrency} each); latency at {args.rate:g} jobs/s for {args.seconds:g} s"
    )
    print(
        f"{'setup':<8} {'round':>5} {'jobs/s':>8} {'seconds':>8} {'cpu µs/job':>10} "
        f"{'ratio':>6} {'p50 ms':>8} {'p99 ms':>8}  cancel via another node (median / max)"
    )
    for r in results:
        cancel = (
            f"{statistics.median(r.cancels) * 1000:.0f} ms / {max(r.cancels) * 1000:.0f} ms"
            if r.cancels
            else "-"
        )
        for number, (rate, seconds, cpu) in enumerate(r.rounds, 1):
            last = number == len(r.rounds)
            print(
                f"{r.setup:<8} {number:>5} {rate:>8,.0f} {seconds:>8.2f} {cpu * 1e6:>10.0f} "
                f"{rate / ceiling:>6.3f} "
                + (f"{r.p50:>8.2f} {r.p99:>8.2f}  {cancel}" if last else "")
            )
    print(
        f"ceiling: bare websockets echo, {args.plugins} connections: {ceiling:,.0f} round trips/s"
    )


if __name__ == "__main__":
    main()
