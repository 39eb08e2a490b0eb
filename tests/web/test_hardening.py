"""Defects a second read of the dashboard found, each pinned by a test: process details of
installed plugins, odd event ids, bodies read twice, non-ASCII tokens, unbounded form
bodies, double installs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession

from hub.runtime import Hub
from hub.services.accounts import Principal
from hub.web import events
from tests.hub.conftest import Owner, TestClient, connect, wait_until  # noqa: F401 (connect)
from tests.hub.test_gateway import say_hello
from tests.timing import PATIENCE
from tests.web.conftest import WebUser

pytestmark = pytest.mark.timeout(30)

MakePlugin = Callable[..., dict[str, Any]]
SignIn = Callable[[Owner], WebUser]
Connect = Callable[..., WebSocketTestSession]


def _finished_job(client: TestClient, owner: Owner, user: WebUser, plugin_id: str) -> str:
    response = client.post(
        f"/api/v1/plugins/{plugin_id}/jobs", headers=owner.headers, json={"config": {}}
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    assert user.post(f"/jobs/{job_id}/cancel").status_code == 303
    return job_id


# --- cross-organization ----------------------------------------------------------------------


# The raw client below sends no heartbeats: with the suite's 0.2 s interval the hub would close
# it after half a second, and on a loaded machine the stream could be read after that, when
# there is nothing left to leak. A long interval keeps it live for the whole test (the lease,
# 30 s by default, must stay longer than the interval).
@pytest.mark.parametrize("settings_overrides", [{"heartbeat_interval": PATIENCE / 2}])
def test_plugin_events_do_not_show_another_organizations_processes(
    client: TestClient,
    hub: Hub,
    acme: Owner,
    globex: Owner,
    make_plugin: MakePlugin,
    web_user: SignIn,
    connect: Connect,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "STREAM_LIFETIME", 0.0)  # one snapshot, then the stream ends
    plugin = make_plugin(acme, name="public tool", public=True, listed=True)
    installer = web_user(globex)
    assert installer.post(f"/directory/{plugin['id']}/install").status_code == 303
    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws, hostname="acme-build-07.corp.internal", pid=31337, capacity=1)
        wait_until(lambda: hub.live.is_live(plugin["id"]), what="acme's process")
        stream = installer.get("/events/plugins")
        assert stream.status_code == 200
        assert plugin["id"] in stream.text  # globex may follow the light...
        # ...but acme's machines and process ids are acme's business (no page of globex's
        # shows them; the REST API never does).
        assert "acme-build-07.corp.internal" not in stream.text
        assert "31337" not in stream.text
        assert hub.live.is_live(plugin["id"])  # it was there to leak while the stream ran


# --- crashes on odd input --------------------------------------------------------------------


def test_job_events_with_a_huge_last_event_id_do_not_crash(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    user = web_user(acme)
    job_id = _finished_job(client, acme, user, make_plugin(acme)["id"])
    stream = user.get(f"/jobs/{job_id}/events", headers={"last-event-id": "9" * 20})
    assert stream.status_code == 200
    assert "event: end" in stream.text


@pytest.mark.parametrize("helper", ["run/preview", "run/csv?filename=a.csv", "explore"])
def test_json_helpers_posted_as_a_form_are_not_a_500(
    acme: Owner, make_plugin: MakePlugin, web_user: SignIn, helper: str
) -> None:
    plugin_type = "file_explorer" if helper == "explore" else "markdown"
    plugin = make_plugin(acme, type=plugin_type)
    user = web_user(acme)
    response = user.post(f"/plugins/{plugin['id']}/{helper}", {"template": "x"})
    assert response.status_code in (400, 403, 415, 422), response.text


def test_a_non_ascii_csrf_token_is_refused_not_a_500(client: TestClient) -> None:
    client.cookies.clear()
    response = client.post(
        "/signin",
        data={"email": "a@b.example", "password": "x", "csrf_token": "é"},
        follow_redirects=False,
    )
    assert response.status_code == 403


# --- resource use -----------------------------------------------------------------------------


def test_signin_refuses_a_huge_body_before_reading_it(client: TestClient) -> None:
    client.cookies.clear()
    response = client.post(
        "/signin",
        data={"email": "a@b.example", "password": "x"},
        files={"junk": ("junk.bin", b"\0" * (32 * 1024 * 1024), "application/octet-stream")},
        follow_redirects=False,
    )
    assert response.status_code == 413


# --- races -------------------------------------------------------------------------------------


def test_installing_twice_at_once_is_not_an_integrity_error(
    hub: Hub, call: Callable[..., Any], acme: Owner, globex: Owner, make_plugin: MakePlugin
) -> None:
    plugin = make_plugin(acme, public=True, listed=True)
    installer = Principal(globex.user_id, globex.organization_id, "owner")

    async def install_twice() -> list[Any]:
        return list(
            await asyncio.gather(
                hub.directory.install(installer, plugin["id"]),
                hub.directory.install(installer, plugin["id"]),
                return_exceptions=True,
            )
        )

    results = call(install_twice)
    assert not [r for r in results if isinstance(r, BaseException)], results
