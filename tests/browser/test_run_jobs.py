"""Run plugins from the browser and watch the jobs: a custom job's progress and logs, the
export example's file, the model example's boxes drawn on the task."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import create_plugin, create_project, screenshot, upload_images
from tests.e2e.harness import REPO_ROOT, HubProcess, PluginProcess

StartPlugin = Callable[..., PluginProcess]
PHOTO = REPO_ROOT / "tests" / "fixtures" / "astronaut.jpg"
PHOTO_SIZE = (512, 512)
JOB_URL = re.compile(r"/jobs/[0-9a-f]{24}$")


def go_live(page: Any, plugin_id: str) -> None:
    page.goto(f"/plugins/{plugin_id}")
    expect(page.locator(f"[data-live-plugin='{plugin_id}']")).to_have_text("Live", timeout=20_000)


def percent(page: Any) -> float:
    return float(page.locator("[data-job-percent]").inner_text().rstrip("%"))


def test_a_custom_job_shows_progress_and_logs_live(page: Any, start_plugin: StartPlugin) -> None:
    plugin_id, secret = create_plugin(page, "Worker", "Custom")
    start_plugin("behaviours", plugin_id, secret)
    go_live(page, plugin_id)
    page.get_by_role("link", name="Run", exact=True).click()
    page.get_by_label("Config (JSON object)").fill('{"mode": "work", "seconds": 3}')
    page.locator("[data-run-submit]").click()
    page.wait_for_url(JOB_URL)

    # Mid-run the bar has moved but is not full, and log lines are already on the page.
    page.wait_for_function(
        """() => {
            const p = parseFloat(document.querySelector('[data-job-percent]').textContent);
            const logs = document.querySelector('[data-job-logs]').childElementCount;
            return p > 0 && p < 100 && logs > 0;
        }""",
        timeout=20_000,
    )
    screenshot(page, "job-running")
    expect(page.locator("[data-job-status]")).to_have_text("succeeded", timeout=20_000)
    assert percent(page) == 100
    expect(page.locator("[data-job-logs]")).to_contain_text("step 29")
    expect(page.locator("[data-job-result]")).to_contain_text('"steps": 30')
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()


def test_cancel_and_retry_from_the_job_page(
    page: Any, hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = create_plugin(
        page, "Forever", "Custom", **{"Default config (JSON)": '{"mode": "forever"}'}
    )
    start_plugin("behaviours", plugin_id, secret)
    go_live(page, plugin_id)
    page.goto(f"/plugins/{plugin_id}/run")
    page.locator("[data-run-submit]").click()
    page.wait_for_url(JOB_URL)
    expect(page.locator("[data-job-status]")).to_have_text("running", timeout=20_000)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("[data-job-status]")).to_have_text("cancelled", timeout=10_000)
    expect(page.locator("[data-job-logs]")).to_contain_text("saw the cancel")
    page.get_by_role("button", name="Retry").click()
    expect(page.locator("[data-job-status]")).to_have_text("running", timeout=20_000)
    assert page.locator("[data-job-attempts]").inner_text() == "2"
    job_id = page.url.rsplit("/", 1)[1]

    # The jobs list follows the running job: cancelled elsewhere, its row changes in place.
    page.goto("/jobs")
    page.evaluate("window.notReloaded = true")
    row = page.locator(f"[data-job-row='{job_id}'] [data-row-status]")
    expect(row).to_have_text("running")
    assert hub.api("POST", f"/jobs/{job_id}/cancel").status_code == 202
    expect(row).to_have_text("cancelled", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True


def test_run_the_export_example_and_download_the_file(page: Any, start_plugin: StartPlugin) -> None:
    project_id = create_project(page, "Portraits", [("face", "bbox"), ("hair", "polygon")])
    upload_images(page, project_id, PHOTO)
    expect(page.locator("[data-task]")).to_have_count(1)
    plugin_id, secret = create_plugin(
        page, "COCO export", "Export", **{"Default config (JSON)": '{"format": "coco"}'}
    )
    start_plugin("examples/export/plugin.py", plugin_id, secret)
    go_live(page, plugin_id)

    page.goto(f"/projects/{project_id}")
    page.get_by_text("Run a plugin").click()
    page.get_by_role("link", name="COCO export").click()
    expect(page.get_by_label("Project", exact=True)).to_have_value(project_id)
    page.locator("[data-run-submit]").click()
    page.wait_for_url(JOB_URL)
    expect(page.locator("[data-job-status]")).to_have_text("succeeded", timeout=30_000)
    download_link = page.get_by_role("link", name="Download")
    expect(download_link).to_be_visible()
    screenshot(page, "job-export")
    with page.expect_download() as started:
        download_link.click()
    download = started.value
    coco = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert download.suggested_filename.endswith(".json")
    assert [c["name"] for c in coco["categories"]] == ["face", "hair"]
    assert len(coco["images"]) == 1
    assert coco["images"][0]["width"] == PHOTO_SIZE[0]


def test_run_the_model_example_on_a_task_and_see_its_boxes(
    page: Any, start_plugin: StartPlugin
) -> None:
    pytest.importorskip("cv2", reason="examples/model needs opencv-python-headless")
    project_id = create_project(page, "Astronauts", [("face", "bbox")])
    upload_images(page, project_id, PHOTO)
    plugin_id, secret = create_plugin(
        page, "Haar faces", "Model", **{"Class names (one per line; model plugins)": "face\neye"}
    )
    start_plugin("examples/model/plugin.py", plugin_id, secret)
    go_live(page, plugin_id)

    page.goto(f"/projects/{project_id}")
    screenshot(page, "project")
    page.locator("[data-task]").first.click()
    task_url = page.url
    expect(page.locator("svg [data-shape]")).to_have_count(0)
    page.get_by_role("link", name="Haar faces").click()
    # The model's classes map onto the project's categories by name.
    expect(page.get_by_label("face", exact=True)).to_have_value(re.compile(r"[0-9a-f]+"))
    screenshot(page, "run-model")
    page.locator("[data-run-submit]").click()
    page.wait_for_url(JOB_URL)
    expect(page.locator("[data-job-status]")).to_have_text("succeeded", timeout=60_000)

    page.goto(task_url)
    boxes = page.locator("svg [data-shape='bbox'][data-source='plugin'][data-category='face']")
    expect(boxes.first).to_be_visible()
    assert boxes.count() >= 1
    box = boxes.first.bounding_box()
    image = page.locator("[data-overlay-image]").bounding_box()
    assert box is not None
    assert image is not None
    # Drawn over the face: inside the picture, in its upper middle.
    centre_x = (box["x"] + box["width"] / 2 - image["x"]) / image["width"]
    centre_y = (box["y"] + box["height"] / 2 - image["y"]) / image["height"]
    assert 0.25 < centre_x < 0.65, centre_x
    assert 0.05 < centre_y < 0.4, centre_y
    screenshot(page, "task")
