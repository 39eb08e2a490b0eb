"""The run forms' live parts in a real browser: the markdown preview of a CSV's first row,
and the file explorer's folder browser (navigate, page, pick, import)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import create_plugin, create_project, screenshot
from tests.e2e.harness import REPO_ROOT, PluginProcess

StartPlugin = Callable[..., PluginProcess]
JOB_URL = re.compile(r"/jobs/[0-9a-f]{24}$")
SAMPLE = REPO_ROOT / "examples" / "markdown"


def wait_live(page: Any, plugin_id: str) -> None:
    expect(page.locator(f"[data-live-plugin='{plugin_id}']")).to_have_text("Live", timeout=20_000)


def test_markdown_preview_then_run_the_example(page: Any, start_plugin: StartPlugin) -> None:
    project_id = create_project(page, "Catalogue", [("Accurate", "classification")])
    plugin_id, secret = create_plugin(page, "Product cards", "Markdown")
    start_plugin("examples/markdown/plugin.py", plugin_id, secret)
    page.goto(f"/plugins/{plugin_id}/run?project_id={project_id}")
    wait_live(page, plugin_id)

    page.get_by_label("CSV file").set_input_files(str(SAMPLE / "sample.csv"))
    expect(page.locator("[data-csv-status]")).to_contain_text("Using sample.csv")
    page.locator("#template").fill("# {{ name }}\n\n<script>window.pwned=1</script> {{ price }}")
    preview = page.locator("[data-preview]")
    # The first row, filled in and rendered; the <script> shows as text and never runs.
    expect(preview.locator("h1")).to_have_text("Quiet Mechanical Keyboard")
    expect(preview).to_contain_text("<script>window.pwned=1</script> 89.00")
    assert page.evaluate("window.pwned") is None
    page.locator("#template").fill((SAMPLE / "sample_template.md").read_text())
    expect(preview).to_contain_text("KB-101")
    screenshot(page, "run-markdown")

    page.locator("[data-run-submit]").click()
    page.wait_for_url(JOB_URL)
    expect(page.locator("[data-job-status]")).to_have_text("succeeded", timeout=30_000)
    page.goto(f"/projects/{project_id}")
    expect(page.locator("[data-task]")).to_have_count(8)  # one per CSV row


def test_browse_a_folder_pick_files_and_import(page: Any, start_plugin: StartPlugin) -> None:
    project_id = create_project(page, "Bucket", [("car", "bbox")])
    plugin_id, secret = create_plugin(page, "Fake bucket", "File explorer")
    start_plugin("fake_explorer", plugin_id, secret)
    page.goto(f"/plugins/{plugin_id}")
    wait_live(page, plugin_id)
    page.goto(f"/plugins/{plugin_id}/run?project_id={project_id}")

    entries = page.locator("[data-explore-entries]")
    expect(entries.get_by_role("button", name="a/")).to_be_visible(timeout=20_000)
    expect(entries.get_by_role("button", name="b/")).to_be_visible()
    entries.get_by_role("button", name="a/").click()
    expect(page.locator("[data-explore-path]")).to_contain_text("a")
    expect(entries.get_by_role("button", name="deep/")).to_be_visible(timeout=20_000)
    expect(entries).to_contain_text("img000.png")
    # a/ holds a folder and 90 files: two pages of 50.
    expect(entries).not_to_contain_text("img050.png")
    page.get_by_role("button", name="Next page").click()
    expect(entries).to_contain_text("img089.png", timeout=20_000)
    expect(page.get_by_role("button", name="Next page")).to_be_hidden()
    expect(entries.get_by_role("button", name="deep/")).to_be_hidden()
    page.get_by_role("button", name="First page").click()
    expect(entries.get_by_role("button", name="deep/")).to_be_visible(timeout=20_000)
    entries.get_by_role("button", name="deep/").click()
    expect(entries).to_contain_text("img029.png", timeout=20_000)
    page.get_by_role("button", name="Up").click()
    expect(entries.get_by_role("button", name="deep/")).to_be_visible(timeout=20_000)

    boxes = entries.locator("input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    expect(page.locator("[data-explore-selected]")).to_have_text("2 files picked")
    screenshot(page, "run-file-explorer")
    page.get_by_role("button", name="Import 2 picked files").click()
    page.wait_for_url(JOB_URL)
    expect(page.locator("[data-job-status]")).to_have_text("succeeded", timeout=30_000)
    page.goto(f"/projects/{project_id}")
    expect(page.locator("[data-task]")).to_have_count(2)
