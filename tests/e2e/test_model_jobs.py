"""Model jobs end to end: class mapping, pre-labels with their source, overwrite and merge,
clipping and rejection counts, uploaded and URL assets, bad outputs."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

import httpx

from tests.e2e.harness import HubProcess, PluginProcess, wait_until
from tests.e2e.test_export_markdown import iter_tasks, run_job
from tests.timing import PATIENCE

StartPlugin = Callable[..., PluginProcess]


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\x80" * width * 3 for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def project(hub: HubProcess, *categories: dict[str, str]) -> dict[str, Any]:
    created = hub.api("POST", "/projects", json={"name": "faces", "categories": list(categories)})
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


def test_predictions_become_prelabels_with_their_source(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    faces = project(
        hub, {"name": "face", "tool": "bbox"}, {"name": "size", "tool": "classification"}
    )
    face_id = faces["categories"][0]["id"]
    hub.api(
        "POST",
        f"/projects/{faces['id']}/assets",
        json={"assets": [{"url": "https://images.example/a.jpg", "width": 200, "height": 100}]},
    )
    (task,) = list(iter_tasks(hub, faces["id"]))
    # A person's box stays whatever the model does.
    human = {"category_id": face_id, "bbox": {"x": 0, "y": 0, "w": 5, "h": 5}}
    assert (
        hub.api("PUT", f"/tasks/{task['id']}/annotations", json={"objects": [human]}).status_code
        == 200
    )
    plugin_id, secret = hub.create_plugin("faces", "model", class_names=["face", "eye", "bytes"])
    start_plugin("fake_model", plugin_id, secret)

    body = {"input": {"task_id": task["id"], "class_mapping": {"face": face_id}}}
    job = run_job(hub, plugin_id, body)
    assert job["status"] == "succeeded", job["error"]
    assert job["priority"] == "interactive"
    assert job["result"]["written"] == 2
    assert job["result"]["unmapped"] == 1  # the eye
    assert job["result"]["clipped"] == 1
    assert job["result"]["rejected"] == 1
    assert any("outside" in reason for reason in job["result"]["reasons"])
    objects = hub.api("GET", f"/tasks/{task['id']}").json()["annotations"]["objects"]
    from_plugin = [o for o in objects if o["source"]["kind"] == "plugin"]
    assert len(from_plugin) == 2
    assert from_plugin[0]["source"] == {
        "kind": "plugin",
        "plugin_id": plugin_id,
        "plugin_version": "2.1.0",
    }
    assert from_plugin[0]["score"] == 0.9
    assert from_plugin[0]["bbox"] == {"x": 10, "y": 20, "w": 30, "h": 40}
    assert from_plugin[1]["bbox"] == {"x": 190, "y": 90, "w": 10, "h": 10}  # clipped to 200x100
    assert human in [
        {k: o[k] for k in ("category_id", "bbox")}
        for o in objects
        if o["source"]["kind"] == "human"
    ]

    # Again with overwrite (the default): still one set from the plugin.
    assert run_job(hub, plugin_id, body)["status"] == "succeeded"
    objects = hub.api("GET", f"/tasks/{task['id']}").json()["annotations"]["objects"]
    assert len([o for o in objects if o["source"]["kind"] == "plugin"]) == 2
    assert len(objects) == 3
    # Without overwrite: merged.
    merge = {"input": {**body["input"], "overwrite": False}}
    assert run_job(hub, plugin_id, merge)["status"] == "succeeded"
    objects = hub.api("GET", f"/tasks/{task['id']}").json()["annotations"]["objects"]
    assert len([o for o in objects if o["source"]["kind"] == "plugin"]) == 4


def test_an_uploaded_image_is_read_through_the_job_and_bad_outputs_fail_clearly(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    faces = project(
        hub, {"name": "face", "tool": "bbox"}, {"name": "size", "tool": "classification"}
    )
    face_id, size_id = (c["id"] for c in faces["categories"])
    image = png(64, 48)
    uploaded = httpx.post(
        f"{hub.url}/api/v1/projects/{faces['id']}/assets",
        headers={"Authorization": f"Bearer {hub.api_key}"},
        files={"file": ("face.png", image, "image/png")},
        timeout=10,
    )
    assert uploaded.status_code == 201, uploaded.text
    (task,) = list(iter_tasks(hub, faces["id"]))
    plugin_id, secret = hub.create_plugin("faces", "model", class_names=["face", "eye", "bytes"])
    start_plugin("fake_model", plugin_id, secret)
    mapping = {"face": face_id, "bytes": size_id}
    job = run_job(
        hub,
        plugin_id,
        {"input": {"task_id": task["id"], "class_mapping": mapping}, "config": {"mode": "read"}},
    )
    assert job["status"] == "succeeded", job["error"]
    classifications = hub.api("GET", f"/tasks/{task['id']}").json()["annotations"][
        "classifications"
    ]
    assert classifications[0]["value"] == len(image)  # the plugin read the uploaded bytes

    # A callback returning the wrong type: failed, saying what was expected; nothing written.
    before = hub.api("GET", f"/tasks/{task['id']}").json()["annotations"]
    wrong = run_job(
        hub,
        plugin_id,
        {"input": {"task_id": task["id"], "class_mapping": mapping}, "config": {"mode": "wrong"}},
    )
    assert wrong["status"] == "failed"
    assert "BBox" in wrong["error"]["message"]
    assert hub.api("GET", f"/tasks/{task['id']}").json()["annotations"] == before

    # A mapping to another project's category, or to a class the plugin lacks: 422 at submit.
    other = project(hub, {"name": "face", "tool": "bbox"})
    foreign = hub.api(
        "POST",
        f"/plugins/{plugin_id}/jobs",
        json={
            "input": {
                "task_id": task["id"],
                "class_mapping": {"face": other["categories"][0]["id"]},
            }
        },
    )
    assert foreign.status_code == 422
    assert "is not in project" in foreign.json()["error"]["message"]
    unknown = hub.api(
        "POST",
        f"/plugins/{plugin_id}/jobs",
        json={"input": {"task_id": task["id"], "class_mapping": {"nose": face_id}}},
    )
    assert unknown.status_code == 422
    assert "no class 'nose'" in unknown.json()["error"]["message"]


def test_a_plugin_stage_prelabels_tasks_that_enter_it(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    created = hub.api(
        "POST",
        "/projects",
        json={
            "name": "flow",
            "categories": [{"name": "face", "tool": "bbox"}],
            "stages": ["prelabel"],
        },
    )
    flow = created.json()
    face_id = flow["categories"][0]["id"]
    hub.api(
        "POST",
        f"/projects/{flow['id']}/assets",
        json={
            "assets": [
                {"url": f"https://images.example/{n}.jpg", "width": 200, "height": 100}
                for n in range(3)
            ]
        },
    )
    tasks = list(iter_tasks(hub, flow["id"]))
    plugin_id, secret = hub.create_plugin("faces", "model", class_names=["face", "eye", "bytes"])
    start_plugin("fake_model", plugin_id, secret)
    bound = hub.api(
        "PUT",
        f"/projects/{flow['id']}/stages/prelabel/plugin",
        json={"plugin_id": plugin_id, "next_stage": "review", "class_mapping": {"face": face_id}},
    )
    assert bound.status_code == 200, bound.text
    # A binding to a stage that does not exist, or to a plugin that is not a model: 422.
    assert (
        hub.api(
            "PUT",
            f"/projects/{flow['id']}/stages/nope/plugin",
            json={"plugin_id": plugin_id, "next_stage": "review"},
        ).status_code
        == 422
    )

    # Moving a task in is all it takes: no job is submitted by anyone.
    moved = hub.api("PATCH", f"/tasks/{tasks[0]['id']}", json={"stage": "prelabel"})
    assert moved.status_code == 200, moved.text
    wait_until(
        lambda: hub.api("GET", f"/tasks/{tasks[0]['id']}").json()["stage"] == "review",
        timeout=PATIENCE,
    )
    task = hub.api("GET", f"/tasks/{tasks[0]['id']}").json()
    assert len(task["annotations"]["objects"]) == 2
    assert hub.job(task["stage_job_id"])["status"] == "succeeded"

    # A failing run leaves the task in the stage, with the failed job to say why.
    hub.api(
        "PUT",
        f"/projects/{flow['id']}/stages/prelabel/plugin",
        json={
            "plugin_id": plugin_id,
            "next_stage": "review",
            "class_mapping": {"face": face_id},
            "config": {"mode": "wrong"},
        },
    )
    hub.api("PATCH", f"/tasks/{tasks[1]['id']}", json={"stage": "prelabel"})
    stuck = hub.api("GET", f"/tasks/{tasks[1]['id']}").json()
    wait_until(lambda: hub.job(stuck["stage_job_id"])["status"] == "failed", timeout=PATIENCE)
    assert hub.api("GET", f"/tasks/{tasks[1]['id']}").json()["stage"] == "prelabel"
    assert "BBox" in hub.job(stuck["stage_job_id"])["error"]["message"]

    # Fixed, "re-run stage" queues every task in it, and they move on.
    hub.api(
        "PUT",
        f"/projects/{flow['id']}/stages/prelabel/plugin",
        json={"plugin_id": plugin_id, "next_stage": "review", "class_mapping": {"face": face_id}},
    )
    hub.api("PATCH", f"/tasks/{tasks[2]['id']}", json={"stage": "prelabel"})
    rerun = hub.api("POST", f"/projects/{flow['id']}/stages/prelabel/rerun")
    assert rerun.status_code == 202
    assert rerun.json()["queued"] >= 1
    wait_until(
        lambda: all(hub.api("GET", f"/tasks/{t['id']}").json()["stage"] == "review" for t in tasks),
        timeout=PATIENCE,
    )


def test_a_stage_whose_job_cannot_be_queued_does_not_take_the_task(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    flow = hub.api(
        "POST",
        "/projects",
        json={
            "name": "flow",
            "categories": [{"name": "face", "tool": "bbox"}],
            "stages": ["prelabel"],
        },
    ).json()
    face_id = flow["categories"][0]["id"]
    hub.api(
        "POST",
        f"/projects/{flow['id']}/assets",
        json={"assets": [{"url": "https://images.example/a.jpg", "width": 10, "height": 10}]},
    )
    (task,) = list(iter_tasks(hub, flow["id"]))
    plugin_id, _ = hub.create_plugin("faces", "model", class_names=["face"])
    # A class the plugin does not have is refused when binding, not when a task arrives.
    refused = hub.api(
        "PUT",
        f"/projects/{flow['id']}/stages/prelabel/plugin",
        json={"plugin_id": plugin_id, "next_stage": "review", "class_mapping": {"nose": face_id}},
    )
    assert refused.status_code == 422
    assert (
        hub.api(
            "PUT",
            f"/projects/{flow['id']}/stages/prelabel/plugin",
            json={
                "plugin_id": plugin_id,
                "next_stage": "review",
                "class_mapping": {"face": face_id},
            },
        ).status_code
        == 200
    )
    # The plugin is deleted: entering the stage cannot queue a job, so the task stays put.
    assert hub.api("DELETE", f"/plugins/{plugin_id}").status_code == 204
    moved = hub.api("PATCH", f"/tasks/{task['id']}", json={"stage": "prelabel"})
    assert moved.status_code == 404
    assert hub.api("GET", f"/tasks/{task['id']}").json()["stage"] == "todo"
    # Re-running a stage that is not a plugin stage is a 404, tasks or not.
    assert hub.api("POST", f"/projects/{flow['id']}/stages/review/rerun").status_code == 404
