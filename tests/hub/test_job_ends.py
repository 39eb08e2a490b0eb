"""Every job ends, through the real app: oversized jobs are refused at submit or failed at
dispatch, a process of the wrong type is refused at the door, and deleting a plugin ends
its jobs (its installers' too)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketTestSession

from ango_plugins_sdk.protocol import DEFAULT_MAX_MESSAGE_SIZE, MIN_MESSAGE_SIZE
from hub.runtime import Hub
from tests.hub.conftest import Owner, wait_until
from tests.hub.test_gateway import expect_error, say_hello

pytestmark = pytest.mark.timeout(30)

MakePlugin = Callable[..., dict[str, Any]]
Connect = Callable[..., WebSocketTestSession]


def submit(client: TestClient, owner: Owner, plugin_id: str, **body: Any) -> Any:
    return client.post(f"/api/v1/plugins/{plugin_id}/jobs", headers=owner.headers, json=body)


def job(client: TestClient, owner: Owner, job_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/jobs/{job_id}", headers=owner.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def job_reaches(
    client: TestClient, owner: Owner, job_id: str, status: str
) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        body = job(client, owner, job_id)
        return body if body["status"] == status else None

    return check


# --- size limits -------------------------------------------------------------------------


def test_a_config_over_the_limit_is_refused_at_submit_naming_the_limit(
    client: TestClient, acme: Owner, make_plugin: MakePlugin
) -> None:
    plugin = make_plugin(acme)
    limit = DEFAULT_MAX_MESSAGE_SIZE // 2
    response = submit(client, acme, plugin["id"], config={"blob": "x" * limit})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert f"the limit is {limit} bytes" in error["message"]
    # Nothing was stored: the plugin has no jobs.
    listed = client.get(f"/api/v1/jobs?plugin_id={plugin['id']}", headers=acme.headers)
    assert listed.json()["items"] == []
    # Just under the limit is fine.
    fits = submit(client, acme, plugin["id"], config={"blob": "x" * (limit - 1000)})
    assert fits.status_code == 202, fits.text


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"config": {"threshold": NaN}}', "config"),
        ('{"input": {"deep": [1, {"x": -Infinity}]}}', "input"),
        ('{"jobs": [{"input": {}}, {"config": {"n": Infinity}}]}', "jobs[1].config"),
    ],
)
def test_nan_and_infinity_are_refused_at_submit_naming_where(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, body: str, where: str
) -> None:
    # A JSON body may carry them (Python's parser reads them); no plugin could read the
    # frame, and a job holding one broke the delivery round it was in.
    plugin = make_plugin(acme)
    path = "/batch" if '"jobs"' in body else ""
    response = client.post(
        f"/api/v1/plugins/{plugin['id']}/jobs{path}",
        headers={**acme.headers, "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert message.startswith(f"{where}: NaN and Infinity"), message
    listed = client.get(f"/api/v1/jobs?plugin_id={plugin['id']}", headers=acme.headers)
    assert listed.json()["items"] == []


def test_a_job_bigger_than_the_process_takes_fails_instead_of_cycling(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, connect: Connect
) -> None:
    plugin = make_plugin(acme)
    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws, capacity=2, job_type="custom", max_message_size=MIN_MESSAGE_SIZE)
        big = submit(client, acme, plugin["id"], config={"blob": "x" * 2000}).json()
        small = submit(client, acme, plugin["id"], config={}).json()
        failed = wait_until(job_reaches(client, acme, big["id"], "failed"), what="big job fails")
        assert failed["error"]["kind"] == "JobTooLarge"
        assert f"over the {MIN_MESSAGE_SIZE}-byte limit" in failed["error"]["message"]
        assert failed["attempts"] == 1
        # The connection stays up and the next job is delivered.
        message = ws.receive_json()
        assert (message["type"], message["job_id"]) == ("job", small["id"])


# --- the process's job type ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("plugin_type", "process_type"),
    [("custom", "export"), ("batch_model", "model"), ("model", "custom")],
)
def test_a_process_of_another_job_type_is_refused(
    client: TestClient,
    acme: Owner,
    make_plugin: MakePlugin,
    connect: Connect,
    plugin_type: str,
    process_type: str,
) -> None:
    plugin = make_plugin(acme, type=plugin_type)
    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws, job_type=process_type)
        error = expect_error(ws, "job_type_mismatch", 4006)
    assert f"plugin is {plugin_type!r}" in error["message"]
    assert f"serves {process_type!r} jobs" in error["message"]
    view = client.get(f"/api/v1/plugins/{plugin['id']}", headers=acme.headers).json()
    assert view["live"] is False


def test_a_process_of_the_right_type_or_not_saying_goes_live(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, connect: Connect
) -> None:
    plugin = make_plugin(acme, type="export")
    for announced in ({"job_type": "export"}, {}):
        with connect(plugin["id"], plugin["secret"]) as ws:
            say_hello(ws, **announced)
            wait_until(
                lambda: client.get(f"/api/v1/plugins/{plugin['id']}", headers=acme.headers).json()[
                    "live"
                ],
                what="live",
            )


# --- deleting a plugin ---------------------------------------------------------------------


def test_deleting_a_plugin_cancels_its_unfinished_jobs(
    client: TestClient,
    hub: Hub,
    call: Callable[..., Any],
    acme: Owner,
    globex: Owner,
    make_plugin: MakePlugin,
) -> None:
    plugin = make_plugin(acme, public=True, listed=True)
    installer = call(hub.accounts.authenticate_api_key, globex.api_key)
    call(hub.directory.install, installer, plugin["id"])
    own = submit(client, acme, plugin["id"])
    theirs = submit(client, globex, plugin["id"])
    assert (own.status_code, theirs.status_code) == (202, 202)
    assert client.get("/healthz").json()["active_jobs"] == 2

    deleted = client.delete(f"/api/v1/plugins/{plugin['id']}", headers=acme.headers)
    assert deleted.status_code == 204, deleted.text
    for owner, submitted in ((acme, own), (globex, theirs)):
        ended = job(client, owner, submitted.json()["id"])
        assert ended["status"] == "cancelled"
        assert "the plugin was deleted" in ended["error"]["message"]
    assert client.get("/healthz").json()["active_jobs"] == 0
