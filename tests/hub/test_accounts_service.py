"""AccountService's member and API key rules, called directly (no pages in between)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.runtime import Hub
from hub.services.accounts import Principal
from hub.services.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from tests.hub.conftest import Owner

PASSWORD = "correct horse battery staple"
Call = Callable[..., Any]


def owner_of(owner: Owner) -> Principal:
    return Principal(owner.user_id, owner.organization_id, "owner")


def join(call: Call, hub: Hub, email: str, role: str, org: str = "acme") -> Principal:
    created = call(
        hub.accounts.create_user, email=email, password=PASSWORD, organization=org, role=role
    )
    principal: Principal = created.principal
    return principal


def roles(call: Call, hub: Hub, principal: Principal) -> dict[str, str]:
    return {m.email: m.role for m in call(hub.accounts.members, principal)}


def test_members_lists_only_the_own_organization(
    call: Call, hub: Hub, acme: Owner, globex: Owner
) -> None:
    member = join(call, hub, "member@acme.example", "member")
    assert roles(call, hub, member) == {
        "owner@acme.example": "owner",
        "member@acme.example": "member",
    }
    assert roles(call, hub, owner_of(globex)) == {"owner@globex.example": "owner"}


def test_add_member_checks_its_input(call: Call, hub: Hub, acme: Owner, globex: Owner) -> None:
    owner = owner_of(acme)
    add = hub.accounts.add_member
    with pytest.raises(Invalid, match="at least 8"):
        call(add, owner, email="new@acme.example", password="short", role="member")
    with pytest.raises(Invalid, match="unknown role"):
        call(add, owner, email="new@acme.example", password=PASSWORD, role="boss")
    with pytest.raises(Invalid, match="not an email"):
        call(add, owner, email="new acme", password=PASSWORD, role="member")
    with pytest.raises(Conflict, match="already exists"):
        call(add, owner, email="Owner@Globex.example", password=PASSWORD, role="member")
    added = call(add, owner, email=" New@Acme.example ", password=PASSWORD, role="admin")
    assert (added.email, added.role) == ("new@acme.example", "admin")
    principal = call(hub.accounts.authenticate_password, "new@acme.example", PASSWORD)
    assert principal == Principal(added.id, acme.organization_id, "admin")


def test_create_user_still_reports_bad_input_as_conflict(call: Call, hub: Hub) -> None:
    with pytest.raises(Conflict, match="at least 8"):
        call(hub.accounts.create_user, email="a@b.example", password="short", organization="x")


def test_members_manage_nothing_but_see_the_list(call: Call, hub: Hub, acme: Owner) -> None:
    member = join(call, hub, "member@acme.example", "member")
    with pytest.raises(Forbidden):
        call(
            hub.accounts.add_member,
            member,
            email="x@acme.example",
            password=PASSWORD,
            role="member",
        )
    with pytest.raises(Forbidden):
        call(hub.accounts.set_role, member, acme.user_id, "member")
    with pytest.raises(Forbidden):
        call(hub.accounts.set_role, member, member.user_id, "admin")
    with pytest.raises(Forbidden):
        call(hub.accounts.remove_member, member, acme.user_id)
    assert len(call(hub.accounts.members, member)) == 2


def test_admins_never_touch_owners_nor_make_one(call: Call, hub: Hub, acme: Owner) -> None:
    admin = join(call, hub, "admin@acme.example", "admin")
    member = join(call, hub, "member@acme.example", "member")
    # A second owner, so the last-owner rule is not what stops the admin below.
    join(call, hub, "second@acme.example", "owner")
    add = hub.accounts.add_member
    with pytest.raises(Forbidden, match="only an owner"):
        call(add, admin, email="x@acme.example", password=PASSWORD, role="owner")
    with pytest.raises(Forbidden, match="only an owner"):
        call(hub.accounts.set_role, admin, member.user_id, "owner")
    with pytest.raises(Forbidden, match="only an owner"):
        call(hub.accounts.set_role, admin, acme.user_id, "member")
    with pytest.raises(Forbidden, match="only an owner"):
        call(hub.accounts.remove_member, admin, acme.user_id)
    assert roles(call, hub, admin)["owner@acme.example"] == "owner"
    assert call(hub.accounts.set_role, admin, member.user_id, "admin").role == "admin"
    call(add, admin, email="x@acme.example", password=PASSWORD, role="admin")
    assert roles(call, hub, admin)["x@acme.example"] == "admin"


def test_an_organization_keeps_an_owner(call: Call, hub: Hub, acme: Owner) -> None:
    owner = owner_of(acme)
    with pytest.raises(Forbidden, match="last owner"):
        call(hub.accounts.set_role, owner, acme.user_id, "admin")
    second = join(call, hub, "second@acme.example", "member")
    call(hub.accounts.set_role, owner, second.user_id, "owner")
    # With another owner in place, the first may step down.
    call(hub.accounts.set_role, owner, acme.user_id, "admin")
    assert roles(call, hub, owner)["owner@acme.example"] == "admin"


def test_nobody_removes_themselves(call: Call, hub: Hub, acme: Owner) -> None:
    join(call, hub, "second@acme.example", "owner")
    with pytest.raises(Forbidden, match="yourself"):
        call(hub.accounts.remove_member, owner_of(acme), acme.user_id)


def test_removal_takes_the_keys_and_sessions_with_it(call: Call, hub: Hub, acme: Owner) -> None:
    created = call(
        hub.accounts.create_user,
        email="gone@acme.example",
        password=PASSWORD,
        organization="acme",
        role="member",
    )
    token = call(hub.sessions.start, created.principal)
    assert call(hub.sessions.resolve, token) is not None
    call(hub.accounts.remove_member, owner_of(acme), created.principal.user_id)
    assert call(hub.sessions.resolve, token) is None
    with pytest.raises(Unauthenticated):
        call(hub.accounts.authenticate_api_key, created.api_key)
    assert "gone@acme.example" not in roles(call, hub, owner_of(acme))
    # The address is free again.
    call(
        hub.accounts.add_member,
        owner_of(acme),
        email="gone@acme.example",
        password=PASSWORD,
        role="member",
    )


def test_another_organizations_people_are_not_found(
    call: Call, hub: Hub, acme: Owner, globex: Owner
) -> None:
    intruder = owner_of(globex)
    with pytest.raises(NotFound):
        call(hub.accounts.set_role, intruder, acme.user_id, "member")
    with pytest.raises(NotFound):
        call(hub.accounts.remove_member, intruder, acme.user_id)
    assert roles(call, hub, owner_of(acme)) == {"owner@acme.example": "owner"}


def test_api_keys_are_each_persons_own(call: Call, hub: Hub, acme: Owner) -> None:
    owner = owner_of(acme)
    member = join(call, hub, "member@acme.example", "member")
    key = call(hub.accounts.create_api_key, member, name="  laptop ")
    mine = call(hub.accounts.api_keys, member)
    assert [k.name for k in mine] == ["laptop", "first key"]
    assert not hasattr(mine[0], "key_hash")
    assert [k.name for k in call(hub.accounts.api_keys, owner)] == ["first key"]
    with pytest.raises(NotFound):
        call(hub.accounts.revoke_api_key, owner, mine[0].id)
    assert call(hub.accounts.authenticate_api_key, key) == member

    call(hub.accounts.revoke_api_key, member, mine[0].id)
    with pytest.raises(Unauthenticated):
        call(hub.accounts.authenticate_api_key, key)
    revoked_at = call(hub.accounts.api_keys, member)[0].revoked_at
    assert revoked_at is not None
    call(hub.accounts.revoke_api_key, member, mine[0].id)
    assert call(hub.accounts.api_keys, member)[0].revoked_at == revoked_at


def test_api_keys_need_a_name(call: Call, hub: Hub, acme: Owner) -> None:
    with pytest.raises(Invalid):
        call(hub.accounts.create_api_key, owner_of(acme), name="   ")
    with pytest.raises(Invalid):
        call(hub.accounts.create_api_key, owner_of(acme), name="x" * 201)
    assert len(call(hub.accounts.api_keys, owner_of(acme))) == 1
