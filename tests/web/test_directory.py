"""The directory (install, clone) and version pins, through the dashboard's pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient, WebSocketTestSession

from hub.db import PluginInstall
from hub.runtime import Hub
from tests.hub.conftest import Owner, connect  # noqa: F401 (connect: fixture)
from tests.hub.test_gateway import say_hello
from tests.web.conftest import WebUser

pytestmark = pytest.mark.timeout(30)

API = "/api/v1"

MakePlugin = Callable[..., dict[str, Any]]
SignIn = Callable[[Owner], WebUser]
Call = Callable[..., Any]
Connect = Callable[..., WebSocketTestSession]

DEFINITION: dict[str, Any] = {
    "name": "Face finder",
    "type": "model",
    "description": "Finds <b>faces</b>",
    "details": "# Faces\n\nIt finds them.",
    "banner_url": "https://example.com/banner.png",
    "class_names": ["face", "eye"],
    "default_config": {"threshold": 0.5},
    "config_schema": {
        "type": "object",
        "properties": {"threshold": {"type": "number", "minimum": 0, "maximum": 1}},
    },
    "job_timeout_s": 120.0,
}


def entry_ids(page_html: str) -> set[str]:
    return set(re.findall(r'data-directory-entry="([^"]+)"', page_html))


def submit(client: TestClient, owner: Owner, plugin_id: str, **body: Any) -> Any:
    return client.post(f"{API}/plugins/{plugin_id}/jobs", headers=owner.headers, json=body)


def usable_ids(call: Call, hub: Hub, owner: Owner) -> set[str]:
    return {p.id for p in call(hub.plugins.usable_plugins, owner.organization_id)}


def required_version(hub: Hub, job_id: str) -> str | None:
    active = hub.jobs.active(job_id)
    assert active is not None, f"job {job_id} is not active"
    return active.required_version


@pytest.fixture
def public(acme: Owner, make_plugin: MakePlugin) -> dict[str, Any]:
    """acme's plugin for everyone: public and listed."""
    return make_plugin(acme, name="public tool", public=True, listed=True)


@pytest.fixture
def installed(
    public: dict[str, Any], globex: Owner, web_user: SignIn
) -> tuple[dict[str, Any], WebUser]:
    """acme's public plugin, installed by globex; and globex's browser."""
    user = web_user(globex)
    response = user.post(f"/directory/{public['id']}/install")
    assert response.status_code == 303, response.text
    return public, user


# --- what the directory shows ----------------------------------------------------------------


def test_directory_lists_own_listed_and_others_public_listed_plugins(
    acme: Owner, globex: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    acme_plugins = {
        (public, listed): make_plugin(acme, public=public, listed=listed)["id"]
        for public in (False, True)
        for listed in (False, True)
    }
    globex_private = make_plugin(globex, name="globex own", listed=True)["id"]
    globex_unlisted = make_plugin(globex, name="globex hidden")["id"]

    seen_by_globex = web_user(globex).get("/directory")
    assert seen_by_globex.status_code == 200
    assert entry_ids(seen_by_globex.text) == {acme_plugins[True, True], globex_private}
    assert globex_unlisted not in seen_by_globex.text
    assert "by acme" in seen_by_globex.text

    seen_by_acme = web_user(acme).get("/directory")
    assert entry_ids(seen_by_acme.text) == {acme_plugins[False, True], acme_plugins[True, True]}


def test_private_or_unlisted_plugins_of_others_are_not_found(
    acme: Owner, globex: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    user = web_user(globex)
    for fields in ({}, {"listed": True}, {"public": True}):
        plugin_id = make_plugin(acme, **fields)["id"]
        assert user.get(f"/directory/{plugin_id}").status_code == 404
        assert user.post(f"/directory/{plugin_id}/install").status_code == 404
        assert user.post(f"/directory/{plugin_id}/clone").status_code == 404
        assert user.get(f"/plugins/{plugin_id}").status_code == 404


def test_description_is_text_and_details_are_markdown(
    acme: Owner, globex: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme, public=True, listed=True, **{**DEFINITION, "type": "custom"})
    user = web_user(globex)
    listing = user.get("/directory").text
    assert "Finds &lt;b&gt;faces&lt;/b&gt;" in listing
    assert "<b>faces</b>" not in listing
    detail = user.get(f"/directory/{plugin['id']}")
    assert detail.status_code == 200
    assert "<h1>Faces</h1>" in detail.text
    assert "Finds &lt;b&gt;faces&lt;/b&gt;" in detail.text


# --- install ---------------------------------------------------------------------------------


def test_an_installed_plugin_runs_the_installers_jobs_on_the_owners_process(
    client: TestClient,
    hub: Hub,
    acme: Owner,
    globex: Owner,
    installed: tuple[dict[str, Any], WebUser],
    connect: Connect,  # noqa: F811
) -> None:
    plugin, user = installed
    listing = user.get("/directory").text
    assert "Installed" in listing
    assert f'data-live-plugin="{plugin["id"]}"' in listing  # its light follows live state

    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws, capacity=1)
        response = submit(client, globex, plugin["id"], input={"x": 1})
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["organization_id"] == globex.organization_id
        message = ws.receive_json()
        assert (message["type"], message["job_id"]) == ("job", job["id"])

    assert client.get(f"{API}/jobs/{job['id']}", headers=globex.headers).status_code == 200
    assert client.get(f"{API}/jobs/{job['id']}", headers=acme.headers).status_code == 404
    acme_jobs = client.get(f"{API}/jobs", headers=acme.headers).json()["items"]
    assert job["id"] not in {j["id"] for j in acme_jobs}
    assert job["id"] in user.get("/jobs").text


def test_installing_makes_a_plugin_visible_and_usable_only_for_the_installer(
    call: Call,
    client: TestClient,
    hub: Hub,
    acme: Owner,
    globex: Owner,
    public: dict[str, Any],
    web_user: SignIn,
) -> None:
    assert submit(client, globex, public["id"]).status_code == 404
    assert public["id"] not in usable_ids(call, hub, globex)
    user = web_user(globex)
    assert user.post(f"/directory/{public['id']}/install").headers["location"] == (
        f"/directory/{public['id']}"
    )
    assert public["id"] in usable_ids(call, hub, globex)
    assert submit(client, globex, public["id"]).status_code == 202
    # Still the owner's alone to change: its plugin page sends the installer to the directory.
    assert user.get(f"/plugins/{public['id']}").headers["location"] == f"/directory/{public['id']}"
    assert user.get(f"/plugins/{public['id']}/edit").status_code == 404
    assert user.post(f"/plugins/{public['id']}/rotate-secret").status_code == 404
    change = client.patch(
        f"{API}/plugins/{public['id']}", headers=globex.headers, json={"name": "mine now"}
    )
    assert change.status_code == 404


def test_installing_ones_own_plugin_is_refused(
    acme: Owner, public: dict[str, Any], web_user: SignIn
) -> None:
    response = web_user(acme).post(f"/directory/{public['id']}/install")
    assert response.status_code == 409


def test_after_uninstalling_jobs_are_refused(
    client: TestClient,
    call: Call,
    hub: Hub,
    globex: Owner,
    installed: tuple[dict[str, Any], WebUser],
) -> None:
    plugin, user = installed
    done = submit(client, globex, plugin["id"]).json()
    assert user.post(f"/directory/{plugin['id']}/uninstall").status_code == 303
    assert submit(client, globex, plugin["id"]).status_code == 404
    assert plugin["id"] not in usable_ids(call, hub, globex)
    assert user.post(f"/directory/{plugin['id']}/uninstall").status_code == 404
    cancelled = client.post(f"{API}/jobs/{done['id']}/cancel", headers=globex.headers)
    assert cancelled.status_code == 202
    retried = client.post(f"{API}/jobs/{done['id']}/retry", headers=globex.headers)
    assert retried.status_code == 404


def test_a_plugin_made_private_stops_working_for_its_installers(
    client: TestClient,
    call: Call,
    hub: Hub,
    acme: Owner,
    globex: Owner,
    installed: tuple[dict[str, Any], WebUser],
) -> None:
    plugin, user = installed
    made_private = client.patch(
        f"{API}/plugins/{plugin['id']}", headers=acme.headers, json={"public": False}
    )
    assert made_private.status_code == 200
    assert submit(client, globex, plugin["id"]).status_code == 404
    assert plugin["id"] not in usable_ids(call, hub, globex)
    assert user.get(f"/directory/{plugin['id']}").status_code == 404
    assert user.post(f"/directory/{plugin['id']}/pin", {"version": "1.0"}).status_code == 404
    assert submit(client, acme, plugin["id"]).status_code == 202  # the owner's still runs


def test_an_installed_plugin_that_is_unlisted_stays_usable_and_manageable(
    client: TestClient, acme: Owner, globex: Owner, installed: tuple[dict[str, Any], WebUser]
) -> None:
    plugin, user = installed
    client.patch(f"{API}/plugins/{plugin['id']}", headers=acme.headers, json={"listed": False})
    assert submit(client, globex, plugin["id"]).status_code == 202
    assert plugin["id"] in entry_ids(user.get("/directory").text)


# --- clone -----------------------------------------------------------------------------------


def test_clone_copies_the_definition_with_a_new_id_and_secret(
    client: TestClient,
    call: Call,
    hub: Hub,
    acme: Owner,
    globex: Owner,
    make_plugin: MakePlugin,
    web_user: SignIn,
) -> None:
    original = make_plugin(acme, public=True, listed=True, **DEFINITION)
    response = web_user(globex).post(f"/directory/{original['id']}/clone")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    new_id = re.search(r'<code id="plugin-id">([^<]+)</code>', response.text)
    secret = re.search(r'<code id="plugin-secret" data-secret>([^<]+)</code>', response.text)
    assert new_id
    assert secret
    assert new_id[1] != original["id"]
    assert secret[1] != original["secret"]

    copy = client.get(f"{API}/plugins/{new_id[1]}", headers=globex.headers).json()
    assert {name: copy[name] for name in DEFINITION} == DEFINITION
    assert (copy["organization_id"], copy["public"], copy["listed"]) == (
        globex.organization_id,
        False,
        False,
    )
    authenticated = call(hub.plugins.authenticate, new_id[1], secret[1])
    assert authenticated is not None
    assert authenticated.id == new_id[1]
    assert call(hub.plugins.authenticate, new_id[1], original["secret"]) is None

    unchanged = client.get(f"{API}/plugins/{original['id']}", headers=acme.headers).json()
    assert unchanged["organization_id"] == acme.organization_id
    assert {name: unchanged[name] for name in DEFINITION} == DEFINITION
    assert call(hub.plugins.authenticate, original["id"], original["secret"]) is not None


# --- version pins ----------------------------------------------------------------------------


def test_the_owner_pins_on_the_plugin_page_and_new_jobs_carry_the_pin(
    client: TestClient,
    hub: Hub,
    acme: Owner,
    make_plugin: MakePlugin,
    web_user: SignIn,
    connect: Connect,  # noqa: F811
) -> None:
    plugin = make_plugin(acme)
    user = web_user(acme)
    before = submit(client, acme, plugin["id"]).json()
    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws, plugin_version="1.0", capacity=1)
        ws.receive_json()  # the job queued before the pin: any version may run it
        page = user.get(f"/plugins/{plugin['id']}").text
        assert '<option value="1.0"' in page
        assert 'value="" selected>Any version' in page

        response = user.post(f"/plugins/{plugin['id']}/pin", {"version": "2.0"})
        assert response.status_code == 303
        assert response.headers["location"] == f"/plugins/{plugin['id']}"
        page = user.get(f"/plugins/{plugin['id']}").text
        assert '<option value="2.0" selected>2.0 (not live)</option>' in page
        assert "data-pin-waiting" in page

        after = submit(client, acme, plugin["id"]).json()
        assert required_version(hub, after["id"]) == "2.0"
        assert required_version(hub, before["id"]) is None
    assert user.post(f"/plugins/{plugin['id']}/pin", {"version": ""}).status_code == 303
    again = submit(client, acme, plugin["id"]).json()
    assert required_version(hub, again["id"]) is None


def test_an_installer_pins_its_own_version_apart_from_the_owner(
    client: TestClient,
    hub: Hub,
    acme: Owner,
    globex: Owner,
    web_user: SignIn,
    installed: tuple[dict[str, Any], WebUser],
) -> None:
    plugin, user = installed
    assert web_user(acme).post(f"/plugins/{plugin['id']}/pin", {"version": "1.0"}).status_code == (
        303
    )
    response = user.post(f"/directory/{plugin['id']}/pin", {"version": "2.0"})
    assert response.status_code == 303
    assert "selected>2.0 (not live)" in user.get("/directory").text
    globex_job = submit(client, globex, plugin["id"]).json()
    acme_job = submit(client, acme, plugin["id"]).json()
    assert required_version(hub, globex_job["id"]) == "2.0"
    assert required_version(hub, acme_job["id"]) == "1.0"


def test_a_pinned_batch_run_gives_its_pin_to_its_chunks(
    client: TestClient, hub: Hub, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = client.post(
        f"{API}/projects", headers=acme.headers, json={"name": "p", "categories": []}
    ).json()
    assets = [{"url": f"https://example.com/{n}.jpg", "width": 1, "height": 1} for n in range(3)]
    added = client.post(
        f"{API}/projects/{project['id']}/assets", headers=acme.headers, json={"assets": assets}
    )
    assert added.status_code == 201, added.text
    plugin = make_plugin(acme, type="batch_model")
    web_user(acme).post(f"/plugins/{plugin['id']}/pin", {"version": "2.0"})
    run = submit(
        client, acme, plugin["id"], project_id=project["id"], config={"chunk_size": 1}
    ).json()
    jobs = client.get(
        f"{API}/jobs", headers=acme.headers, params={"plugin_id": plugin["id"]}
    ).json()["items"]
    chunks = [j["id"] for j in jobs if j["operation"] == "chunk"]
    assert len(chunks) == 3
    assert [required_version(hub, c) for c in [run["id"], *chunks]] == ["2.0"] * 4


def test_a_pin_is_only_for_plugins_one_uses(
    acme: Owner,
    globex: Owner,
    make_plugin: MakePlugin,
    public: dict[str, Any],
    web_user: SignIn,
    call: Call,
    hub: Hub,
) -> None:
    private = make_plugin(acme)
    user = web_user(globex)
    for plugin_id in (private["id"], public["id"]):  # another's; public but not installed
        assert user.post(f"/plugins/{plugin_id}/pin", {"version": "2.0"}).status_code == 404
        assert user.post(f"/directory/{plugin_id}/pin", {"version": "2.0"}).status_code == 404
    owner_pins = [
        call(hub.plugins.usable_with_pin, acme.organization_id, p["id"])[1]
        for p in (private, public)
    ]
    assert owner_pins == [None, None]


def test_a_pin_longer_than_a_version_can_be_is_refused(
    acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme)
    response = web_user(acme).post(f"/plugins/{plugin['id']}/pin", {"version": "9" * 101})
    assert response.status_code == 422


# --- forms without their CSRF token ----------------------------------------------------------


@pytest.mark.parametrize("action", ["install", "uninstall", "clone", "pin"])
def test_directory_forms_without_a_csrf_token_are_refused(
    action: str,
    client: TestClient,
    call: Call,
    hub: Hub,
    globex: Owner,
    installed: tuple[dict[str, Any], WebUser],
) -> None:
    plugin, user = installed
    response = user.post(f"/directory/{plugin['id']}/{action}", {"version": "2.0"}, csrf="")
    assert response.status_code == 403
    assert "security token" in response.text
    # Nothing changed: still installed once, not pinned, no clone.
    assert call(_install_count, hub, globex.organization_id) == 1
    assert call(hub.plugins.usable_with_pin, globex.organization_id, plugin["id"])[1] is None
    assert client.get(f"{API}/plugins", headers=globex.headers).json()["items"] == []


def test_the_pin_form_without_a_csrf_token_is_refused(
    call: Call, hub: Hub, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme)
    response = web_user(acme).post(f"/plugins/{plugin['id']}/pin", {"version": "2.0"}, csrf="")
    assert response.status_code == 403
    assert call(hub.plugins.usable_with_pin, acme.organization_id, plugin["id"])[1] is None


# --- helpers that read the hub directly ------------------------------------------------------


async def _install_count(hub: Hub, organization_id: str) -> int:
    async with hub.store.read() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(PluginInstall)
            .where(PluginInstall.organization_id == organization_id)
        )
    return int(count or 0)


def test_an_installed_plugin_runs_from_the_installers_pages(
    client: TestClient, acme: Owner, globex: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    shared = make_plugin(acme, name="Shared counter", public=True, listed=True)
    user = web_user(globex)
    assert user.get(f"/plugins/{shared['id']}/run").status_code == 404  # not installed yet
    user.post(f"/directory/{shared['id']}/install")
    assert "Shared counter" in user.get(f"/plugins/{shared['id']}/run").text
    ran = user.post(f"/plugins/{shared['id']}/run", {"config": '{"n": 3}', "input": "{}"})
    assert ran.status_code == 303, ran.text
    job_id = ran.headers["location"].rsplit("/", 1)[1]
    job = client.get(f"{API}/jobs/{job_id}", headers=globex.headers).json()
    assert job["config"] == {"n": 3}
    assert job["organization_id"] == globex.organization_id
    # The installer's job list names the plugin and offers it as a filter.
    jobs_page = user.get("/jobs").text
    assert jobs_page.count("Shared counter") >= 2
