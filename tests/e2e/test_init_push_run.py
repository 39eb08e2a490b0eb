"""From `plugin-hub init` to a finished job, for every plugin type, with real processes:
init into a temp dir, run the generated test, push, start the generated plugin.py, run a job
through the REST API; then push again with a new version and default config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from ango_plugins_sdk.protocol import JobType
from tests.e2e.harness import HubProcess, PluginProcess, wait_until
from tests.e2e.test_export_markdown import download, iter_tasks, run_job
from tests.sdk.test_cli_without_hub import RUN as WITHOUT_HUB_DEPENDENCIES
from tests.timing import PATIENCE

SAMPLE = Path(__file__).resolve().parents[2] / "ango_plugins_sdk/templates/model/sample.png"


def plugin_hub(
    hub: HubProcess, *args: str, cwd: Path, sdk_only: bool = False
) -> subprocess.CompletedProcess[str]:
    """The `plugin-hub` command; `sdk_only`: in an interpreter without the hub's
    dependencies, as an SDK-only install has it."""
    command = ["-c", WITHOUT_HUB_DEPENDENCIES] if sdk_only else ["-m", "hub.cli"]
    return subprocess.run(
        [sys.executable, *command, *args],
        env={**hub.env, "HUB_API_KEY": hub.api_key},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def image_project(hub: HubProcess) -> tuple[str, str, list[str]]:
    """A project with a box category and two uploaded images: (project, category, tasks)."""
    created = hub.api(
        "POST",
        "/projects",
        json={"name": "init", "categories": [{"name": "thing", "tool": "bbox"}]},
    ).json()
    for name in ("a.png", "b.png"):
        uploaded = httpx.post(
            f"{hub.url}/api/v1/projects/{created['id']}/assets",
            headers={"Authorization": f"Bearer {hub.api_key}"},
            files={"file": (name, SAMPLE.read_bytes(), "image/png")},
            timeout=10,
        )
        assert uploaded.status_code == 201, uploaded.text
    tasks = [task["id"] for task in iter_tasks(hub, created["id"])]
    return created["id"], created["categories"][0]["id"], tasks


def job_for(job_type: JobType, hub: HubProcess, folder: Path) -> dict[str, Any]:
    """A job request the generated plugin of that type can serve."""
    if job_type is JobType.CUSTOM:
        return {"input": {"name": "Ada"}}
    if job_type is JobType.MARKDOWN:
        project = hub.api("POST", "/projects", json={"name": "md", "categories": []}).json()
        csv = "sku,title\nA1,Lamp\nB2,Chair\n"
        return {"project_id": project["id"], "input": {"template": "# {{title}}", "csv_text": csv}}
    if job_type is JobType.FILE_EXPLORER:
        root = folder / "images"
        (root / "june").mkdir(parents=True)
        (root / "june" / "a.png").write_bytes(SAMPLE.read_bytes())
        project = hub.api("POST", "/projects", json={"name": "fe", "categories": []}).json()
        return {
            "project_id": project["id"],
            "operation": "import",
            "config": {"root": str(root)},
            "input": {"folder": "", "recursive": True},
        }
    project_id, category_id, tasks = image_project(hub)
    if job_type is JobType.EXPORT:
        box = {"category_id": category_id, "bbox": {"x": 1, "y": 2, "w": 3, "h": 4}}
        hub.api("PUT", f"/tasks/{tasks[0]}/annotations", json={"objects": [box]})
        return {"project_id": project_id}
    mapping = {"object": category_id}
    if job_type is JobType.MODEL:
        return {"input": {"task_id": tasks[0], "class_mapping": mapping}}
    return {"project_id": project_id, "input": {"class_mapping": mapping, "task_ids": tasks}}


def check_outcome(job_type: JobType, hub: HubProcess, job: dict[str, Any]) -> None:
    assert job["status"] == "succeeded", job["error"]
    result = job["result"]
    if job_type is JobType.CUSTOM:
        assert result == {"message": "Hello, Ada!"}
    elif job_type is JobType.EXPORT:
        rows = download(hub, job["id"]).decode().splitlines()
        assert rows[0].startswith("task_id,")
        assert len(rows) == 2
    elif job_type is JobType.MODEL:
        assert result["written"] == 1
    elif job_type is JobType.BATCH_MODEL:
        assert (result["done"], result["failed"]) == (2, 0)
    elif job_type is JobType.MARKDOWN:
        assert result["created"] == 2
    elif job_type is JobType.FILE_EXPLORER:
        assert result["created"] == 1


@pytest.mark.parametrize("job_type", list(JobType))
def test_init_test_push_run_and_push_again(
    job_type: JobType, hub: HubProcess, tmp_path: Path
) -> None:
    folder = tmp_path / f"my-{job_type.value}"
    init = plugin_hub(hub, "init", job_type.value, str(folder), cwd=tmp_path)
    assert init.returncode == 0, init.stderr

    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr

    pushed = plugin_hub(hub, "plugin", "push", str(folder), "--org", "acme", cwd=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    created = json.loads(pushed.stdout)
    assert created["created"] is True
    assert created["type"] == job_type.value

    process = PluginProcess(
        str(folder / "plugin.py"), hub=hub, plugin_id=created["id"], secret=created["secret"]
    ).start()
    try:
        wait_until(lambda: hub.is_live(created["id"]), PATIENCE)
        live = hub.plugin(created["id"])["connections"]
        assert [c["plugin_version"] for c in live] == ["0.1.0"]  # the manifest's version
        job = run_job(hub, created["id"], job_for(job_type, hub, folder), timeout=PATIENCE * 2)
        check_outcome(job_type, hub, job)
    finally:
        process.stop()

    manifest = folder / "plugin.toml"
    manifest.write_text(manifest.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    config = json.loads((folder / "default_config.json").read_text())
    (folder / "default_config.json").write_text(json.dumps({**config, "_note": "changed"}))
    # The second push goes over the REST API, from an SDK-only install, as from a laptop or
    # CI: the hub stores what the manifest says.
    again = plugin_hub(
        hub, "plugin", "push", str(folder), "--hub", hub.url, cwd=tmp_path, sdk_only=True
    )
    assert again.returncode == 0, again.stderr
    updated = json.loads(again.stdout)
    assert updated["id"] == created["id"]
    assert updated["created"] is False
    assert "secret" not in updated
    plugin = hub.plugin(created["id"])
    assert plugin["version"] == "0.2.0"
    assert plugin["default_config"] == {**config, "_note": "changed"}
    mine = [p for p in hub.api("GET", "/plugins").json()["items"] if p["type"] == job_type.value]
    assert [p["id"] for p in mine] == [created["id"]]
