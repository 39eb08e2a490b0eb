"""Register a plugin in the browser, start it with the secret the page showed, and watch the
light change without a reload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import create_plugin, screenshot
from tests.e2e.harness import HubProcess, PluginProcess
from tests.timing import PATIENCE


def test_a_plugin_goes_live_and_offline_without_a_reload(
    page: Any, hub: HubProcess, start_plugin: Callable[..., PluginProcess]
) -> None:
    plugin_id, secret = create_plugin(
        page,
        "Echo",
        "Custom",
        Description="<script>window.pwned = 1</script> echoes its config",
    )
    screenshot(page, "plugin-created")
    page.goto("/plugins")
    light = page.locator(f"[data-live-plugin='{plugin_id}']")
    expect(light).to_have_text("Offline")
    # The description's <script> is shown as text, never run.
    expect(page.get_by_text("<script>window.pwned = 1</script> echoes its config")).to_be_visible()
    assert page.evaluate("window.pwned") is None
    page.evaluate("window.notReloaded = true")

    plugin = start_plugin("echo", plugin_id, secret)
    expect(light).to_have_text("Live", timeout=PATIENCE * 1000)
    expect(light).to_have_class("light live")
    screenshot(page, "plugins")

    page.goto(f"/plugins/{plugin_id}")
    processes = page.locator(f"[data-live-processes='{plugin_id}'] tr")
    expect(processes).to_have_count(1)
    expect(processes.first).to_contain_text(f"pid {plugin.pid}")
    screenshot(page, "plugin-detail")
    page.evaluate("window.notReloaded = true")

    plugin.stop()  # kill -9: the socket drops, the hub notices at once
    expect(light).to_have_text("Offline", timeout=PATIENCE * 1000)  # this page's light too
    expect(processes).to_have_count(0)
    # The page followed both changes by itself (how fast: bench/dashboard.py).
    assert page.evaluate("window.notReloaded") is True

    # Rotating asks first: dismissed, nothing changes; accepted, a new secret is shown once.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_role("button", name="Rotate secret")).to_be_visible()
    assert page.locator("#plugin-secret").count() == 0
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Rotate secret").click()
    rotated = page.locator("#plugin-secret").inner_text().strip()
    assert rotated.startswith("phs_")
    assert rotated != secret
