"""Graceful hub shutdown (SIGTERM): plugins are told (1012), work is not lost."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import httpx

from tests.e2e.harness import HubProcess, PluginProcess, wait_until
from tests.timing import PATIENCE

StartPlugin = Callable[..., PluginProcess]


def test_sigterm_tells_plugins_and_running_work_finishes_after_restart(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    plugin = start_plugin("behaviours", plugin_id, secret, PLUGIN_RECONNECT_MAX_DELAY=1)
    wait_until(lambda: hub.is_live(plugin_id), timeout=PATIENCE)
    # Four slots, one kept for interactive work: three batch jobs run, three wait.
    jobs = hub.submit(plugin_id, [{"config": {"mode": "work", "seconds": 2}} for _ in range(6)])
    wait_until(lambda: len(hub.jobs(plugin_id, "running")) == 3, timeout=PATIENCE)

    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why.
    assert hub.stop(signal.SIGTERM, timeout=15) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in hub.log()
    # The plugin logs the close code from its own process, a moment after the hub has gone.
    wait_until(lambda: "1012" in plugin.output() or "SERVICE_RESTART" in plugin.output(), PATIENCE)
    hub.start()
    wait_until(lambda: all(hub.job(j["id"])["status"] == "succeeded" for j in jobs), timeout=30)
    # The three that were running carried on in the plugin and kept their attempt.
    attempts = sorted(hub.job(j["id"])["attempts"] for j in jobs)
    assert attempts == [1] * 6, attempts
    assert plugin.running()


def test_open_dashboard_streams_do_not_hold_up_a_shutdown(hub: HubProcess) -> None:
    """A tab left open on a plugin or job page must not keep the hub from stopping: the
    event streams end as soon as the server starts to shut down."""
    plugin_id, _ = hub.create_plugin()
    (job,) = hub.submit(plugin_id, [{"config": {}}])  # queued: its stream stays open
    client = httpx.Client(base_url=hub.url, timeout=30)
    page = client.get("/signin").text
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    signed_in = client.post(
        "/signin", data={"email": "owner@acme.test", "password": "pw-12345678", "csrf_token": token}
    )
    assert signed_in.status_code == 303
    opened = threading.Event()
    ended: list[str] = []

    def follow(path: str) -> None:
        with client.stream("GET", path) as stream:
            for _ in stream.iter_lines():
                opened.set()
        ended.append(path)

    readers = [
        threading.Thread(target=follow, args=(path,), daemon=True)
        for path in (
            "/events/plugins",
            f"/jobs/{job['id']}/events",
            f"/jobs/events?ids={job['id']}",
        )
    ]
    for reader in readers:
        reader.start()
    assert opened.wait(PATIENCE)
    time.sleep(0.3)  # all three are open
    assert hub.stop(signal.SIGTERM, timeout=PATIENCE) in (0, -signal.SIGTERM)
    for reader in readers:
        reader.join(PATIENCE)
    assert len(ended) == 3
    # Held-up streams would have been cut by uvicorn once its graceful-shutdown timeout ran
    # out, with this line in the log; ended streams let it stop without.
    assert "timeout graceful shutdown exceeded" not in hub.log()
    client.close()
