"""Issue 3's acceptance, end to end: real hub and plugin processes running custom jobs."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.harness import HubProcess, PluginProcess, wait_until
from tests.timing import PATIENCE

StartPlugin = Callable[..., PluginProcess]
TERMINAL = {"succeeded", "failed", "cancelled"}


def all_terminal(hub: HubProcess, plugin_id: str, count: int) -> bool:
    jobs = hub.jobs(plugin_id)
    return len(jobs) == count and all(j["status"] in TERMINAL for j in jobs)


def test_jobs_survive_a_plugin_process_killed_mid_run(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    survivor = start_plugin("echo", plugin_id, secret)
    victim = start_plugin("echo", plugin_id, secret)
    wait_until(lambda: len(hub.plugin(plugin_id)["connections"]) == 2, timeout=PATIENCE)
    submitted = []
    for start in range(0, 500, 250):
        submitted += hub.submit(
            plugin_id, [{"config": {"n": n, "sleep": 0.01}} for n in range(start, start + 250)]
        )
    # Let both processes take work, then kill one with jobs in its hands.
    wait_until(lambda: len(hub.jobs(plugin_id, "succeeded")) >= 50, timeout=PATIENCE)
    victim.signal(signal.SIGKILL)
    wait_until(lambda: all_terminal(hub, plugin_id, 500), timeout=2 * PATIENCE)
    jobs = {j["id"]: j for j in hub.jobs(plugin_id)}
    assert Counter(j["status"] for j in jobs.values()) == {"succeeded": 500}
    for job in submitted:
        # Each result is its own job's config, not another's.
        assert jobs[job["id"]]["result"]["config"] == job["config"]
    assert any(j["attempts"] > 1 for j in jobs.values()), "the kill should have cost some attempts"
    assert {j["result"]["pid"] for j in jobs.values()} == {survivor.pid, victim.pid}
    assert survivor.running()


def test_hub_killed_with_jobs_queued_and_running(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    start_plugin("echo", plugin_id, secret, CONCURRENCY=8, PLUGIN_RECONNECT_MAX_DELAY=1)
    wait_until(lambda: hub.is_live(plugin_id), timeout=PATIENCE)
    submitted = hub.submit(plugin_id, [{"config": {"n": n, "sleep": 0.05}} for n in range(200)])
    wait_until(lambda: len(hub.jobs(plugin_id, "succeeded")) >= 20, timeout=PATIENCE)
    assert hub.stop(signal.SIGKILL) != 0
    hub.start()
    wait_until(lambda: all_terminal(hub, plugin_id, 200), timeout=2 * PATIENCE)
    jobs = {j["id"]: j for j in hub.jobs(plugin_id)}
    assert Counter(j["status"] for j in jobs.values()) == {"succeeded": 200}
    for job in submitted:
        assert jobs[job["id"]]["result"]["config"] == job["config"]
        # The hub logs one line each time it applies an outcome: exactly one per job.
        applied = [
            r for r in hub.logs(job["id"]) if r["source"] == "hub" and "succeeded" in r["message"]
        ]
        assert len(applied) == 1, applied


def test_a_job_submitted_with_no_plugin_live_runs_when_one_connects(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    (job,) = hub.submit(plugin_id, [{"config": {"waiting": True}}])
    time.sleep(0.5)
    assert hub.job(job["id"])["status"] == "queued"
    start_plugin("echo", plugin_id, secret)
    wait_until(lambda: hub.job(job["id"])["status"] == "succeeded", timeout=PATIENCE)
    assert hub.job(job["id"])["result"]["config"] == {"waiting": True}


@pytest.mark.parametrize("use_async", ["0", "1"], ids=["sync", "async"])
def test_cancel_a_running_job(hub: HubProcess, start_plugin: StartPlugin, use_async: str) -> None:
    plugin_id, secret = hub.create_plugin()
    start_plugin("behaviours", plugin_id, secret, ASYNC=use_async)
    wait_until(lambda: hub.is_live(plugin_id), timeout=PATIENCE)
    (job,) = hub.submit(plugin_id, [{"config": {"mode": "forever"}}])
    wait_until(
        lambda: (hub.job(job["id"])["progress"] or {}).get("current", 0) >= 2, timeout=PATIENCE
    )
    assert hub.api("POST", f"/jobs/{job['id']}/cancel").status_code == 202
    wait_until(lambda: hub.job(job["id"])["status"] == "cancelled", timeout=PATIENCE)
    # The plugin stopped by itself: the hub did not have to give up on it after its grace.
    assert hub.job(job["id"])["error"]["kind"] == "Cancelled"
    assert "did not stop in time" not in hub.job(job["id"])["error"]["message"]


def test_a_queued_job_cancels_at_once(hub: HubProcess) -> None:
    plugin_id, _ = hub.create_plugin()
    (job,) = hub.submit(plugin_id, [{"config": {}}])
    cancelled = hub.api("POST", f"/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json()["status"] == "cancelled"
    assert hub.api("POST", f"/jobs/{job['id']}/cancel").status_code == 409


def test_a_raising_callback_fails_the_job_with_its_message_and_traceback(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    start_plugin("behaviours", plugin_id, secret)
    (job,) = hub.submit(plugin_id, [{"config": {"mode": "boom"}}])
    wait_until(lambda: hub.job(job["id"])["status"] == "failed", timeout=PATIENCE)
    error = hub.job(job["id"])["error"]
    assert "boom" in error["message"]
    assert error["kind"] == "ValueError"
    assert "Traceback" in error["traceback"]
    logs = "\n".join(r["message"] for r in hub.logs(job["id"]))
    assert "Traceback (most recent call last)" in logs
    assert 'raise ValueError("boom")' in logs


def test_logs_and_progress_are_readable_while_the_job_runs(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    start_plugin("behaviours", plugin_id, secret)
    (job,) = hub.submit(plugin_id, [{"config": {"mode": "work", "seconds": 3}}])
    wait_until(lambda: len(hub.logs(job["id"])) >= 3, timeout=PATIENCE)
    running = hub.job(job["id"])
    assert running["status"] == "running"
    assert 0 < running["progress"]["current"] < running["progress"]["total"] == 30
    assert any(r["message"].startswith("step ") for r in hub.logs(job["id"]))
    wait_until(lambda: hub.job(job["id"])["status"] == "succeeded", timeout=PATIENCE)
    assert hub.job(job["id"])["progress"]["percent"] == 100.0


def test_a_job_past_its_deadline_times_out(hub: HubProcess, start_plugin: StartPlugin) -> None:
    plugin_id, secret = hub.create_plugin()
    start_plugin("behaviours", plugin_id, secret)
    (job,) = hub.submit(plugin_id, [{"config": {"mode": "forever"}, "timeout_s": 0.5}])
    wait_until(lambda: hub.job(job["id"])["status"] == "failed", timeout=PATIENCE)
    error = hub.job(job["id"])["error"]
    assert error["kind"] == "Timeout"
    assert "timed out after 0.5s" in error["message"]


def test_retry_runs_a_finished_job_again(hub: HubProcess, start_plugin: StartPlugin) -> None:
    plugin_id, secret = hub.create_plugin()
    start_plugin("echo", plugin_id, secret)
    (job,) = hub.submit(plugin_id, [{"config": {"again": 1}}])
    wait_until(lambda: hub.job(job["id"])["status"] == "succeeded", timeout=PATIENCE)
    assert hub.api("POST", f"/jobs/{job['id']}/retry").status_code == 202
    wait_until(
        lambda: hub.job(job["id"])["status"] == "succeeded" and hub.job(job["id"])["attempts"] == 2,
        timeout=PATIENCE,
    )


def test_metrics_count_jobs_in_prometheus_format(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    start_plugin("echo", plugin_id, secret)
    jobs = hub.submit(plugin_id, [{"config": {"n": n}} for n in range(3)])
    wait_until(
        lambda: all(hub.job(j["id"])["status"] == "succeeded" for j in jobs), timeout=PATIENCE
    )
    text = httpx.get(f"{hub.url}/metrics", timeout=PATIENCE).text
    assert "# TYPE plugin_hub_jobs_finished_total counter" in text
    assert 'plugin_hub_jobs_finished_total{status="succeeded"} 3' in text
    assert "plugin_hub_live_connections 1" in text
    assert 'plugin_hub_active_jobs{status="queued"} 0' in text
