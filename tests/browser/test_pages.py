"""Every main page opens at desktop and phone size (screenshots for the docs), and a person
from another organization sees none of it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, screenshot, sign_in
from tests.e2e.harness import HubProcess


def test_the_main_pages_fit_desktop_and_phone(page: Any, hub: HubProcess) -> None:
    plugin_id, _ = hub.create_plugin("Directory entry", "custom", listed=True, public=True)
    project = hub.api("POST", "/projects", json={"name": "Roads"}).json()
    hub.submit(plugin_id, [{"config": {"n": 1}}])
    pages = {
        "directory": "/directory",
        "jobs": "/jobs",
        "members": "/settings/members",
        "api-keys": "/settings/api-keys",
        "projects": "/projects",
        "new-plugin": "/plugins/new",
        "new-project": "/projects/new",
        "run-custom": f"/plugins/{plugin_id}/run?project_id={project['id']}",
    }
    for name, path in pages.items():
        response = page.goto(path)
        assert response.status == 200, (path, response.status)
        expect(page.locator("main h1").first).to_be_visible()
        screenshot(page, name)
    expect(page.goto("/directory") and page.get_by_text("Directory entry")).to_be_visible()


def test_another_organization_sees_nothing(browser: Any, page: Any, hub: HubProcess) -> None:
    """`page` signs acme's owner in first: both organizations have a session at once."""
    plugin_id, _ = hub.create_plugin("Acme private", "custom")
    project = hub.api("POST", "/projects", json={"name": "Acme roads"}).json()
    (job,) = hub.submit(plugin_id, [{"config": {}}])
    hub.cli(
        "admin",
        "create",
        "--email",
        "eve@globex.test",
        "--password",
        "pw-12345678",
        "--org",
        "globex",
    )

    context = browser.new_context(viewport=DESKTOP, base_url=hub.url)
    eve = context.new_page()
    eve.goto("/signin")
    screenshot(eve, "signin")
    sign_in(eve, "eve@globex.test", "pw-12345678")
    for path in ("/plugins", "/projects", "/jobs", "/directory", "/settings/members"):
        eve.goto(path)
        body = eve.locator("main").inner_text()
        for secret in ("Acme private", "Acme roads", job["id"][-8:], "owner@acme.test"):
            assert secret not in body, (path, secret)
    for path in (
        f"/plugins/{plugin_id}",
        f"/projects/{project['id']}",
        f"/jobs/{job['id']}",
        f"/plugins/{plugin_id}/run",
    ):
        assert eve.goto(path).status == 404, path
    context.close()
