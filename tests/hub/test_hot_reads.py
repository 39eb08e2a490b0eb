"""What the hot paths keep in memory (hub.services.read_cache) never outlives the write that
changes it, and a long poll on a job answers once the job ended."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse, WebSocketTestSession

from hub.runtime import Hub
from hub.services.accounts import Principal
from hub.services.read_cache import ReadCache
from tests.hub.conftest import Owner
from tests.hub.test_gateway import say_hello
from tests.timing import PATIENCE

pytestmark = pytest.mark.timeout(60)

MakePlugin = Callable[..., dict[str, Any]]
Connect = Callable[..., WebSocketTestSession]
Call = Callable[..., Any]


# --- the cache itself ----------------------------------------------------------------------


def test_an_answer_read_before_a_clear_is_not_kept() -> None:
    cache: ReadCache[str, int] = ReadCache()
    generation = cache.generation  # a read starts...
    cache.clear()  # ...a write commits meanwhile...
    cache.put("k", 1, generation)  # ...and the read's old answer arrives
    assert cache.get("k") is None
    cache.put("k", 2, cache.generation)
    assert cache.get("k") == 2


def test_an_untrusted_cache_answers_nothing_and_keeps_nothing() -> None:
    trusted = False
    cache: ReadCache[str, int] = ReadCache()
    cache.trusted = lambda: trusted
    cache.put("k", 1, cache.generation)
    assert cache.get("k") is None
    trusted = True
    assert cache.get("k") is None


def test_answers_expire_after_their_max_age() -> None:
    cache: ReadCache[str, int] = ReadCache(max_age=0)
    cache.put("k", 1, cache.generation)
    assert cache.get("k") is None


# --- writes that clear it ------------------------------------------------------------------


def test_a_revoked_key_stops_working_at_its_next_request(
    client: TestClient, hub: Hub, call: Call, acme: Owner
) -> None:
    for _ in range(2):  # the second answer comes from the cache
        assert client.get("/api/v1/plugins", headers=acme.headers).status_code == 200
    principal = Principal(acme.user_id, acme.organization_id, "owner")
    [key] = call(hub.accounts.api_keys, principal)
    call(hub.accounts.revoke_api_key, principal, key.id)
    assert client.get("/api/v1/plugins", headers=acme.headers).status_code == 401


def test_a_role_change_applies_to_the_next_request(hub: Hub, call: Call, acme: Owner) -> None:
    owner = Principal(acme.user_id, acme.organization_id, "owner")
    member = call(
        hub.accounts.add_member, owner, email="m@acme.example", password="pw-12345678", role="admin"
    )
    key = call(
        hub.accounts.create_api_key, Principal(member.id, acme.organization_id, "admin"), name="k"
    )
    for _ in range(2):  # the second answer comes from the cache
        assert call(hub.accounts.authenticate_api_key, key).role == "admin"
    call(hub.accounts.set_role, owner, member.id, "member")
    assert call(hub.accounts.authenticate_api_key, key).role == "member"


def test_a_rotated_secret_is_refused_at_the_next_handshake(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, connect: Connect
) -> None:
    plugin = make_plugin(acme)
    with connect(plugin["id"], plugin["secret"]) as ws:  # the plugin is cached now
        say_hello(ws)
    rotated = client.post(f"/api/v1/plugins/{plugin['id']}/secret", headers=acme.headers)
    assert rotated.status_code == 200
    with pytest.raises(WebSocketDenialResponse), connect(plugin["id"], plugin["secret"]):
        pass
    with connect(plugin["id"], rotated.json()["secret"]) as ws:
        say_hello(ws)


def test_a_pin_change_applies_to_the_next_submit(
    client: TestClient, hub: Hub, call: Call, acme: Owner, make_plugin: MakePlugin
) -> None:
    plugin = make_plugin(acme)
    submit = f"/api/v1/plugins/{plugin['id']}/jobs"
    first = client.post(submit, headers=acme.headers, json={}).json()
    assert first["required_version"] is None
    call(hub.plugins.set_pin, acme.organization_id, plugin["id"], "2.0")
    assert client.post(submit, headers=acme.headers, json={}).json()["required_version"] == "2.0"


def test_a_deleted_plugin_takes_no_more_jobs(
    client: TestClient, acme: Owner, make_plugin: MakePlugin
) -> None:
    plugin = make_plugin(acme, default_config={"threshold": 0.5})
    submit = f"/api/v1/plugins/{plugin['id']}/jobs"
    job = client.post(submit, headers=acme.headers, json={}).json()
    assert job["config"] == {"threshold": 0.5}
    assert client.delete(f"/api/v1/plugins/{plugin['id']}", headers=acme.headers).status_code == 204
    assert client.post(submit, headers=acme.headers, json={}).status_code == 404


# --- long polls ----------------------------------------------------------------------------


def test_a_long_poll_answers_once_the_job_ended(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, connect: Connect
) -> None:
    plugin = make_plugin(acme)
    job = client.post(f"/api/v1/plugins/{plugin['id']}/jobs", headers=acme.headers, json={})
    job_id = job.json()["id"]
    answers: list[dict[str, Any]] = []
    poll = threading.Thread(
        target=lambda: answers.append(
            client.get(f"/api/v1/jobs/{job_id}?wait={PATIENCE}", headers=acme.headers).json()
        )
    )
    poll.start()
    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws)
        sent = ws.receive_json()
        assert sent["type"] == "job"
        ws.send_json({"type": "accepted", "job_id": job_id, "attempt": sent["attempt"]})
        ws.send_json(
            {"type": "result", "job_id": job_id, "attempt": sent["attempt"], "output": {"n": 1}}
        )
        poll.join(PATIENCE)
    assert [(a["status"], a["result"]) for a in answers] == [("succeeded", {"n": 1})]


def test_a_long_poll_on_a_job_that_cannot_run_answers_after_its_wait(
    client: TestClient, acme: Owner, make_plugin: MakePlugin
) -> None:
    plugin = make_plugin(acme)  # no process: the job stays queued
    job = client.post(f"/api/v1/plugins/{plugin['id']}/jobs", headers=acme.headers, json={})
    answer = client.get(f"/api/v1/jobs/{job.json()['id']}?wait=0.2", headers=acme.headers)
    assert (answer.status_code, answer.json()["status"]) == (200, "queued")


@pytest.mark.parametrize("wait", ["soon", "-1", "61", "nan"])
def test_a_wait_that_is_not_a_number_of_seconds_is_refused(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, wait: str
) -> None:
    plugin = make_plugin(acme)
    job = client.post(f"/api/v1/plugins/{plugin['id']}/jobs", headers=acme.headers, json={})
    answer = client.get(f"/api/v1/jobs/{job.json()['id']}?wait={wait}", headers=acme.headers)
    assert answer.status_code == 422, answer.text
    assert "wait must be" in answer.json()["error"]["message"]


def test_a_long_poll_on_another_organizations_job_is_not_found(
    client: TestClient, acme: Owner, globex: Owner, make_plugin: MakePlugin
) -> None:
    plugin = make_plugin(acme)
    job = client.post(f"/api/v1/plugins/{plugin['id']}/jobs", headers=acme.headers, json={})
    answer = client.get(f"/api/v1/jobs/{job.json()['id']}?wait=5", headers=globex.headers)
    assert answer.status_code == 404
