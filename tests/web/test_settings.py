"""Settings pages: members and roles, API keys, across organizations, with CSRF."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from hub.runtime import Hub
from hub.services.accounts import Principal
from tests.web.conftest import PASSWORD, Owner, TestClient, WebUser

Call = Callable[..., Any]
_KEY = re.compile(r'<code id="api-key" data-secret>([^<]+)</code>')


def join(call: Call, hub: Hub, email: str, role: str, org: str = "acme") -> Principal:
    created = call(
        hub.accounts.create_user, email=email, password=PASSWORD, organization=org, role=role
    )
    principal: Principal = created.principal
    return principal


def role_of(call: Call, hub: Hub, org: Owner, email: str) -> str | None:
    principal = Principal(org.user_id, org.organization_id, "owner")
    return {m.email: m.role for m in call(hub.accounts.members, principal)}.get(email)


def key_ids(call: Call, hub: Hub, principal: Principal) -> list[str]:
    return [key.id for key in call(hub.accounts.api_keys, principal)]


def plugins_status(client: TestClient, api_key: str) -> int:
    headers = {"Authorization": f"Bearer {api_key}"}
    return client.get("/api/v1/plugins", headers=headers).status_code


@pytest.fixture
def owner(acme: Owner, web_user: Callable[[Owner], WebUser]) -> WebUser:
    return web_user(acme)


def test_settings_opens_on_members(owner: WebUser) -> None:
    response = owner.get("/settings")
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/members"
    page = owner.get("/settings/members").text
    assert 'href="/settings/api-keys"' in page
    assert "owner@acme.example" in page


def test_owner_adds_a_member_and_an_admin_who_can_sign_in(
    client: TestClient, call: Call, hub: Hub, acme: Owner, owner: WebUser
) -> None:
    form = owner.get("/settings/members").text
    for label in ("Email", "Password", "Role"):
        assert f">{label}</label>" in form
    for email, role in (("mia@acme.example", "member"), ("ada@acme.example", "admin")):
        response = owner.post(
            "/settings/members", {"email": email, "password": PASSWORD, "role": role}
        )
        assert response.status_code == 303
        assert role_of(call, hub, acme, email) == role
    page = owner.get("/settings/members").text
    assert "mia@acme.example" in page
    assert "ada@acme.example" in page
    mia = WebUser(client, "mia@acme.example")
    assert mia.get("/settings/members").status_code == 200


def test_add_member_errors_come_back_on_the_form(
    call: Call, hub: Hub, acme: Owner, globex: Owner, owner: WebUser
) -> None:
    taken = owner.post(
        "/settings/members",
        {"email": "owner@globex.example", "password": PASSWORD, "role": "member"},
    )
    assert taken.status_code == 409
    assert "already exists" in taken.text
    short = owner.post(
        "/settings/members",
        {"email": "new@acme.example", "password": "hunter2", "role": "admin"},
    )
    assert short.status_code == 422
    assert "at least 8 characters" in short.text
    assert 'value="new@acme.example"' in short.text
    assert 'value="admin" selected' in short.text
    assert "hunter2" not in short.text
    assert role_of(call, hub, acme, "new@acme.example") is None


def test_member_text_is_escaped(owner: WebUser) -> None:
    email = "<b>x</b>@acme.example"
    assert (
        owner.post(
            "/settings/members", {"email": email, "password": PASSWORD, "role": "member"}
        ).status_code
        == 303
    )
    page = owner.get("/settings/members").text
    assert "&lt;b&gt;x&lt;/b&gt;@acme.example" in page
    assert "<b>x</b>" not in page


def test_owner_changes_a_role(call: Call, hub: Hub, acme: Owner, owner: WebUser) -> None:
    member = join(call, hub, "mia@acme.example", "member")
    response = owner.post(f"/settings/members/{member.user_id}/role", {"role": "admin"})
    assert response.status_code == 303
    assert role_of(call, hub, acme, "mia@acme.example") == "admin"


def test_members_cannot_manage_members(
    client: TestClient, call: Call, hub: Hub, acme: Owner
) -> None:
    other = join(call, hub, "other@acme.example", "member")
    join(call, hub, "mia@acme.example", "member")
    mia = WebUser(client, "mia@acme.example")
    page = mia.get("/settings/members").text
    assert "other@acme.example" in page
    assert "Change role" not in page
    assert 'action="/settings/members"' not in page
    added = mia.post(
        "/settings/members", {"email": "x@acme.example", "password": PASSWORD, "role": "member"}
    )
    assert added.status_code == 403
    assert role_of(call, hub, acme, "x@acme.example") is None
    changed = mia.post(f"/settings/members/{other.user_id}/role", {"role": "admin"})
    assert changed.status_code == 403
    assert mia.post(f"/settings/members/{other.user_id}/remove").status_code == 403
    assert role_of(call, hub, acme, "other@acme.example") == "member"


def test_admins_cannot_make_or_touch_owners(
    client: TestClient, call: Call, hub: Hub, acme: Owner
) -> None:
    member = join(call, hub, "mia@acme.example", "member")
    join(call, hub, "ada@acme.example", "admin")
    ada = WebUser(client, "ada@acme.example")
    page = ada.get("/settings/members").text
    assert '<option value="owner"' not in page
    assert f"/settings/members/{acme.user_id}/remove" not in page
    made = ada.post(
        "/settings/members", {"email": "boss@acme.example", "password": PASSWORD, "role": "owner"}
    )
    assert made.status_code == 403
    assert role_of(call, hub, acme, "boss@acme.example") is None
    promoted = ada.post(f"/settings/members/{member.user_id}/role", {"role": "owner"})
    assert promoted.status_code == 403
    assert ada.post(f"/settings/members/{acme.user_id}/role", {"role": "member"}).status_code == 403
    removed = ada.post(f"/settings/members/{acme.user_id}/remove")
    assert removed.status_code == 403
    assert "only an owner" in removed.text
    assert role_of(call, hub, acme, "owner@acme.example") == "owner"
    # What admins may do: manage members and admins.
    assert (
        ada.post(f"/settings/members/{member.user_id}/role", {"role": "admin"}).status_code == 303
    )
    assert role_of(call, hub, acme, "mia@acme.example") == "admin"


def test_the_last_owner_cannot_step_down(call: Call, hub: Hub, acme: Owner, owner: WebUser) -> None:
    response = owner.post(f"/settings/members/{acme.user_id}/role", {"role": "member"})
    assert response.status_code == 403
    assert "last owner" in response.text
    assert role_of(call, hub, acme, "owner@acme.example") == "owner"
    assert owner.post(f"/settings/members/{acme.user_id}/remove").status_code == 403


def test_removing_a_member_ends_their_session_and_keys(
    client: TestClient, call: Call, hub: Hub, acme: Owner, owner: WebUser
) -> None:
    created = call(
        hub.accounts.create_user,
        email="mia@acme.example",
        password=PASSWORD,
        organization="acme",
        role="member",
    )
    mia = WebUser(client, "mia@acme.example")
    assert mia.get("/plugins").status_code == 200
    assert plugins_status(client, created.api_key) == 200

    response = owner.post(f"/settings/members/{created.principal.user_id}/remove")
    assert response.status_code == 303
    assert "mia@acme.example" not in owner.get("/settings/members").text
    after = mia.get("/plugins")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/signin")
    assert plugins_status(client, created.api_key) == 401


def test_create_an_api_key_shown_once_that_works(client: TestClient, owner: WebUser) -> None:
    assert ">Name</label>" in owner.get("/settings/api-keys").text
    response = owner.post("/settings/api-keys", {"name": "CI pipeline"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    match = _KEY.search(response.text)
    assert match, response.text
    api_key = match.group(1)
    assert 'data-copy="api-key"' in response.text
    assert plugins_status(client, api_key) == 200
    listing = owner.get("/settings/api-keys").text
    assert "CI pipeline" in listing
    assert api_key not in listing


def test_an_api_key_needs_a_name(call: Call, hub: Hub, acme: Owner, owner: WebUser) -> None:
    response = owner.post("/settings/api-keys", {"name": "  "})
    assert response.status_code == 422
    assert "name" in response.text
    assert len(key_ids(call, hub, Principal(acme.user_id, acme.organization_id, "owner"))) == 1


def test_revoking_a_key_stops_it(
    client: TestClient, call: Call, hub: Hub, acme: Owner, owner: WebUser
) -> None:
    principal = Principal(acme.user_id, acme.organization_id, "owner")
    [first_key] = key_ids(call, hub, principal)
    assert "Active" in owner.get("/settings/api-keys").text
    response = owner.post(f"/settings/api-keys/{first_key}/revoke")
    assert response.status_code == 303
    assert plugins_status(client, acme.api_key) == 401
    page = owner.get("/settings/api-keys").text
    assert "Revoked" in page
    assert f"/settings/api-keys/{first_key}/revoke" not in page


def test_members_manage_their_own_keys_only(
    client: TestClient, call: Call, hub: Hub, acme: Owner
) -> None:
    join(call, hub, "mia@acme.example", "member")
    mia = WebUser(client, "mia@acme.example")
    created = mia.post("/settings/api-keys", {"name": "mia laptop"})
    assert created.status_code == 200
    page = mia.get("/settings/api-keys").text
    assert "mia laptop" in page
    assert "first key" in page  # mia's own, from create_user
    owners_key = key_ids(call, hub, Principal(acme.user_id, acme.organization_id, "owner"))[0]
    assert owners_key not in page
    assert mia.post(f"/settings/api-keys/{owners_key}/revoke").status_code == 404
    assert plugins_status(client, acme.api_key) == 200


def test_another_organization_cannot_see_or_touch_members_or_keys(
    client: TestClient,
    call: Call,
    hub: Hub,
    acme: Owner,
    globex: Owner,
    web_user: Callable[[Owner], WebUser],
) -> None:
    member = join(call, hub, "mia@acme.example", "member")
    acme_key = key_ids(call, hub, Principal(acme.user_id, acme.organization_id, "owner"))[0]
    intruder = web_user(globex)
    members_page = intruder.get("/settings/members").text
    keys_page = intruder.get("/settings/api-keys").text
    assert "acme.example" not in members_page
    assert acme_key not in keys_page
    for path, data in (
        (f"/settings/members/{member.user_id}/role", {"role": "admin"}),
        (f"/settings/members/{acme.user_id}/role", {"role": "member"}),
        (f"/settings/members/{member.user_id}/remove", {}),
        (f"/settings/api-keys/{acme_key}/revoke", {}),
    ):
        assert intruder.post(path, data).status_code == 404, path
    assert role_of(call, hub, acme, "mia@acme.example") == "member"
    assert role_of(call, hub, acme, "owner@acme.example") == "owner"
    assert plugins_status(client, acme.api_key) == 200


def test_every_settings_form_needs_the_csrf_token(
    client: TestClient, call: Call, hub: Hub, acme: Owner, owner: WebUser
) -> None:
    member = join(call, hub, "mia@acme.example", "member")
    acme_key = key_ids(call, hub, Principal(acme.user_id, acme.organization_id, "owner"))[0]
    new_member = {"email": "x@acme.example", "password": PASSWORD, "role": "member"}
    for path, data in (
        ("/settings/members", new_member),
        (f"/settings/members/{member.user_id}/role", {"role": "admin"}),
        (f"/settings/members/{member.user_id}/remove", {}),
        ("/settings/api-keys", {"name": "sneaky"}),
        (f"/settings/api-keys/{acme_key}/revoke", {}),
    ):
        assert owner.post(path, data, csrf="").status_code == 403, path
    assert role_of(call, hub, acme, "x@acme.example") is None
    assert role_of(call, hub, acme, "mia@acme.example") == "member"
    assert "sneaky" not in owner.get("/settings/api-keys").text
    assert plugins_status(client, acme.api_key) == 200
