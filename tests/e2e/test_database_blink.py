"""PostgreSQL unreachable for 10 s under two hub nodes: they keep their plugin sockets, say
"degraded" on /healthz and `plugin_hub_database_up 0` on /metrics, and recover by
themselves; every acknowledged job still runs, once.

The nodes reach PostgreSQL through a TCP proxy of the test's own (tests/e2e/balancer.py with
one backend); killing the proxy cuts every connection and refuses new ones, as a database
restarting or a network cut would, without disturbing the server other tests use. These
need PostgreSQL, so they run in the suite's PostgreSQL pass."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from tests.databases import PostgresServer, on_database, several_nodes
from tests.e2e.harness import HubProcess, MotoServer, PluginProcess, free_port, wait_until
from tests.timing import PATIENCE

pytestmark = [
    several_nodes,
    pytest.mark.timeout(240),
]

OUTAGE = 10.0
JOBS = 200
BUCKET = "blink"


class Proxy:
    """A TCP proxy to PostgreSQL that can be cut and restored on the same port."""

    def __init__(self, backend: str) -> None:
        self.port = free_port()
        self.backend = backend
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "tests.e2e.balancer"),
                *("--port", str(self.port), "--backend", self.backend),
            ]
        )
        wait_until(self._accepting, PATIENCE, interval=0.05)

    def _accepting(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def cut(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoServer]:
    moto = MotoServer().start()
    moto.create_bucket(BUCKET)
    yield moto
    moto.stop()


def health(node: HubProcess) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{node.url}/healthz", timeout=5).json()
    return body


def database_up(node: HubProcess) -> str:
    metrics = httpx.get(f"{node.url}/metrics", timeout=5).text
    return next(
        line.split()[-1]
        for line in metrics.splitlines()
        if line.startswith("plugin_hub_database_up")
    )


def statuses(connection: Connection) -> dict[str, int]:
    rows = connection.exec_driver_sql("SELECT status, count(*) FROM jobs GROUP BY status")
    return {status: int(count) for status, count in rows}


def test_the_database_unreachable_for_10_s_loses_nothing_and_keeps_the_sockets(
    postgres: PostgresServer, s3: MotoServer, tmp_path: Path
) -> None:
    with postgres.database() as url:
        real = make_url(url)
        proxy = Proxy(f"{real.host or '127.0.0.1'}:{real.port or 5432}")
        proxy.start()
        through_proxy = real.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False
        )
        env = {
            **s3.env,
            "HUB_STORAGE_URL": f"s3://{BUCKET}/{tmp_path.name}",
            "HUB_SECRET_KEY": "one-key-for-every-node",
            "HUB_DISPATCHER_LEASE_TTL": "2",
        }
        nodes = [
            HubProcess(tmp_path / f"node{n}", database_url=through_proxy, env=env) for n in range(2)
        ]
        plugin: PluginProcess | None = None
        try:
            for node in nodes:
                node.start(PATIENCE)
            dispatcher = next(node for node in nodes if health(node)["role"] == "dispatcher")
            key = dispatcher.create_admin()
            for node in nodes:
                node.api_key = key
            plugin_id, secret = dispatcher.create_plugin("square")
            executions = tmp_path / "executions"
            executions.mkdir()
            plugin = PluginProcess(
                "square",
                hub=dispatcher,
                plugin_id=plugin_id,
                secret=secret,
                env={"EXECUTION_LOG_DIR": str(executions), "CONCURRENCY": "4"},
            ).start()
            wait_until(lambda: dispatcher.is_live(plugin_id), PATIENCE)
            items = dispatcher.submit(
                plugin_id, [{"config": {"n": n, "sleep": 0.1}} for n in range(JOBS)]
            )
            submitted = {item["id"]: item["config"]["n"] for item in items}
            wait_until(
                lambda: asyncio.run(on_database(url, statuses)).get("succeeded", 0) >= 20,
                PATIENCE,
                interval=0.1,
            )

            proxy.cut()
            cut_at = time.monotonic()
            for node in nodes:
                wait_until(lambda node=node: health(node)["status"] == "degraded", PATIENCE)
                assert database_up(node) == "0"
            seen = health(dispatcher)
            assert seen["role"] == "dispatcher", "it keeps its role while nobody can take it"
            assert seen["live_connections"] == 1, "and its plugin socket"
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - cut_at)))
            proxy.start()

            for node in nodes:
                wait_until(lambda node=node: health(node)["status"] == "ok", PATIENCE)
                assert database_up(node) == "1"
            wait_until(
                lambda: asyncio.run(on_database(url, statuses)) == {"succeeded": JOBS},
                PATIENCE * 2,
                interval=0.2,
            )
            assert health(dispatcher)["role"] == "dispatcher", "the same node dispatches on"
            output = plugin.output()
            assert output.count("connected to ") == 1, "the plugin never had to reconnect"

            results = {job["id"]: job["result"] for job in dispatcher.jobs(plugin_id)}
            assert results == {job_id: {"square": n * n} for job_id, n in submitted.items()}
            runs = [
                tuple(line.split()[:2])
                for log in executions.glob("*.log")
                for line in log.read_text().splitlines()
            ]
            assert len(runs) == len(set(runs)), "no (job, attempt) ran twice"
            assert {job_id for job_id, _ in runs} == set(submitted)
        finally:
            if plugin is not None:
                plugin.stop()
            for node in nodes:
                if node.process is not None and node.process.poll() is None:
                    node.stop()
            if proxy.process is not None and proxy.process.poll() is None:
                proxy.cut()
