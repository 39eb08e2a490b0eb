"""Browser tests: Debian's Chromium, driven by Playwright, against a real `plugin-hub serve`
and real plugin processes.

Playwright's own browser download is never used: the tests launch /usr/bin/chromium (or
$CHROMIUM), which `scripts/check` installs from Debian when it is missing. Without it the
tests skip with the reason, except in CI (CI=true), where a missing browser is a failure.

Screenshots go to a scratch directory, so running the suite never changes tracked files;
`UPDATE_SCREENSHOTS=1` writes them into docs/screenshots instead, to refresh the docs.
Every test here is marked `e2e` and `browser` (tests/conftest.py).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import start_plugin  # noqa: F401 (fixture; takes this folder's hub)
from tests.e2e.harness import REPO_ROOT, HubProcess
from tests.timing import PATIENCE

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = (
    REPO_ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "plugin-hub-screenshots"
)
EMAIL, PASSWORD = "owner@acme.test", "pw-12345678"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Headless in a container: no sandbox (we run as root), no GPU, nothing phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
]


def _chromium_or_skip() -> str:
    if os.path.exists(CHROMIUM) or shutil.which(CHROMIUM):
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (scripts/check does)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module. Not per session: Playwright's sync API holds an event
    loop in this thread while it runs, and the async tests that follow need the thread's
    loop to themselves."""
    executable = _chromium_or_skip()
    from playwright.sync_api import expect, sync_playwright

    # expect() gives up after 5 s by default: a failure bound too tight for a loaded machine.
    expect.set_options(timeout=PATIENCE * 1000)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def hub(tmp_path: Path, database_url: str) -> Iterator[HubProcess]:
    process = HubProcess(tmp_path / "hub", database_url=database_url)
    process.data_dir.mkdir(parents=True)
    process.create_admin(email=EMAIL)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def page(browser: Any, hub: HubProcess) -> Iterator[Any]:
    """A fresh browser tab at desktop size, signed in through the sign-in form."""
    context = browser.new_context(viewport=DESKTOP, base_url=hub.url, accept_downloads=True)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    # Console errors include Content-Security-Policy refusals: an inline script or handler
    # that slipped into a template shows up here.
    tab.on("console", lambda msg: _collect(msg, hub.url, errors))
    sign_in(tab)
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _collect(message: Any, own_url: str, errors: list[str]) -> None:
    """Console errors, but not images of other hosts failing to load (test assets point at
    made-up hosts such as bucket.example)."""
    if message.type != "error":
        return
    source = (message.location or {}).get("url", "")
    if message.text.startswith("Failed to load resource") and not source.startswith(own_url):
        return
    errors.append(f"{message.text} ({source})")


def sign_in(tab: Any, email: str = EMAIL, password: str = PASSWORD) -> None:
    tab.goto("/signin")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(lambda url: "/signin" not in url)


def screenshot(tab: Any, name: str) -> None:
    """The page at desktop and at phone size, into SCREENSHOTS; at phone size nothing may
    stick out sideways (the page would need horizontal scrolling to use)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.set_viewport_size(DESKTOP)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
    tab.set_viewport_size(PHONE)
    overflow = tab.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{name} is {overflow}px wider than a 390px phone screen"
    tab.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    tab.set_viewport_size(DESKTOP)


def create_plugin(page: Any, name: str, type_label: str, **fields: str) -> tuple[str, str]:
    """Fill the new-plugin form; returns the ID and the secret the page shows once."""
    page.goto("/plugins/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Type", exact=True).select_option(label=type_label)
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Create plugin").click()
    plugin_id = page.locator("#plugin-id").inner_text().strip()
    secret = page.locator("#plugin-secret").inner_text().strip()
    assert len(plugin_id) == 24
    assert secret.startswith("phs_")
    return plugin_id, secret


def create_project(page: Any, name: str, categories: list[tuple[str, str]]) -> str:
    """Create a project through its form; returns its id."""
    page.goto("/projects/new")
    page.get_by_label("Name", exact=True).fill(name)
    for index, (category, tool) in enumerate(categories):
        if index:
            page.get_by_role("button", name="Add a category").click()
        page.locator("input[name=category_name]").nth(index).fill(category)
        page.locator("select[name=category_tool]").nth(index).select_option(tool)
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(r"/projects/[0-9a-f]{24}"))
    project_id: str = page.url.split("/projects/")[1][:24]
    return project_id


def upload_images(page: Any, project_id: str, *paths: Path) -> None:
    page.goto(f"/projects/{project_id}/assets/new")
    page.locator("#file").set_input_files([str(p) for p in paths])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(rf"/projects/{project_id}(\?|$)"))
