"""Graceful hub shutdown (SIGTERM): plugins are told (1012), work is not lost."""

from __future__ import annotations

import signal
from collections.abc import Callable

from tests.e2e.harness import HubProcess, PluginProcess, wait_until

StartPlugin = Callable[..., PluginProcess]


def test_sigterm_tells_plugins_and_running_work_finishes_after_restart(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    plugin = start_plugin("behaviours", plugin_id, secret, PLUGIN_RECONNECT_MAX_DELAY=1)
    wait_until(lambda: hub.is_live(plugin_id), timeout=5)
    # Four slots, one kept for interactive work: three batch jobs run, three wait.
    jobs = hub.submit(plugin_id, [{"config": {"mode": "work", "seconds": 2}} for _ in range(6)])
    wait_until(lambda: len(hub.jobs(plugin_id, "running")) == 3, timeout=5)

    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why.
    assert hub.stop(signal.SIGTERM, timeout=15) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in hub.log()
    assert "1012" in plugin.output() or "SERVICE_RESTART" in plugin.output()
    hub.start()
    wait_until(lambda: all(hub.job(j["id"])["status"] == "succeeded" for j in jobs), timeout=30)
    # The three that were running carried on in the plugin and kept their attempt.
    attempts = sorted(hub.job(j["id"])["attempts"] for j in jobs)
    assert attempts == [1] * 6, attempts
    assert plugin.running()
