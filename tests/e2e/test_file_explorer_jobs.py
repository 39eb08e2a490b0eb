"""File explorer jobs end to end: listing pages, imports by URL and by copy, dedupe."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.harness import HubProcess, PluginProcess
from tests.e2e.test_export_markdown import iter_tasks, run_job

StartPlugin = Callable[..., PluginProcess]


def test_browse_and_import(hub: HubProcess, start_plugin: StartPlugin) -> None:
    project = hub.api("POST", "/projects", json={"name": "bucket", "categories": []}).json()
    plugin_id, secret = hub.create_plugin("explorer", "file_explorer")
    start_plugin("fake_explorer", plugin_id, secret)

    # Page through folder a: 90 files and one folder, 25 entries a page.
    seen: list[str] = []
    token = None
    while True:
        job = run_job(
            hub,
            plugin_id,
            {
                "project_id": project["id"],
                "operation": "list",
                "input": {"folder": "a", "page_size": 25, "page_token": token},
            },
        )
        assert job["status"] == "succeeded", job["error"]
        assert job["priority"] == "interactive"
        page = job["result"]
        seen += [f["key"] for f in page["folders"]] + [f["key"] for f in page["files"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert len(seen) == 91
    assert len(set(seen)) == 91
    assert "a/deep" in seen

    # Import folder a recursively by URL, into a batch.
    body = {
        "project_id": project["id"],
        "operation": "import",
        "input": {"folder": "a", "recursive": True, "batch": "from-a", "dedupe": True},
    }
    first = run_job(hub, plugin_id, body)
    assert first["status"] == "succeeded", first["error"]
    assert first["priority"] == "batch"
    assert (first["result"]["created"], first["result"]["skipped"]) == (120, 0)
    tasks = list(iter_tasks(hub, project["id"]))
    assert len(tasks) == 120
    assert {t["batches"][0] for t in tasks} == {"from-a"}
    # Again with dedupe: nothing new.
    again = run_job(hub, plugin_id, body)
    assert (again["result"]["created"], again["result"]["skipped"]) == (0, 120)

    # Copy the root's files (not recursive): uploaded images with their size read.
    copy = run_job(
        hub,
        plugin_id,
        {
            "project_id": project["id"],
            "operation": "import",
            "input": {"folder": "", "dedupe": True},
            "config": {"mode": "copy"},
        },
    )
    assert copy["status"] == "succeeded", copy["error"]
    assert copy["result"]["created"] == 30
    uploaded = [
        t for t in iter_tasks(hub, project["id"]) if t["asset"]["external_id"].startswith("root")
    ]
    assert len(uploaded) == 30
    assert (uploaded[0]["asset"]["width"], uploaded[0]["asset"]["height"]) == (4, 3)

    # An unknown operation is refused at submit.
    bad = hub.api(
        "POST",
        f"/plugins/{plugin_id}/jobs",
        json={"project_id": project["id"], "operation": "delete"},
    )
    assert bad.status_code == 422
    assert "'list' or 'import'" in bad.json()["error"]["message"]
