"""Retrying a batch run through the real app (issue 17): only its failed tasks, or all of
them, as a new round of the same run, with the earlier rounds in its history. A fake plugin
process on the socket answers the chunks."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketTestSession

from hub.job_types import batch_model
from tests.hub.conftest import Owner, wait_until
from tests.hub.test_gateway import say_hello

pytestmark = pytest.mark.timeout(60)

API = "/api/v1"
MakePlugin = Callable[..., dict[str, Any]]
Connect = Callable[..., WebSocketTestSession]


def api(client: TestClient, owner: Owner, method: str, path: str, **kwargs: Any) -> Any:
    return client.request(method, f"{API}{path}", headers=owner.headers, **kwargs)


def project_with_tasks(client: TestClient, owner: Owner, count: int) -> tuple[str, list[str]]:
    """A project of `count` tasks; their ids, in the order of their external ids."""
    project = api(client, owner, "POST", "/projects", json={"name": "p", "categories": []}).json()
    assets = [
        {"url": f"https://img.example/{n}.jpg", "external_id": f"{n:02d}", "width": 4, "height": 4}
        for n in range(count)
    ]
    added = api(client, owner, "POST", f"/projects/{project['id']}/assets", json={"assets": assets})
    assert added.status_code == 201, added.text
    tasks = api(client, owner, "GET", f"/projects/{project['id']}/tasks?limit=200").json()["items"]
    by_external = {t["asset"]["external_id"]: t["id"] for t in tasks}
    return project["id"], [by_external[f"{n:02d}"] for n in range(count)]


def work(ws: WebSocketTestSession, chunks: int, failing: Collection[str] = ()) -> list[Any]:
    """Answer `chunks` chunk jobs: every task done (no predictions) but those in `failing`.
    Returns the job messages, in the order they came."""
    jobs: list[Any] = []
    acks = 0
    while len(jobs) < chunks or acks < chunks:
        message = ws.receive_json()
        if message["type"] == "ack":
            acks += 1
        if message["type"] != "job":
            continue
        jobs.append(message)
        ref = {"job_id": message["job_id"], "attempt": message["attempt"]}
        ws.send_json({"type": "accepted", **ref})
        task_ids = [t["task_id"] for t in message["input"]["tasks"]]
        output = {
            "predictions": {t: [] for t in task_ids if t not in failing},
            "errors": {t: "cannot read it" for t in task_ids if t in failing},
        }
        ws.send_json({"type": "result", **ref, "output": output})
    return jobs


def ended(client: TestClient, owner: Owner, job_id: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body: dict[str, Any] = api(client, owner, "GET", f"/jobs/{job_id}").json()
        return body if body["status"] in {"succeeded", "failed", "cancelled"} else None

    return wait_until(check, what=f"job {job_id} to end")


def finished_run(
    client: TestClient,
    owner: Owner,
    ws: WebSocketTestSession,
    plugin_id: str,
    project_id: str,
    *,
    tasks: int,
    chunk_size: int,
    failing: Collection[str],
) -> dict[str, Any]:
    submitted = api(
        client,
        owner,
        "POST",
        f"/plugins/{plugin_id}/jobs",
        json={"project_id": project_id, "config": {"chunk_size": chunk_size}, "input": {}},
    )
    assert submitted.status_code == 202, submitted.text
    work(ws, -(-tasks // chunk_size), failing)
    return ended(client, owner, submitted.json()["id"])


def chunks_of(client: TestClient, owner: Owner, plugin_id: str, run_id: str) -> list[Any]:
    jobs = api(client, owner, "GET", f"/jobs?plugin_id={plugin_id}&limit=200").json()["items"]
    return [j for j in jobs if j["input"].get("parent_id") == run_id]


def test_retrying_the_failed_tasks_of_a_run_reopens_it_as_a_new_round(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, connect: Connect
) -> None:
    project_id, task_ids = project_with_tasks(client, acme, 10)
    plugin = make_plugin(acme, type="batch_model")
    failing = {task_ids[1], task_ids[5], task_ids[9]}
    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws, capacity=1)
        run = finished_run(
            client, acme, ws, plugin["id"], project_id, tasks=10, chunk_size=4, failing=failing
        )
        assert run["status"] == "succeeded"
        assert (run["result"]["done"], run["result"]["failed"]) == (7, 3)

        retried = api(client, acme, "POST", f"/jobs/{run['id']}/retry", json={"only_failed": True})
        assert retried.status_code == 202, retried.text
        body = retried.json()
        assert (body["id"], body["status"]) == (run["id"], "running")
        assert body["result"]["round"] == 2
        assert (body["result"]["done"], body["result"]["failed"]) == (7, 0)
        (again,) = work(ws, 1)
        # One new chunk, of the run, with just the three failed tasks.
        assert again["input"]["parent_id"] == run["id"]
        assert {t["task_id"] for t in again["input"]["tasks"]} == failing
        done = ended(client, acme, run["id"])

    assert done["status"] == "succeeded"
    summary = done["result"]
    assert (summary["total"], summary["done"], summary["failed"]) == (10, 10, 0)
    assert summary["failed_tasks"] == {}
    assert (summary["round"], summary["retried"], summary["chunks"]) == (2, "failed", 1)
    (first,) = summary["history"]
    assert (first["round"], first["status"], first["total"], first["done"], first["failed"]) == (
        1,
        "succeeded",
        10,
        7,
        3,
    )
    assert first["finished_at"] is not None
    assert (done["progress"]["current"], done["progress"]["total"]) == (10.0, 10.0)
    assert len(chunks_of(client, acme, plugin["id"], run["id"])) == 4  # 3 + 1
    logs = api(client, acme, "GET", f"/jobs/{run['id']}/logs").json()["items"]
    retry_logs = [r["message"] for r in logs if "retried by user" in r["message"]]
    assert retry_logs == [
        f"retried by user {acme.user_id}: round 2, the 3 failed tasks in 1 chunks"
    ]

    # Nothing failed any more: only_failed has nothing to do.
    refused = api(client, acme, "POST", f"/jobs/{run['id']}/retry", json={"only_failed": True})
    assert refused.status_code == 409
    assert "no failed task" in refused.json()["error"]["message"]


def test_rerunning_a_whole_run_runs_its_original_tasks_again(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, connect: Connect
) -> None:
    project_id, task_ids = project_with_tasks(client, acme, 5)
    plugin = make_plugin(acme, type="batch_model")
    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws, capacity=1)
        run = finished_run(
            client, acme, ws, plugin["id"], project_id, tasks=5, chunk_size=2, failing={task_ids[0]}
        )
        # A task added to the project since is not part of the run: it runs what it ran.
        late = {"url": "https://img.example/late.jpg", "width": 4, "height": 4}
        added = api(client, acme, "POST", f"/projects/{project_id}/assets", json={"assets": [late]})
        assert added.status_code == 201, added.text
        retried = api(client, acme, "POST", f"/jobs/{run['id']}/retry")
        assert retried.status_code == 202, retried.text
        jobs = work(ws, 3)
        done = ended(client, acme, run["id"])
    assert sorted(t["task_id"] for j in jobs for t in j["input"]["tasks"]) == sorted(task_ids)
    summary = done["result"]
    assert (summary["round"], summary["retried"]) == (2, "all")
    assert (summary["total"], summary["done"], summary["failed"]) == (5, 5, 0)
    assert [(h["done"], h["failed"]) for h in summary["history"]] == [(4, 1)]


def test_a_retry_reads_every_failed_task_even_past_the_listed_ones(
    client: TestClient,
    acme: Owner,
    make_plugin: MakePlugin,
    connect: Connect,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batch_model, "MAX_FAILED_TASKS_LISTED", 2)
    project_id, task_ids = project_with_tasks(client, acme, 6)
    plugin = make_plugin(acme, type="batch_model")
    failing = set(task_ids[:4])
    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws, capacity=1)
        run = finished_run(
            client, acme, ws, plugin["id"], project_id, tasks=6, chunk_size=3, failing=failing
        )
        assert run["result"]["failed"] == 4
        assert len(run["result"]["failed_tasks"]) == 2  # the summary lists only two
        retried = api(client, acme, "POST", f"/jobs/{run['id']}/retry", json={"only_failed": True})
        assert retried.status_code == 202, retried.text
        jobs = work(ws, 2)
        done = ended(client, acme, run["id"])
    assert {t["task_id"] for j in jobs for t in j["input"]["tasks"]} == failing
    assert (done["result"]["done"], done["result"]["failed"]) == (6, 0)


def test_what_a_retry_refuses(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, connect: Connect
) -> None:
    project_id, _ = project_with_tasks(client, acme, 3)
    plugin = make_plugin(acme, type="batch_model")
    run = api(
        client,
        acme,
        "POST",
        f"/plugins/{plugin['id']}/jobs",
        json={"project_id": project_id, "config": {"chunk_size": 2}, "input": {}},
    ).json()
    # Still running (no process is live).
    running = api(client, acme, "POST", f"/jobs/{run['id']}/retry", json={"only_failed": True})
    assert running.status_code == 409
    assert "still running" in running.json()["error"]["message"]
    assert api(client, acme, "POST", f"/jobs/{run['id']}/cancel").status_code == 202
    chunk = chunks_of(client, acme, plugin["id"], run["id"])[0]
    ended(client, acme, chunk["id"])
    # A chunk is never retried alone: the answer points to its run.
    alone = api(client, acme, "POST", f"/jobs/{chunk['id']}/retry")
    assert alone.status_code == 409
    assert f"/api/v1/jobs/{run['id']}/retry" in alone.json()["error"]["message"]
    # only_failed is for a run; a body must be an object with known fields.
    custom = make_plugin(acme)
    job = api(client, acme, "POST", f"/plugins/{custom['id']}/jobs", json={}).json()
    api(client, acme, "POST", f"/jobs/{job['id']}/cancel")
    assert (
        api(
            client, acme, "POST", f"/jobs/{job['id']}/retry", json={"only_failed": True}
        ).status_code
        == 422
    )
    assert (
        api(client, acme, "POST", f"/jobs/{run['id']}/retry", json={"only": True}).status_code
        == 422
    )
    assert api(client, acme, "POST", f"/jobs/{run['id']}/retry", content=b"[1]").status_code == 422
    # {} still works for any job, and a cancelled run's tasks all count as failed.
    assert api(client, acme, "POST", f"/jobs/{job['id']}/retry", json={}).status_code == 202
    retried = api(client, acme, "POST", f"/jobs/{run['id']}/retry", json={"only_failed": True})
    assert retried.status_code == 202, retried.text
    assert (retried.json()["status"], retried.json()["result"]["round"]) == ("running", 2)
    assert len(chunks_of(client, acme, plugin["id"], run["id"])) == 4
