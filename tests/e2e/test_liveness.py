"""Issue 2's acceptance, end to end: a real hub process and real plugin processes.

These tests show that each change is noticed; how fast is measured by bench/liveness.py.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from tests.e2e.harness import HubProcess, PluginProcess, wait_until
from tests.timing import PATIENCE

StartPlugin = Callable[..., PluginProcess]


def live_plugin(
    hub: HubProcess, start_plugin: StartPlugin, **env: object
) -> tuple[str, PluginProcess]:
    """A registered plugin with one process connected and live."""
    plugin_id, secret = hub.create_plugin()
    plugin = start_plugin("echo", plugin_id, secret, **env)
    wait_until(lambda: hub.is_live(plugin_id), timeout=PATIENCE)
    return plugin_id, plugin


def test_plugin_goes_live_once_started(hub: HubProcess, start_plugin: StartPlugin) -> None:
    plugin_id, secret = hub.create_plugin()
    assert not hub.is_live(plugin_id)
    plugin = start_plugin("echo", plugin_id, secret)
    wait_until(lambda: hub.is_live(plugin_id), timeout=PATIENCE)
    connection = hub.plugin(plugin_id)["connections"][0]
    assert connection["pid"] == plugin.pid
    assert connection["capacity"] == 4


def test_kill_9_makes_the_plugin_dead(hub: HubProcess, start_plugin: StartPlugin) -> None:
    plugin_id, plugin = live_plugin(hub, start_plugin)
    plugin.signal(signal.SIGKILL)
    wait_until(lambda: not hub.is_live(plugin_id), timeout=PATIENCE)


def test_frozen_plugin_is_dead_once_its_heartbeats_stop(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, plugin = live_plugin(hub, start_plugin)
    plugin.signal(signal.SIGSTOP)  # its socket stays open: only the missing heartbeats tell
    try:
        wait_until(lambda: not hub.is_live(plugin_id), timeout=PATIENCE)
        closed = hub.plugin(plugin_id)
    finally:
        plugin.signal(signal.SIGCONT)
    assert closed["connections"] == []
    # Thawed, it notices the closed socket and comes back by itself.
    wait_until(lambda: hub.is_live(plugin_id), timeout=PATIENCE)


def test_two_processes_with_one_id_are_both_live(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    first = start_plugin("echo", plugin_id, secret)
    second = start_plugin("echo", plugin_id, secret)
    wait_until(lambda: len(hub.plugin(plugin_id)["connections"]) == 2, timeout=PATIENCE)
    assert {c["pid"] for c in hub.plugin(plugin_id)["connections"]} == {first.pid, second.pid}
    first.signal(signal.SIGKILL)
    wait_until(lambda: len(hub.plugin(plugin_id)["connections"]) == 1, timeout=PATIENCE)
    assert hub.plugin(plugin_id)["live"] is True


def test_plugin_comes_back_after_the_hub_restarts(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, plugin = live_plugin(hub, start_plugin, PLUGIN_RECONNECT_MAX_DELAY=1)
    assert hub.stop(signal.SIGKILL) != 0
    time.sleep(1.0)  # the plugin is retrying against a closed port meanwhile
    hub.start()
    wait_until(lambda: hub.is_live(plugin_id), timeout=PATIENCE)
    assert plugin.running()


def test_wrong_secret_is_refused_and_the_plugin_exits_nonzero(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, _ = hub.create_plugin()
    plugin = start_plugin("echo", plugin_id, "phs_wrong")
    assert plugin.wait(timeout=PATIENCE) != 0
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
    wait_until(lambda: not hub.is_live(plugin_id), timeout=PATIENCE)
    assert plugin.wait(timeout=PATIENCE) != 0
    assert "CREDENTIALS_REVOKED" in plugin.output()
    # The new secret works.
    start_plugin("echo", plugin_id, new_secret)
    wait_until(lambda: hub.is_live(plugin_id), timeout=PATIENCE)


def test_sigterm_stops_the_plugin_cleanly(hub: HubProcess, start_plugin: StartPlugin) -> None:
    plugin_id, plugin = live_plugin(hub, start_plugin)
    plugin.signal(signal.SIGTERM)
    assert plugin.wait(timeout=PATIENCE) == 0
    wait_until(lambda: not hub.is_live(plugin_id), timeout=PATIENCE)


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
