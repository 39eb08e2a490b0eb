"""The dashboard open on node A shows a job progressing on node B live.

Two `plugin-hub serve` nodes on one PostgreSQL database and one S3 bucket (moto's server), as
docs/scaling.md runs them. Node B dispatches: it holds the plugin's socket and runs the job;
node A only reads the job from the database, where B's group commit writes its progress. A
browser signed in on A watches the job's page, without a reload, go from queued through
several progress values to `succeeded`.

These need PostgreSQL, so they run in the suite's PostgreSQL pass (HUB_TEST_DATABASE_URL)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, _collect, sign_in
from tests.databases import PostgresServer, several_nodes
from tests.e2e.harness import HubProcess, MotoServer, PluginProcess, wait_until
from tests.timing import PATIENCE

pytestmark = several_nodes

BUCKET = "nodes-live"
SECONDS = 5
"""How long the job works: it reports progress every 0.1 s (tests/e2e/plugins/behaviours.py)."""

# Every change of the job page's status or percent, in order, as the page itself shows it.
WATCH_THE_PAGE = """() => {
    window.notReloaded = true;
    window.seen = [];
    const status = document.querySelector('[data-job-status]');
    const percent = document.querySelector('[data-job-percent]');
    const note = () => window.seen.push({
        status: status.textContent.trim(),
        percent: parseFloat(percent.textContent),
    });
    note();
    const observer = new MutationObserver(note);
    for (const el of [status, percent]) {
        observer.observe(el, {childList: true, characterData: true, subtree: true});
    }
}"""


@dataclass
class Nodes:
    dispatcher: HubProcess
    other: HubProcess


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoServer]:
    moto = MotoServer().start()
    try:
        moto.create_bucket(BUCKET)
        yield moto
    finally:
        moto.stop()


def dispatches(node: HubProcess) -> bool:
    try:
        return httpx.get(f"{node.url}/healthz/dispatcher", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def nodes(postgres: PostgresServer, s3: MotoServer, tmp_path: Path) -> Iterator[Nodes]:
    """Two nodes on a fresh database, once one of them dispatches; both stopped after."""
    with postgres.database() as url:
        env = {
            **s3.env,
            "HUB_STORAGE_URL": f"s3://{BUCKET}/{tmp_path.name}",
            "HUB_SECRET_KEY": "one-key-for-every-node",
            # Generous: a loaded machine must not make the dispatcher lose its lease mid-test
            # (the plugin process is pointed at this one node and would be turned away).
            "HUB_DISPATCHER_LEASE_TTL": "10",
        }
        both = [HubProcess(tmp_path / f"node{n}", database_url=url, env=env) for n in range(2)]
        try:
            for node in both:
                node.launch()
            for node in both:
                node.wait_healthy(PATIENCE)
            wait_until(lambda: any(dispatches(node) for node in both), PATIENCE, interval=0.1)
            dispatcher = next(node for node in both if dispatches(node))
            other = next(node for node in both if node is not dispatcher)
            assert not dispatches(other), "exactly one node dispatches"
            yield Nodes(dispatcher=dispatcher, other=other)
        finally:
            for node in both:
                if node.process is not None and node.process.poll() is None:
                    try:
                        node.stop(signal.SIGTERM)
                    except Exception:  # did not stop in time: make sure it is gone
                        node.stop(signal.SIGKILL)


def test_the_dashboard_on_one_node_follows_a_job_running_on_the_dispatcher(
    browser: Any, nodes: Nodes
) -> None:
    dispatcher, other = nodes.dispatcher, nodes.other
    # An admin stored in the shared database (through the dispatcher's settings), signed in
    # on the other node: both nodes know the same users and keys.
    key = dispatcher.create_admin()
    other.api_key = key
    plugin_id, secret = other.create_plugin("Worker")
    # Submitted through the dispatcher's API before any plugin process is live: the job
    # waits, queued, so the page on the other node can watch its whole run.
    [job] = dispatcher.submit(plugin_id, [{"config": {"mode": "work", "seconds": SECONDS}}])
    job_id = job["id"]

    context = browser.new_context(viewport=DESKTOP, base_url=other.url)
    context.set_default_timeout(PATIENCE * 1000)
    plugin: PluginProcess | None = None
    errors: list[str] = []
    try:
        tab = context.new_page()
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("console", lambda msg: _collect(msg, other.url, errors))
        sign_in(tab)
        tab.goto(f"/jobs/{job_id}")
        status = tab.locator("[data-job-status]")
        expect(status).to_have_text("queued")
        tab.evaluate(WATCH_THE_PAGE)

        plugin = PluginProcess(
            "behaviours",
            hub=dispatcher,
            plugin_id=plugin_id,
            secret=secret,
            env={"HUB_URL": dispatcher.url},
        ).start()
        expect(status).to_have_text("succeeded", timeout=PATIENCE * 1000)
        expect(tab.locator("[data-job-percent]")).to_have_text("100%")
        expect(tab.locator("[data-job-result]")).to_contain_text(f'"steps": {SECONDS * 10}')

        seen: list[dict[str, Any]] = tab.evaluate("window.seen")
        assert tab.evaluate("window.notReloaded") is True, "the page followed without a reload"
        midway = {s["percent"] for s in seen if s["status"] == "running" and 0 < s["percent"] < 100}
        assert len(midway) >= 2, f"the progress moved on the page while running: {seen}"
        assert seen[-1] == {"status": "succeeded", "percent": 100}
        # What the page showed was the dispatcher's job: same state through either node.
        assert other.job(job_id)["status"] == dispatcher.job(job_id)["status"] == "succeeded"
        assert not errors, f"JavaScript errors on the page: {errors}"
    finally:
        context.close()
        if plugin is not None:
            plugin.stop()
