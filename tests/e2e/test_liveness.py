"""Issue 2's acceptance, end to end: a real hub process and real plugin processes."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from tests.e2e.harness import HubProcess, PluginProcess, wait_until

StartPlugin = Callable[..., PluginProcess]
HEARTBEAT = 0.5  # the harness's HUB_HEARTBEAT_INTERVAL


def live_plugin(
    hub: HubProcess, start_plugin: StartPlugin, **env: object
) -> tuple[str, PluginProcess]:
    """A registered plugin with one process connected and live."""
    plugin_id, secret = hub.create_plugin()
    plugin = start_plugin("echo", plugin_id, secret, **env)
    wait_until(lambda: hub.is_live(plugin_id), timeout=5)
    return plugin_id, plugin


def test_plugin_is_live_within_a_second_of_starting(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    assert not hub.is_live(plugin_id)
    plugin = start_plugin("echo", plugin_id, secret)
    waited = wait_until(lambda: hub.is_live(plugin_id), timeout=1.0)
    connection = hub.plugin(plugin_id)["connections"][0]
    assert connection["pid"] == plugin.pid
    assert connection["capacity"] == 4
    assert waited < 1.0


def test_kill_9_makes_the_plugin_dead_within_two_seconds(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, plugin = live_plugin(hub, start_plugin)
    plugin.signal(signal.SIGKILL)
    assert wait_until(lambda: not hub.is_live(plugin_id), timeout=2.0) < 2.0


def test_frozen_plugin_is_dead_within_three_heartbeat_intervals(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, plugin = live_plugin(hub, start_plugin)
    plugin.signal(signal.SIGSTOP)
    try:
        waited = wait_until(lambda: not hub.is_live(plugin_id), timeout=3 * HEARTBEAT)
    finally:
        plugin.signal(signal.SIGCONT)
    assert waited <= 3 * HEARTBEAT
    # Thawed, it notices the closed socket and comes back by itself.
    wait_until(lambda: hub.is_live(plugin_id), timeout=10)


def test_two_processes_with_one_id_are_both_live(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    first = start_plugin("echo", plugin_id, secret)
    second = start_plugin("echo", plugin_id, secret)
    wait_until(lambda: len(hub.plugin(plugin_id)["connections"]) == 2, timeout=5)
    assert {c["pid"] for c in hub.plugin(plugin_id)["connections"]} == {first.pid, second.pid}
    first.signal(signal.SIGKILL)
    wait_until(lambda: len(hub.plugin(plugin_id)["connections"]) == 1, timeout=2)
    assert hub.plugin(plugin_id)["live"] is True


def test_plugin_comes_back_after_the_hub_restarts(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    max_delay = 1.0
    plugin_id, plugin = live_plugin(hub, start_plugin, PLUGIN_RECONNECT_MAX_DELAY=max_delay)
    assert hub.stop(signal.SIGKILL) != 0
    time.sleep(1.0)  # the plugin is retrying against a closed port meanwhile
    hub.start()
    healthy_at = time.monotonic()
    # Once the hub listens again, the next retry comes within one capped delay.
    wait_until(lambda: hub.is_live(plugin_id), timeout=max_delay + 1.0)
    assert time.monotonic() - healthy_at <= max_delay + 1.0
    assert plugin.running()


def test_wrong_secret_is_refused_and_the_plugin_exits_nonzero(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, _ = hub.create_plugin()
    plugin = start_plugin("echo", plugin_id, "phs_wrong")
    assert plugin.wait(timeout=10) != 0
    output = plugin.output()
    assert "refused plugin" in output
    assert "HTTP 401" in output
    assert "phs_wrong" not in hub.log()


def test_rotating_the_secret_disconnects_the_old_session(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, plugin = live_plugin(hub, start_plugin)
    rotated = hub.api("POST", f"/plugins/{plugin_id}/secret")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("phs_")
    wait_until(lambda: not hub.is_live(plugin_id), timeout=2)
    assert plugin.wait(timeout=10) != 0
    assert "CREDENTIALS_REVOKED" in plugin.output()
    # The new secret works.
    start_plugin("echo", plugin_id, new_secret)
    wait_until(lambda: hub.is_live(plugin_id), timeout=5)


def test_sigterm_stops_the_plugin_cleanly(hub: HubProcess, start_plugin: StartPlugin) -> None:
    plugin_id, plugin = live_plugin(hub, start_plugin)
    plugin.signal(signal.SIGTERM)
    assert plugin.wait(timeout=10) == 0
    wait_until(lambda: not hub.is_live(plugin_id), timeout=2)


def test_another_organization_cannot_touch_the_plugin(hub: HubProcess) -> None:
    plugin_id, _ = hub.create_plugin(name="private")
    other_key = hub.cli(
        "admin",
        "create",
        "--email",
        "eve@globex.test",
        "--password",
        "pw-12345678",
        "--org",
        "globex",
    )["api_key"]
    assert hub.api("GET", f"/plugins/{plugin_id}", key=other_key).status_code == 404
    assert (
        hub.api("PATCH", f"/plugins/{plugin_id}", key=other_key, json={"name": "x"}).status_code
        == 404
    )
    assert hub.api("DELETE", f"/plugins/{plugin_id}", key=other_key).status_code == 404
    assert hub.api("POST", f"/plugins/{plugin_id}/secret", key=other_key).status_code == 404
    assert hub.api("GET", "/plugins", key=other_key).json()["items"] == []
    assert hub.plugin(plugin_id)["name"] == "private"
