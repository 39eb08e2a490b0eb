"""Issue 17's acceptance: a batch run with 3 of 24 tasks failing, retried for the 3, ends
with 24 tasks pre-labelled and one run, with its first round in its history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.e2e.harness import HubProcess, PluginProcess, wait_until
from tests.e2e.test_export_markdown import iter_tasks
from tests.timing import PATIENCE

StartPlugin = Callable[..., PluginProcess]
FAILING = ("03", "11", "20")


def test_retrying_the_failed_tasks_of_a_run_labels_all_24(
    hub: HubProcess, start_plugin: StartPlugin, tmp_path: Path
) -> None:
    project = hub.api(
        "POST",
        "/projects",
        json={"name": "retry", "categories": [{"name": "face", "tool": "bbox"}]},
    ).json()
    face = project["categories"][0]["id"]
    assets = [
        {"url": f"https://img.example/{n}.jpg", "external_id": f"{n:02d}", "width": 8, "height": 8}
        for n in range(24)
    ]
    added = hub.api("POST", f"/projects/{project['id']}/assets", json={"assets": assets})
    assert added.status_code == 201, added.text
    plugin_id, secret = hub.create_plugin("flaky", "batch_model", class_names=["face"])
    markers = tmp_path / "markers"
    markers.mkdir()
    start_plugin(
        "flaky_batch", plugin_id, secret, FAIL_EXTERNAL_IDS=",".join(FAILING), MARKER_DIR=markers
    )
    wait_until(lambda: hub.is_live(plugin_id), timeout=PATIENCE)

    submitted = hub.api(
        "POST",
        f"/plugins/{plugin_id}/jobs",
        json={
            "project_id": project["id"],
            "config": {"chunk_size": 5},
            "input": {"class_mapping": {"face": face}},
        },
    )
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["id"]

    def ended() -> bool:
        return hub.job(run_id)["status"] in {"succeeded", "failed", "cancelled"}

    wait_until(ended, timeout=PATIENCE)
    first = hub.job(run_id)
    assert first["status"] == "succeeded", first["error"]
    assert (first["result"]["done"], first["result"]["failed"]) == (21, 3)
    by_external = {t["asset"]["external_id"]: t["id"] for t in iter_tasks(hub, project["id"])}
    assert set(first["result"]["failed_tasks"]) == {by_external[n] for n in FAILING}

    retried = hub.api("POST", f"/jobs/{run_id}/retry", json={"only_failed": True})
    assert retried.status_code == 202, retried.text
    assert retried.json()["id"] == run_id
    wait_until(ended, timeout=PATIENCE)

    run = hub.job(run_id)
    assert run["status"] == "succeeded", run["error"]
    summary = run["result"]
    assert (summary["total"], summary["done"], summary["failed"]) == (24, 24, 0)
    assert (summary["round"], summary["retried"]) == (2, "failed")
    (history,) = summary["history"]
    assert (history["round"], history["total"], history["done"], history["failed"]) == (
        1,
        24,
        21,
        3,
    )
    # One run: its first round's 5 chunks and one more for the 3, all of it.
    jobs = hub.jobs(plugin_id)
    assert [j["id"] for j in jobs if j["operation"] == "run"] == [run_id]
    chunks = [j for j in jobs if j["operation"] == "chunk"]
    assert len(chunks) == 6
    assert all(c["input"]["parent_id"] == run_id for c in chunks)
    assert sorted(len(c["input"]["tasks"]) for c in chunks) == [3, 4, 5, 5, 5, 5]
    # Every task has its pre-label.
    for task in iter_tasks(hub, project["id"]):
        objects = hub.api("GET", f"/tasks/{task['id']}").json()["annotations"]["objects"]
        assert [o["category_id"] for o in objects] == [face], task["asset"]["external_id"]
    assert any("retried by user" in r["message"] for r in hub.logs(run_id))
