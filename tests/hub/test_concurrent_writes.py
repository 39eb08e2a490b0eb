"""Writes at the same moment, and values longer than their columns: what holds on every
database. SQLite's writers take turns (one write lock) and it keeps a string of any length;
PostgreSQL's writers run side by side (READ COMMITTED) and it refuses a string longer than
its column. These tests run on both (HUB_TEST_DATABASE_URL) and pin what the hub promises
whatever the database does underneath."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from hub.db import Organization, PluginInstall, StoredFile, User
from hub.runtime import Hub
from hub.services import accounts as accounts_module
from hub.services.accounts import Principal
from hub.services.errors import Conflict, Forbidden
from tests.hub.conftest import Owner

PASSWORD = "correct horse battery staple"


def principal(owner: Owner) -> Principal:
    return Principal(owner.user_id, owner.organization_id, "owner")


async def count(hub: Hub, query: Any) -> int:
    async with hub.store.read() as session:
        return int(await session.scalar(query) or 0)


def meet_inside_the_transaction(
    monkeypatch: pytest.MonkeyPatch, hub: Hub, name: str, parties: int = 2
) -> None:
    """Make `parties` calls of hub.services.accounts' `name` wait for each other before going
    on, so that their transactions overlap for sure. Not on SQLite, where the second write
    transaction cannot begin before the first ends."""
    if hub.store.is_sqlite:
        return
    original = getattr(accounts_module, name)
    arrived = 0
    everyone = asyncio.Event()

    async def meeting(*args: Any, **kwargs: Any) -> Any:
        nonlocal arrived
        result = await original(*args, **kwargs)
        arrived += 1
        if arrived == parties:
            everyone.set()
        await everyone.wait()
        return result

    monkeypatch.setattr(accounts_module, name, meeting)


def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    call: Callable[..., Any], hub: Hub, acme: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = call(
        hub.accounts.add_member,
        principal(acme),
        email="second@acme.example",
        password=PASSWORD,
        role="owner",
    )
    second = Principal(other.id, acme.organization_id, "owner")
    # Each has read the owner it demotes before either counts the owners left.
    meet_inside_the_transaction(monkeypatch, hub, "_user_in_org")

    async def both() -> list[Any]:
        return await asyncio.gather(
            hub.accounts.set_role(principal(acme), other.id, "member"),
            hub.accounts.set_role(second, acme.user_id, "member"),
            return_exceptions=True,
        )

    results = call(both)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1, results
    assert isinstance(refused[0], Forbidden), refused
    owners = select(func.count()).select_from(User).where(User.role == "owner")
    assert call(count, hub, owners.where(User.organization_id == acme.organization_id)) == 1


def test_the_same_email_added_twice_at_once_makes_one_member_and_a_conflict(
    call: Callable[..., Any], hub: Hub, acme: Owner
) -> None:
    async def both() -> list[Any]:
        return await asyncio.gather(
            *(
                hub.accounts.add_member(
                    principal(acme), email="twice@acme.example", password=PASSWORD, role="member"
                )
                for _ in range(2)
            ),
            return_exceptions=True,
        )

    results = call(both)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1, results
    assert isinstance(refused[0], Conflict), refused
    same = select(func.count()).select_from(User).where(User.email == "twice@acme.example")
    assert call(count, hub, same) == 1


def test_two_first_users_of_a_new_organization_at_once_share_it(
    call: Callable[..., Any], hub: Hub
) -> None:
    async def both() -> list[Any]:
        return await asyncio.gather(
            *(
                hub.accounts.create_user(
                    email=f"founder{n}@initech.example", password=PASSWORD, organization="initech"
                )
                for n in range(2)
            )
        )

    created = call(both)
    assert created[0].principal.organization_id == created[1].principal.organization_id
    named = select(func.count()).select_from(Organization).where(Organization.name == "initech")
    assert call(count, hub, named) == 1


@pytest.mark.parametrize("name", ["", "x" * 201])
def test_an_organization_name_the_database_cannot_hold_is_refused(
    call: Callable[..., Any], hub: Hub, name: str
) -> None:
    with pytest.raises(Conflict, match="organization"):
        call(
            hub.accounts.create_user,
            email="owner@long.example",
            password=PASSWORD,
            organization=name,
        )
    assert call(count, hub, select(func.count()).select_from(User)) == 0


def test_installing_a_plugin_twice_at_once_installs_it_once(
    call: Callable[..., Any],
    hub: Hub,
    acme: Owner,
    globex: Owner,
    make_plugin: Callable[..., dict[str, Any]],
) -> None:
    public = make_plugin(acme, name="public tool", public=True, listed=True)

    async def both() -> list[Any]:
        return await asyncio.gather(
            *(hub.directory.install(principal(globex), public["id"]) for _ in range(2))
        )

    entries = call(both)
    assert all(entry.installed for entry in entries)
    installs = select(func.count()).select_from(PluginInstall)
    assert call(count, hub, installs) == 1


def test_a_file_whose_content_type_the_database_cannot_hold_is_refused(
    client: TestClient, call: Callable[..., Any], hub: Hub, acme: Owner
) -> None:
    response = client.post(
        "/api/v1/files",
        params={"filename": "people.csv"},
        headers={**acme.headers, "Content-Type": "text/csv; x=" + "y" * 300},
        content=b"name\nAda\n",
    )
    assert response.status_code == 422, response.text
    assert "Content-Type" in response.json()["error"]["message"]
    assert call(count, hub, select(func.count()).select_from(StoredFile)) == 0
    fine = client.post(
        "/api/v1/files",
        params={"filename": "people.csv"},
        headers={**acme.headers, "Content-Type": "text/csv; charset=utf-8"},
        content=b"name\nAda\n",
    )
    assert fine.status_code == 201, fine.text
