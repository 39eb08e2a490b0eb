"""A real plugin process's own health endpoints, as an orchestrator sees them (issue 14).

`plugin.py --health-port 0` against a real hub: `/readyz` turns 200 once the process is
connected; SIGTERM with a job running turns it 503 at once while `/livez` stays 200, the
running job gets the SDK's shutdown grace and is then handed back to the hub, and the
process exits 0.
"""

from __future__ import annotations

import re
import signal

import httpx

from tests.e2e.harness import HubProcess, PluginProcess, wait_until
from tests.timing import PATIENCE

LOGGED_PORT = re.compile(r"health endpoints on http://127\.0\.0\.1:(\d+) ")


def get(port: int, path: str) -> httpx.Response | None:
    """The answer to `GET path`, or None when nothing answers (not up yet, or gone)."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.HTTPError:
        return None


def status_of(port: int, path: str) -> int | None:
    answer = get(port, path)
    return None if answer is None else answer.status_code


def held_jobs(port: int) -> int | None:
    answer = get(port, "/readyz")
    return None if answer is None else int(answer.json()["jobs"])


def test_readiness_follows_the_session_and_sigterm_drains(hub: HubProcess) -> None:
    plugin_id, secret = hub.create_plugin(name="healthy")
    plugin = PluginProcess(
        "behaviours",
        hub=hub,
        plugin_id=plugin_id,
        secret=secret,
        env={"PLUGIN_HEALTH_HOST": "127.0.0.1"},
    )
    plugin.args += ["--health-port", "0"]  # a free port, which the SDK logs
    plugin.start()
    try:
        wait_until(lambda: LOGGED_PORT.search(plugin.output()) is not None, timeout=PATIENCE)
        found = LOGGED_PORT.search(plugin.output())
        assert found is not None
        port = int(found.group(1))

        wait_until(lambda: status_of(port, "/readyz") == 200, timeout=PATIENCE)
        assert hub.is_live(plugin_id)
        ready = get(port, "/readyz")
        assert ready is not None
        assert ready.json()["state"] == "ready"
        assert ready.json()["pid"] == plugin.pid

        # A job that runs until it is told to stop.
        [job] = hub.submit(plugin_id, [{"config": {"mode": "forever"}}])
        wait_until(lambda: hub.job(job["id"])["status"] == "running", timeout=PATIENCE)
        wait_until(lambda: held_jobs(port) == 1, timeout=PATIENCE)

        plugin.signal(signal.SIGTERM)
        # Draining: not ready, still alive, while the job has its grace period.
        wait_until(lambda: status_of(port, "/readyz") == 503, timeout=PATIENCE)
        # The job never ends by itself, so the process is inside its 10 s grace period.
        draining = get(port, "/livez")
        assert draining is not None
        assert draining.status_code == 200
        assert draining.json()["state"] == "stopping"

        assert plugin.wait(timeout=PATIENCE) == 0
        assert status_of(port, "/livez") is None  # the endpoint went with the process
        # The job was handed back (not lost): queued again, for the next live process.
        wait_until(lambda: hub.job(job["id"])["status"] == "queued", timeout=PATIENCE)
        wait_until(lambda: not hub.is_live(plugin_id), timeout=PATIENCE)
    finally:
        plugin.stop()  # only if it is still running: SIGKILL by its pid
