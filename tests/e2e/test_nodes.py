"""Three `plugin-hub serve` nodes on one PostgreSQL database and one S3 bucket (moto's server),
behind a round-robin TCP balancer (tests/e2e/balancer.py), with six plugin processes
connecting through it and 5,000 jobs submitted through random nodes: all run, once each —
undisturbed, with `kill -9` of the dispatcher mid-run, and through a rolling restart of every
node.

The audit is independent of the hub's own bookkeeping: a trigger installed behind the hub's
back records every change of a job's status or attempt, and each plugin process logs every
run of its callback (tests/e2e/plugins/square.py). Then: no (job, attempt) ran twice, no job
left a terminal state, each job went to `succeeded` exactly once, and every result is exact.

These need PostgreSQL, so they run in the suite's PostgreSQL pass (HUB_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection

from tests.databases import PostgresServer, on_database, several_nodes
from tests.e2e.harness import HubProcess, MotoServer, PluginProcess, free_port, wait_until
from tests.timing import PATIENCE

pytestmark = [
    several_nodes,
    pytest.mark.timeout(300),
]

NODES = 3
PLUGINS = 3
PROCESSES_PER_PLUGIN = 2
JOBS = 5000
BATCH = 100
BUCKET = "nodes"
TERMINAL = ("succeeded", "failed", "cancelled")

AUDIT = (
    """
CREATE TABLE job_audit (
    seq bigserial PRIMARY KEY,
    job_id text NOT NULL,
    old_status text,
    new_status text NOT NULL,
    old_attempt int,
    new_attempt int NOT NULL
)""",
    """
CREATE FUNCTION audit_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO job_audit (job_id, new_status, new_attempt)
        VALUES (NEW.id, NEW.status, NEW.attempt);
    ELSIF NEW.status IS DISTINCT FROM OLD.status OR NEW.attempt IS DISTINCT FROM OLD.attempt THEN
        INSERT INTO job_audit (job_id, old_status, new_status, old_attempt, new_attempt)
        VALUES (NEW.id, OLD.status, NEW.status, OLD.attempt, NEW.attempt);
    END IF;
    RETURN NEW;
END $$""",
    """
CREATE TRIGGER audit_job AFTER INSERT OR UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION audit_job()""",
)


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoServer]:
    moto = MotoServer().start()
    moto.create_bucket(BUCKET)
    yield moto
    moto.stop()


@dataclass
class Cluster:
    """The nodes, the balancer in front of them, and the plugin processes behind it."""

    root: Path
    database_url: str
    s3: MotoServer
    nodes: list[HubProcess] = field(default_factory=list)
    up: list[HubProcess] = field(default_factory=list)
    """Nodes the test sends requests to: not being killed or restarted."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held around each request batch and each disruption, so none is cut in half."""
    balancer: subprocess.Popen[bytes] | None = None
    plugins: list[tuple[str, str]] = field(default_factory=list)
    processes: list[PluginProcess] = field(default_factory=list)
    submitted: dict[str, int] = field(default_factory=dict)
    """Job id → its n, for every job a node acknowledged (202)."""

    def start(self) -> None:
        env = {
            **self.s3.env,
            "HUB_STORAGE_URL": f"s3://{BUCKET}/{self.root.name}",
            # No HUB_SECRET_KEY: the nodes share the key the first one put in the database.
            "HUB_DISPATCHER_LEASE_TTL": "2",
            "HUB_LEASE_TTL": "5",
            "HUB_MAX_ATTEMPTS": "10",
        }
        self.nodes = [
            HubProcess(self.root / f"node{n}", database_url=self.database_url, env=env)
            for n in range(NODES)
        ]
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.wait_healthy(PATIENCE)
        self.up = list(self.nodes)
        asyncio.run(on_database(self.database_url, install_audit))
        port = free_port()
        backends = [arg for node in self.nodes for arg in ("--backend", f"127.0.0.1:{node.port}")]
        self.balancer = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.balancer", "--port", str(port), *backends]
        )
        balancer_url = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(balancer_url), PATIENCE, interval=0.05)
        key = self.nodes[0].create_admin()
        for node in self.nodes:
            node.api_key = key
        executions = self.root / "executions"
        executions.mkdir()
        for n in range(PLUGINS):
            plugin_id, secret = self.node().create_plugin(f"square-{n}")
            self.plugins.append((plugin_id, secret))
            for _ in range(PROCESSES_PER_PLUGIN):
                process = PluginProcess(
                    "square",
                    hub=self.nodes[0],
                    plugin_id=plugin_id,
                    secret=secret,
                    env={"HUB_URL": balancer_url, "EXECUTION_LOG_DIR": str(executions)},
                )
                self.processes.append(process.start())
        wait_until(self.all_live, PATIENCE, interval=0.1)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        if self.balancer is not None:
            self.balancer.kill()
            self.balancer.wait(10)
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.stop(signal.SIGKILL)

    def node(self) -> HubProcess:
        return random.choice(self.up)

    def live_processes(self) -> int:
        """Plugin processes live on the hub, as a random node tells."""
        node = self.node()
        return sum(len(node.plugin(plugin_id)["connections"]) for plugin_id, _ in self.plugins)

    def all_live(self) -> bool:
        return self.live_processes() == len(self.processes)

    def dispatcher(self) -> HubProcess:
        for node in self.up:
            if dispatches(node):
                return node
        raise AssertionError("no node dispatches")

    def submit_all(self, *, sleep: float, pause: float) -> None:
        """Submit JOBS jobs in batches through random nodes, `pause` seconds apart."""
        for first in range(0, JOBS, BATCH):
            plugin_id, _ = self.plugins[(first // BATCH) % PLUGINS]
            jobs = [{"config": {"n": n, "sleep": sleep}} for n in range(first, first + BATCH)]
            with self.lock:
                items = self.node().submit(plugin_id, jobs)
            self.submitted.update({item["id"]: item["config"]["n"] for item in items})
            time.sleep(pause)

    def finished(self) -> int:
        return int(asyncio.run(on_database(self.database_url, count_finished)))

    def wait_for_the_end(self) -> None:
        wait_until(lambda: self.finished() == JOBS, 180, interval=0.5)

    def epoch(self) -> int:
        return int(asyncio.run(on_database(self.database_url, lease_epoch)))

    def time_until_all_live(self, since: float, *, after_epoch: int | None = None) -> float:
        """Seconds from `since` until every plugin process is live, as the API shows it; with
        `after_epoch`, live on a dispatcher of a later epoch (the old one's published
        processes stay visible until its lease lapses)."""

        def live() -> bool:
            if after_epoch is not None and self.epoch() <= after_epoch:
                return False
            return self.all_live()

        wait_until(live, 60, interval=0.05)
        return time.monotonic() - since

    def audit(self) -> None:
        assert len(self.submitted) == JOBS
        audit = asyncio.run(on_database(self.database_url, read_audit))
        jobs = {row[0]: row for row in audit["jobs"]}
        assert set(jobs) == set(self.submitted), "every acknowledged job exists, no other"
        statuses = Counter(status for _, status, _ in jobs.values())
        assert statuses == {"succeeded": JOBS}
        wrong = [i for i, (_, _, result) in jobs.items() if result != {"square": self.n(i) ** 2}]
        assert wrong == [], "every result is exact"

        left_terminal = [
            row for row in audit["transitions"] if row[1] in TERMINAL and row[2] != row[1]
        ]
        assert left_terminal == [], "no status leaves a terminal state"
        succeeded = Counter(row[0] for row in audit["transitions"] if row[2] == "succeeded")
        assert set(succeeded) == set(self.submitted)
        assert max(succeeded.values()) == 1, "each job's outcome is recorded once"

        runs = Counter(self.executions())
        twice = [key for key, count in runs.items() if count > 1]
        assert twice == [], "no (job, attempt) ran twice"
        assert {job_id for job_id, _ in runs} == set(self.submitted)

    def n(self, job_id: str) -> int:
        return self.submitted[job_id]

    def executions(self) -> Iterator[tuple[str, int]]:
        for log in (self.root / "executions").glob("*.log"):
            for line in log.read_text().splitlines():
                job_id, attempt, _pid = line.split()
                yield job_id, int(attempt)


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def dispatches(node: HubProcess) -> bool:
    return httpx.get(f"{node.url}/healthz/dispatcher", timeout=5).status_code == 200


def install_audit(connection: Connection) -> None:
    for statement in AUDIT:
        connection.exec_driver_sql(statement)


def count_finished(connection: Connection) -> int:
    query = "SELECT count(*) FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled')"
    return int(connection.exec_driver_sql(query).scalar_one())


def lease_epoch(connection: Connection) -> int:
    query = "SELECT epoch FROM dispatcher_lease WHERE expires_at > now()"
    return int(connection.exec_driver_sql(query).scalar() or 0)


def read_audit(connection: Connection) -> dict[str, list[Any]]:
    return {
        "jobs": [
            tuple(row) for row in connection.exec_driver_sql("SELECT id, status, result FROM jobs")
        ],
        "transitions": [
            tuple(row)
            for row in connection.exec_driver_sql(
                "SELECT job_id, old_status, new_status FROM job_audit ORDER BY seq"
            )
        ],
    }


@pytest.fixture
def cluster(postgres: PostgresServer, s3: MotoServer, tmp_path: Path) -> Iterator[Cluster]:
    with postgres.database() as url:
        cluster = Cluster(tmp_path, url, s3)
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()


def submitting(cluster: Cluster, *, sleep: float, pause: float) -> threading.Thread:
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            cluster.submit_all(sleep=sleep, pause=pause)
        except BaseException as exc:  # surfaced by the test when it joins
            errors.append(exc)
            raise

    thread = threading.Thread(target=submit, name="submitter", daemon=True)
    thread.start()
    thread.errors = errors  # type: ignore[attr-defined]
    return thread


def join(thread: threading.Thread) -> None:
    thread.join(PATIENCE * 4)
    assert not thread.is_alive(), "submitting took too long"
    assert thread.errors == []  # type: ignore[attr-defined]


def test_5000_jobs_through_random_nodes_all_run_once(cluster: Cluster) -> None:
    submitter = submitting(cluster, sleep=0, pause=0)
    join(submitter)
    cluster.wait_for_the_end()
    cluster.audit()


def test_kill_9_of_the_dispatcher_mid_run_loses_nothing_and_runs_nothing_twice(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    submitter = submitting(cluster, sleep=0.1, pause=0.1)
    wait_until(lambda: cluster.finished() >= JOBS // 5, 120, interval=0.2)
    with cluster.lock:
        victim = cluster.dispatcher()
        epoch = cluster.epoch()
        cluster.up.remove(victim)
        killed_at = time.monotonic()
        victim.stop(signal.SIGKILL)
    finished_then = cluster.finished()
    back = cluster.time_until_all_live(killed_at, after_epoch=epoch)
    with capsys.disabled():  # the figure belongs in the run's output, passed or not
        print(f"\nkill -9 of the dispatcher with {finished_then}/{JOBS} jobs finished:")
        print(f"  every plugin process live again after {back:.2f} s")
    join(submitter)
    cluster.wait_for_the_end()
    assert finished_then < JOBS, "the dispatcher died mid-run"
    cluster.audit()


def test_a_rolling_restart_of_every_node_fails_no_job(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    submitter = submitting(cluster, sleep=0.25, pause=0.1)
    wait_until(lambda: cluster.finished() >= JOBS // 10, 120, interval=0.2)
    with capsys.disabled():  # the figures belong in the run's output, passed or not
        print(f"\nrolling restart of {NODES} nodes:")
    for node in list(cluster.nodes):
        with cluster.lock:
            was_dispatcher = dispatches(node)
            epoch = cluster.epoch() if was_dispatcher else None
            cluster.up.remove(node)
            stopped_at = time.monotonic()
            # uvicorn shuts down gracefully, then ends by the signal it got.
            assert node.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
            assert "Application shutdown complete" in node.log()
            finished_then = cluster.finished()
            back = cluster.time_until_all_live(stopped_at, after_epoch=epoch)
            node.start(PATIENCE)
            cluster.up.append(node)
        role = "dispatcher" if was_dispatcher else "node"
        with capsys.disabled():
            print(
                f"  {role} stopped (SIGTERM) with {finished_then}/{JOBS} jobs finished: "
                f"every plugin process live again {back:.2f} s after the signal"
            )
        assert finished_then < JOBS, "the restart happened mid-run"
    join(submitter)
    cluster.wait_for_the_end()
    cluster.audit()
