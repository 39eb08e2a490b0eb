"""Issue 4's acceptance, end to end: real hub, real example plugins, local and S3 storage."""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import HubProcess, MotoServer, PluginProcess, wait_until

StartPlugin = Callable[..., PluginProcess]
EXPORT_PLUGIN = "examples/export/plugin.py"
MARKDOWN_PLUGIN = "examples/markdown/plugin.py"


def make_project_with_boxes(hub: HubProcess, count: int = 50) -> tuple[str, dict[str, list]]:
    """A project with 2 bbox categories and `count` image tasks with boxes; returns the
    project id and, per image's external id, its boxes as (category name, x, y, w, h)."""
    created = hub.api(
        "POST",
        "/projects",
        json={
            "name": "pets",
            "categories": [{"name": "cat", "tool": "bbox"}, {"name": "dog", "tool": "bbox"}],
        },
    )
    assert created.status_code == 201, created.text
    project = created.json()
    category_ids = {c["name"]: c["id"] for c in project["categories"]}
    assets = [
        {
            "url": f"https://images.example/{n}.jpg",
            "external_id": f"img_{n:03}.jpg",
            "width": 640,
            "height": 480,
            "batch": "first" if n < 25 else "second",
        }
        for n in range(count)
    ]
    response = hub.api("POST", f"/projects/{project['id']}/assets", json={"assets": assets})
    assert response.status_code in (200, 201), response.text
    rng = random.Random(7)
    expected: dict[str, list] = {}
    for task in iter_tasks(hub, project["id"]):
        boxes = []
        for _ in range(rng.randint(0, 4)):
            name = rng.choice(["cat", "dog"])
            x, y = round(rng.uniform(0, 500), 3), round(rng.uniform(0, 350), 3)
            w, h = round(rng.uniform(1, 140), 3), round(rng.uniform(1, 130), 3)
            boxes.append((name, x, y, w, h))
        objects = [
            {"category_id": category_ids[name], "bbox": {"x": x, "y": y, "w": w, "h": h}}
            for name, x, y, w, h in boxes
        ]
        put = hub.api("PUT", f"/tasks/{task['id']}/annotations", json={"objects": objects})
        assert put.status_code == 200, put.text
        expected[task["asset"]["external_id"]] = boxes
    assert len(expected) == count
    return project["id"], expected


def iter_tasks(hub: HubProcess, project_id: str) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"limit": 200}
    while True:
        page = hub.api("GET", f"/projects/{project_id}/tasks", params=params).json()
        yield from page["items"]
        if not page["next"]:
            return
        params["cursor"] = page["next"]


def run_job(hub: HubProcess, plugin_id: str, body: dict[str, Any], timeout: float = 60) -> dict:
    submitted = hub.api("POST", f"/plugins/{plugin_id}/jobs", json=body)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    wait_until(lambda: hub.job(job_id)["status"] in {"succeeded", "failed", "cancelled"}, timeout)
    return hub.job(job_id)


def download(hub: HubProcess, job_id: str) -> bytes:
    response = httpx.get(
        f"{hub.url}/api/v1/jobs/{job_id}/artifact",
        headers={"Authorization": f"Bearer {hub.api_key}"},
        follow_redirects=True,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.content


def check_coco(data: bytes, expected: dict[str, list]) -> None:
    coco = json.loads(data)
    assert len(coco["images"]) == 50
    names = {c["id"]: c["name"] for c in coco["categories"]}
    assert sorted(names.values()) == ["cat", "dog"]
    by_image: dict[int, list] = {image["id"]: [] for image in coco["images"]}
    for annotation in coco["annotations"]:
        x, y, w, h = annotation["bbox"]
        by_image[annotation["image_id"]].append((names[annotation["category_id"]], x, y, w, h))
    for image in coco["images"]:
        assert sorted(by_image[image["id"]]) == sorted(expected[image["file_name"]])


def check_yolo(data: bytes, expected: dict[str, list]) -> None:
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = archive.read("data.yaml").decode()
    assert "cat" in names
    assert "dog" in names
    labels = [n for n in archive.namelist() if n.startswith("labels/") and n.endswith(".txt")]
    assert len(labels) == 50
    classes = ["cat", "dog"]
    for label in labels:
        stem = Path(label).stem
        boxes = []
        for line in archive.read(label).decode().splitlines():
            index, cx, cy, w, h = line.split()
            w_px, h_px = float(w) * 640, float(h) * 480
            boxes.append(
                (
                    classes[int(index)],
                    float(cx) * 640 - w_px / 2,
                    float(cy) * 480 - h_px / 2,
                    w_px,
                    h_px,
                )
            )
        want = sorted(expected[f"{stem}.jpg"])
        got = sorted(boxes)
        assert [b[0] for b in got] == [b[0] for b in want]
        for got_box, want_box in zip(got, want, strict=True):
            assert all(abs(a - b) <= 1e-6 for a, b in zip(got_box[1:], want_box[1:], strict=True))


def test_export_coco_and_yolo_through_the_example(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    project_id, expected = make_project_with_boxes(hub)
    plugin_id, secret = hub.create_plugin("exporter", "export")
    start_plugin(EXPORT_PLUGIN, plugin_id, secret)
    coco_job = run_job(hub, plugin_id, {"project_id": project_id, "config": {"format": "coco"}})
    assert coco_job["status"] == "succeeded", coco_job["error"]
    check_coco(download(hub, coco_job["id"]), expected)
    yolo_job = run_job(hub, plugin_id, {"project_id": project_id, "config": {"format": "yolo"}})
    assert yolo_job["status"] == "succeeded", yolo_job["error"]
    check_yolo(download(hub, yolo_job["id"]), expected)


@pytest.fixture
def s3_hub(tmp_path: Path, database_url: str) -> Iterator[tuple[HubProcess, MotoServer]]:
    pytest.importorskip("moto", reason="moto is needed for the S3 storage tests")
    moto = MotoServer().start()
    moto.create_bucket("hub-blobs")
    hub = HubProcess(
        tmp_path / "s3hub",
        database_url=database_url,
        env={**moto.env, "HUB_STORAGE_URL": "s3://hub-blobs/prefix"},
    )
    hub.data_dir.mkdir(parents=True)
    hub.create_admin()
    hub.start()
    yield hub, moto
    hub.stop()
    moto.stop()


def test_export_with_s3_storage(s3_hub: tuple[HubProcess, MotoServer], tmp_path: Path) -> None:
    hub, moto = s3_hub
    project_id, expected = make_project_with_boxes(hub)
    plugin_id, secret = hub.create_plugin("exporter", "export")
    plugin = PluginProcess(EXPORT_PLUGIN, hub=hub, plugin_id=plugin_id, secret=secret).start()
    try:
        job = run_job(hub, plugin_id, {"project_id": project_id, "config": {"format": "coco"}})
        assert job["status"] == "succeeded", job["error"]
        # The plugin uploaded straight to the bucket; the hub redirects the download there.
        redirect = httpx.get(
            f"{hub.url}/api/v1/jobs/{job['id']}/artifact",
            headers={"Authorization": f"Bearer {hub.api_key}"},
        )
        assert redirect.status_code == 307
        assert redirect.headers["location"].startswith(moto.url)
        check_coco(download(hub, job["id"]), expected)
    finally:
        plugin.stop()


def make_csv(rows: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sku", "title", "team", "body"])
    for n in range(rows):
        body = "<script>alert(1)</script>" if n == 7 else f"line one\nline *two* {n}"
        writer.writerow([f"SKU-{n:05}", f"Product {n}", f"team-{n % 3}", body])
    return out.getvalue()


def test_markdown_csv_to_assets_with_batches_and_dedupe(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    project = hub.api("POST", "/projects", json={"name": "cards", "categories": []}).json()
    uploaded = httpx.post(
        f"{hub.url}/api/v1/files",
        params={"filename": "products.csv"},
        content=make_csv(1000).encode(),
        headers={"Authorization": f"Bearer {hub.api_key}", "Content-Type": "text/csv"},
    )
    assert uploaded.status_code == 201, uploaded.text
    plugin_id, secret = hub.create_plugin("cards", "markdown")
    start_plugin(MARKDOWN_PLUGIN, plugin_id, secret)
    body = {
        "project_id": project["id"],
        "input": {
            "template": "# {{title}}\n\n{{ body }}\n\nSKU: {{sku}}",
            "csv_file_id": uploaded.json()["id"],
        },
        "config": {"batch_column": "team", "id_columns": ["sku"], "dedupe": True},
    }
    first = run_job(hub, plugin_id, body, timeout=120)
    assert first["status"] == "succeeded", first["error"]
    assert first["result"]["created"] == 1000
    tasks = list(iter_tasks(hub, project["id"]))
    assert len(tasks) == 1000
    by_id = {t["asset"]["external_id"]: t for t in tasks}
    card = hub.api("GET", f"/tasks/{by_id['SKU-00042']['id']}").json()
    assert card["asset"]["markdown"] == "# Product 42\n\nline one\nline *two* 42\n\nSKU: SKU-00042"
    assert card["batches"] == ["team-0"]
    assert sorted(hub.api("GET", f"/projects/{project['id']}").json()["batches"]) == [
        "team-0",
        "team-1",
        "team-2",
    ]
    # A <script> is stored as text, exactly, and rendered as text.
    scripted = hub.api("GET", f"/tasks/{by_id['SKU-00007']['id']}").json()
    assert "<script>alert(1)</script>" in scripted["asset"]["markdown"]
    assert "<script>" not in scripted["asset"]["html"]
    assert "&lt;script&gt;" in scripted["asset"]["html"]
    second = run_job(hub, plugin_id, body, timeout=120)
    assert second["status"] == "succeeded", second["error"]
    assert second["result"] == {**second["result"], "created": 0, "skipped": 1000}
    assert len(list(iter_tasks(hub, project["id"]))) == 1000


def test_bad_inputs_say_what_is_wrong(hub: HubProcess, start_plugin: StartPlugin) -> None:
    project = hub.api(
        "POST", "/projects", json={"name": "p", "categories": [{"name": "cat", "tool": "bbox"}]}
    ).json()
    plugin_id, secret = hub.create_plugin("cards", "markdown")
    start_plugin(MARKDOWN_PLUGIN, plugin_id, secret)
    # Not CSV at all: refused at submit.
    refused = hub.api(
        "POST",
        f"/plugins/{plugin_id}/jobs",
        json={"project_id": project["id"], "input": {"template": "{{a}}", "csv_text": "\n\n"}},
    )
    assert refused.status_code == 422
    assert "header" in refused.json()["error"]["message"]
    # A template naming a missing column: the job fails, naming it.
    missing = run_job(
        hub,
        plugin_id,
        {"project_id": project["id"], "input": {"template": "{{nope}}", "csv_text": "a,b\n1,2\n"}},
    )
    assert missing["status"] == "failed"
    assert "nope" in missing["error"]["message"]
    # A config of the wrong type: the job fails, naming the field.
    wrong = run_job(
        hub,
        plugin_id,
        {
            "project_id": project["id"],
            "input": {"template": "{{a}}", "csv_text": "a\n1\n"},
            "config": {"dedupe": "yes"},
        },
    )
    assert wrong["status"] == "failed"
    assert "dedupe" in wrong["error"]["message"]
    # An annotation naming a category the project does not have: a 422 naming it.
    asset = {"url": "https://images.example/x.jpg", "width": 10, "height": 10}
    hub.api("POST", f"/projects/{project['id']}/assets", json={"assets": [asset]})
    (task,) = list(iter_tasks(hub, project["id"]))
    bad = hub.api(
        "PUT",
        f"/tasks/{task['id']}/annotations",
        json={
            "objects": [
                {"category_id": "no-such-category", "bbox": {"x": 1, "y": 1, "w": 2, "h": 2}}
            ]
        },
    )
    assert bad.status_code == 422
    assert "no-such-category" in bad.json()["error"]["message"]
