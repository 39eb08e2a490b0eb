"""Issue 5's acceptance for models: the OpenCV example on a real photo, and a batch run."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.e2e.harness import REPO_ROOT, HubProcess, PluginProcess, wait_until
from tests.e2e.test_export_markdown import iter_tasks, run_job
from tests.timing import PATIENCE

StartPlugin = Callable[..., PluginProcess]
PHOTO = REPO_ROOT / "tests" / "fixtures" / "astronaut.jpg"


def test_the_example_model_finds_the_face(hub: HubProcess, start_plugin: StartPlugin) -> None:
    pytest.importorskip("cv2", reason="examples/model needs opencv-python-headless")
    created = hub.api(
        "POST",
        "/projects",
        json={"name": "portraits", "categories": [{"name": "face", "tool": "bbox"}]},
    )
    project = created.json()
    face_id = project["categories"][0]["id"]
    uploaded = httpx.post(
        f"{hub.url}/api/v1/projects/{project['id']}/assets",
        headers={"Authorization": f"Bearer {hub.api_key}"},
        files={"file": ("astronaut.jpg", PHOTO.read_bytes(), "image/jpeg")},
        timeout=10,
    )
    assert uploaded.status_code == 201, uploaded.text
    (task,) = list(iter_tasks(hub, project["id"]))
    plugin_id, secret = hub.create_plugin(
        "haar", "model", class_names=["face", "eye", "full_body", "upper_body", "smile"]
    )
    start_plugin("examples/model/plugin.py", plugin_id, secret)
    body = {"input": {"task_id": task["id"], "class_mapping": {"face": face_id}}}

    job = run_job(hub, plugin_id, body, timeout=60)
    assert job["status"] == "succeeded", job["error"]
    objects = hub.api("GET", f"/tasks/{task['id']}").json()["annotations"]["objects"]
    faces = [o for o in objects if o["category_id"] == face_id]
    assert len(faces) >= 1
    box = faces[0]["bbox"]
    assert 150 < box["x"] + box["w"] / 2 < 300  # the face is in the upper middle
    assert 50 < box["y"] + box["h"] / 2 < 180
    assert faces[0]["source"]["kind"] == "plugin"
    assert faces[0]["source"]["plugin_id"] == plugin_id
    assert faces[0]["source"]["plugin_version"] == "1.0.0"
    assert 0 <= faces[0]["score"] <= 1

    count = len(faces)
    assert run_job(hub, plugin_id, body)["status"] == "succeeded"  # overwrite: still one set
    assert len(hub.api("GET", f"/tasks/{task['id']}").json()["annotations"]["objects"]) == count
    merge = {"input": {**body["input"], "overwrite": False}}
    assert run_job(hub, plugin_id, merge)["status"] == "succeeded"  # merge: two sets
    assert len(hub.api("GET", f"/tasks/{task['id']}").json()["annotations"]["objects"]) == 2 * count


@pytest.fixture
def image_server() -> Iterator[str]:
    """Images on a loopback HTTP server: /img/N.jpg answers, /broken/N.jpg is a 404."""
    data = PHOTO.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/img/"):
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_batch_run_over_two_processes(
    hub: HubProcess, start_plugin: StartPlugin, image_server: str
) -> None:
    pytest.importorskip("cv2", reason="examples/model needs opencv-python-headless")
    project = hub.api(
        "POST", "/projects", json={"name": "many", "categories": [{"name": "face", "tool": "bbox"}]}
    ).json()
    face = project["categories"][0]["id"]
    broken = {17, 99, 150}
    assets = [
        {
            "url": f"{image_server}/{'broken' if n in broken else 'img'}/{n}.jpg",
            "external_id": str(n),
            "width": 512,
            "height": 512,
        }
        for n in range(200)
    ]
    assert (
        hub.api("POST", f"/projects/{project['id']}/assets", json={"assets": assets}).status_code
        == 201
    )
    plugin_id, secret = hub.create_plugin("haar-batch", "batch_model", class_names=["face", "eye"])
    start_plugin("examples/model/plugin.py", plugin_id, secret, MODEL_MODE="batch")
    start_plugin("examples/model/plugin.py", plugin_id, secret, MODEL_MODE="batch")
    wait_until(lambda: len(hub.plugin(plugin_id)["connections"]) == 2, timeout=PATIENCE)
    connections = {c["id"] for c in hub.plugin(plugin_id)["connections"]}

    submitted = hub.api(
        "POST",
        f"/plugins/{plugin_id}/jobs",
        json={
            "project_id": project["id"],
            "config": {"chunk_size": 8},
            "input": {"class_mapping": {"face": face}},
        },
    )
    assert submitted.status_code == 202, submitted.text
    run = submitted.json()
    assert run["operation"] == "run"
    progress_seen = []

    def finished() -> bool:
        job = hub.job(run["id"])
        if job["progress"]:
            progress_seen.append(job["progress"]["current"])
        return bool(job["status"] in {"succeeded", "failed", "cancelled"})

    wait_until(finished, timeout=180, interval=0.2)
    done = hub.job(run["id"])
    assert done["status"] == "succeeded", done["error"]
    assert (done["progress"]["current"], done["progress"]["total"]) == (200, 200)
    assert progress_seen == sorted(progress_seen)  # it climbed
    assert len(set(progress_seen)) > 3
    summary = done["result"]
    assert (summary["done"], summary["failed"], summary["chunks"]) == (197, 3, 25)
    assert summary["predictions_written"] >= 197  # the face, on every good image
    by_external = {t["asset"]["external_id"]: t["id"] for t in iter_tasks(hub, project["id"])}
    assert set(summary["failed_tasks"]) == {by_external[str(n)] for n in broken}
    assert all("404" in reason for reason in summary["failed_tasks"].values())
    # Both processes did work.
    chunks = [j for j in hub.jobs(plugin_id) if j["operation"] == "chunk"]
    assert len(chunks) == 25
    assert {c["connection_id"] for c in chunks} == connections
    # The 197 got their face; the 3 did not.
    good = hub.api("GET", f"/tasks/{by_external['0']}").json()["annotations"]["objects"]
    bad = hub.api("GET", f"/tasks/{by_external['17']}").json()["annotations"]["objects"]
    assert [o["category_id"] for o in good] == [face]
    assert bad == []


def test_a_stage_bound_to_the_example_model_prelabels_and_moves_on(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    pytest.importorskip("cv2", reason="examples/model needs opencv-python-headless")
    created = hub.api(
        "POST",
        "/projects",
        json={
            "name": "flow",
            "stages": ["prelabel"],
            "categories": [{"name": "face", "tool": "bbox"}],
        },
    )
    project = created.json()
    face = project["categories"][0]["id"]
    httpx.post(
        f"{hub.url}/api/v1/projects/{project['id']}/assets",
        headers={"Authorization": f"Bearer {hub.api_key}"},
        files={"file": ("astronaut.jpg", PHOTO.read_bytes(), "image/jpeg")},
        timeout=10,
    )
    (task,) = list(iter_tasks(hub, project["id"]))
    plugin_id, secret = hub.create_plugin("haar", "model", class_names=["face", "eye"])
    start_plugin("examples/model/plugin.py", plugin_id, secret)
    bound = hub.api(
        "PUT",
        f"/projects/{project['id']}/stages/prelabel/plugin",
        json={"plugin_id": plugin_id, "next_stage": "review", "class_mapping": {"face": face}},
    )
    assert bound.status_code == 200, bound.text
    assert hub.api("PATCH", f"/tasks/{task['id']}", json={"stage": "prelabel"}).status_code == 200
    wait_until(
        lambda: hub.api("GET", f"/tasks/{task['id']}").json()["stage"] == "review", timeout=30
    )
    objects = hub.api("GET", f"/tasks/{task['id']}").json()["annotations"]["objects"]
    assert [o["category_id"] for o in objects] == [face]
    assert objects[0]["source"]["plugin_id"] == plugin_id


def test_cancelling_a_batch_run_stops_its_remaining_chunks(
    hub: HubProcess, image_server: str
) -> None:
    project = hub.api("POST", "/projects", json={"name": "many", "categories": []}).json()
    assets = [{"url": f"{image_server}/img/{n}.jpg", "width": 1, "height": 1} for n in range(40)]
    hub.api("POST", f"/projects/{project['id']}/assets", json={"assets": assets})
    plugin_id, _ = hub.create_plugin("batch", "batch_model")
    # No process is live: every chunk waits in the queue.
    run = hub.api(
        "POST",
        f"/plugins/{plugin_id}/jobs",
        json={"project_id": project["id"], "config": {"chunk_size": 10}, "input": {}},
    ).json()
    assert hub.api("POST", f"/jobs/{run['id']}/cancel").status_code == 202
    wait_until(lambda: hub.job(run["id"])["status"] == "cancelled", timeout=PATIENCE)
    chunks = [j for j in hub.jobs(plugin_id) if j["operation"] == "chunk"]
    assert len(chunks) == 4
    wait_until(
        lambda: all(hub.job(c["id"])["status"] == "cancelled" for c in chunks), timeout=PATIENCE
    )
    # A chunk is not retried alone; the run is, for its tasks that did not get done.
    assert hub.api("POST", f"/jobs/{chunks[0]['id']}/retry").status_code == 409
    retried = hub.api("POST", f"/jobs/{run['id']}/retry", json={"only_failed": True})
    assert retried.status_code == 202, retried.text
    assert retried.json()["result"]["round"] == 2
