"""The job pages: list and filters, detail, the event stream, cancel and retry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.hub.conftest import basic_auth
from tests.hub.test_batch_retry import chunks_of, ended, finished_run, project_with_tasks, work
from tests.hub.test_gateway import say_hello
from tests.web.conftest import Owner, TestClient, WebUser


def _submit(client: TestClient, owner: Owner, plugin_id: str, config: dict[str, Any]) -> str:
    response = client.post(
        f"/api/v1/plugins/{plugin_id}/jobs", headers=owner.headers, json={"config": config}
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_list_filters_by_plugin_and_status(
    client: TestClient,
    acme: Owner,
    web_user: Callable[[Owner], WebUser],
    make_plugin: Callable[..., dict[str, Any]],
) -> None:
    first, second = make_plugin(acme, name="First"), make_plugin(acme, name="Second")
    one = _submit(client, acme, first["id"], {})
    two = _submit(client, acme, second["id"], {})
    user = web_user(acme)
    everything = user.get("/jobs").text
    assert one[-8:] in everything
    assert two[-8:] in everything
    only_first = user.get(f"/jobs?plugin_id={first['id']}").text
    assert one[-8:] in only_first
    assert two[-8:] not in only_first
    assert user.post(f"/jobs/{two}/cancel").status_code == 303
    cancelled = user.get("/jobs?status=cancelled").text
    assert two[-8:] in cancelled
    assert one[-8:] not in cancelled


def test_detail_cancel_retry_and_the_event_stream(
    client: TestClient,
    acme: Owner,
    web_user: Callable[[Owner], WebUser],
    make_plugin: Callable[..., dict[str, Any]],
) -> None:
    plugin = make_plugin(acme, name="Echo")
    job_id = _submit(client, acme, plugin["id"], {"answer": 42})
    user = web_user(acme)
    page = user.get(f"/jobs/{job_id}").text
    assert "queued" in page
    assert '"answer": 42' in page
    assert f'data-job-stream="/jobs/{job_id}/events"' in page

    assert user.post(f"/jobs/{job_id}/cancel").headers["location"] == f"/jobs/{job_id}"
    # A finished job's stream sends its state and its log records, then ends by itself.
    stream = user.get(f"/jobs/{job_id}/events")
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert "event: job" in stream.text
    assert '"status":"cancelled"' in stream.text
    assert "event: logs" in stream.text
    assert "cancelled by user" in stream.text
    assert "event: end" in stream.text
    assert user.get(f"/jobs/{job_id}/download").status_code == 404  # no file to download

    assert user.post(f"/jobs/{job_id}/retry").status_code == 303
    retried = client.get(f"/api/v1/jobs/{job_id}", headers=acme.headers).json()
    assert retried["status"] == "queued"
    assert user.post(f"/jobs/{job_id}/retry").status_code == 409  # still queued


def test_another_organizations_jobs_are_not_there(
    client: TestClient,
    acme: Owner,
    globex: Owner,
    web_user: Callable[[Owner], WebUser],
    make_plugin: Callable[..., dict[str, Any]],
) -> None:
    plugin = make_plugin(acme)
    job_id = _submit(client, acme, plugin["id"], {})
    intruder = web_user(globex)
    assert job_id[-8:] not in intruder.get("/jobs").text
    for path in ("", "/events", "/download"):
        assert intruder.get(f"/jobs/{job_id}{path}").status_code == 404, path
    for action in ("cancel", "retry"):
        assert intruder.post(f"/jobs/{job_id}/{action}").status_code == 404
    assert client.get(f"/api/v1/jobs/{job_id}", headers=acme.headers).json()["status"] == "queued"


def test_job_forms_need_the_csrf_token(
    client: TestClient,
    acme: Owner,
    web_user: Callable[[Owner], WebUser],
    make_plugin: Callable[..., dict[str, Any]],
) -> None:
    job_id = _submit(client, acme, make_plugin(acme)["id"], {})
    user = web_user(acme)
    assert user.post(f"/jobs/{job_id}/cancel", csrf="").status_code == 403
    assert client.get(f"/api/v1/jobs/{job_id}", headers=acme.headers).json()["status"] == "queued"


def test_a_job_list_follows_its_unfinished_jobs(
    client: TestClient,
    acme: Owner,
    globex: Owner,
    web_user: Callable[[Owner], WebUser],
    make_plugin: Callable[..., dict[str, Any]],
) -> None:
    plugin = make_plugin(acme)
    first, second = (_submit(client, acme, plugin["id"], {}) for _ in range(2))
    theirs = _submit(client, globex, make_plugin(globex)["id"], {})
    user = web_user(acme)
    listing = user.get("/jobs").text
    assert f'data-job-row="{first}" data-status="queued"' in listing
    for job_id in (first, second):
        assert user.post(f"/jobs/{job_id}/cancel").status_code == 303
    # Every watched job is finished: the stream says so once and ends by itself.
    stream = user.get(f"/jobs/events?ids={first},{second},{theirs},not-an-id").text
    assert stream.count("event: jobs") == 1
    assert f'"{first}":{{"status":"cancelled","percent":null}}' in stream
    assert f'"{second}":{{"status":"cancelled"' in stream
    assert theirs not in stream  # another organization's job is not there
    assert stream.rstrip().endswith("data: {}")


def test_the_job_history_downloads_from_the_jobs_page(
    client: TestClient,
    web_user: Callable[[Owner], WebUser],
    acme: Owner,
    globex: Owner,
    make_plugin: Callable[..., dict[str, Any]],
) -> None:
    plugin = make_plugin(acme, name="Counter")["id"]
    ours = _submit(client, acme, plugin, {})
    _submit(client, globex, make_plugin(globex, name="Theirs")["id"], {})
    user = web_user(acme)
    page = user.get(f"/jobs?plugin_id={plugin}").text
    assert 'action="/jobs/export"' in page
    assert f'name="plugin_id" value="{plugin}"' in page
    download = user.get(f"/jobs/export?plugin_id={plugin}&format=csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    lines = download.text.splitlines()
    assert lines[0].startswith("id,created_at,")
    assert [line.split(",")[0] for line in lines[1:]] == [ours]
    # Signed out: the sign-in page, not the history.
    client.cookies.clear()
    signed_out = client.get("/jobs/export", follow_redirects=False)
    assert signed_out.status_code in (302, 303)


def test_a_finished_batch_run_offers_retry_failed_and_rerun_all(
    client: TestClient,
    acme: Owner,
    web_user: Callable[[Owner], WebUser],
    make_plugin: Callable[..., dict[str, Any]],
) -> None:
    project_id, task_ids = project_with_tasks(client, acme, 6)
    plugin = make_plugin(acme, type="batch_model")
    user = web_user(acme)
    failing = {task_ids[0], task_ids[4]}
    with client.websocket_connect(
        "/ws/plugin", headers=basic_auth(plugin["id"], plugin["secret"])
    ) as ws:
        say_hello(ws, capacity=1)
        run = finished_run(
            client, acme, ws, plugin["id"], project_id, tasks=6, chunk_size=3, failing=failing
        )
        page = user.get(f"/jobs/{run['id']}").text
        assert "Retry failed tasks (2)" in page
        assert "Re-run all (6)" in page
        assert 'name="only_failed" value="1"' in page
        assert ">Retry</button>" not in page  # the plain retry is not a run's
        # A chunk offers no retry of its own, and links to its run.
        chunk = next(j for j in chunks_of(client, acme, plugin["id"], run["id"]))
        chunk_page = user.get(f"/jobs/{chunk['id']}").text
        assert "/retry" not in chunk_page
        assert f'href="/jobs/{run["id"]}"' in chunk_page

        # Without the CSRF token nothing happens.
        assert (
            user.post(f"/jobs/{run['id']}/retry", {"only_failed": "1"}, csrf="").status_code == 403
        )
        posted = user.post(f"/jobs/{run['id']}/retry", {"only_failed": "1"})
        assert (posted.status_code, posted.headers["location"]) == (303, f"/jobs/{run['id']}")
        running = user.get(f"/jobs/{run['id']}").text
        assert "Retry failed tasks" not in running
        assert "Re-run all" not in running
        (again,) = work(ws, 1)
        assert {t["task_id"] for t in again["input"]["tasks"]} == failing
        ended(client, acme, run["id"])

    done = user.get(f"/jobs/{run['id']}").text
    assert "Retry failed tasks" not in done  # nothing failed any more
    assert "Re-run all (6)" in done


def test_a_cancelled_batch_run_offers_its_undone_tasks_again(
    client: TestClient,
    acme: Owner,
    web_user: Callable[[Owner], WebUser],
    make_plugin: Callable[..., dict[str, Any]],
) -> None:
    project_id, _ = project_with_tasks(client, acme, 3)
    plugin = make_plugin(acme, type="batch_model")
    run = client.post(
        f"/api/v1/plugins/{plugin['id']}/jobs",
        headers=acme.headers,
        json={"project_id": project_id, "config": {"chunk_size": 2}},
    ).json()
    user = web_user(acme)
    assert "Re-run all" not in user.get(f"/jobs/{run['id']}").text  # still running
    assert user.post(f"/jobs/{run['id']}/cancel").status_code == 303
    # No process took a chunk: its summary counts nothing, its chunks say all 3 failed.
    page = user.get(f"/jobs/{run['id']}").text
    assert "Retry failed tasks (3)" in page
    assert "Re-run all (3)" in page
