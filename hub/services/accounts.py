"""Organizations, users and API keys."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.security import hash_password, hash_token, new_api_key, verify_password
from hub.services.errors import Conflict, NotFound, Unauthenticated
from hub.store import ApiKey, Organization, Store, User

ROLES = ("owner", "admin", "member")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and on behalf of which organization."""

    user_id: str
    organization_id: str
    role: str


@dataclass(frozen=True, slots=True)
class CreatedKey:
    principal: Principal
    api_key: str
    """Shown once; only its hash is stored."""


class AccountService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create_user(
        self, *, email: str, password: str, organization: str, role: str = "owner"
    ) -> CreatedKey:
        """A user in `organization` (created if new), with a first API key."""
        if role not in ROLES:
            raise Conflict(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if len(password) < 8:
            raise Conflict("password must be at least 8 characters")
        email = email.strip().lower()
        async with self._store.write() as session:
            if await session.scalar(select(User.id).where(User.email == email)):
                raise Conflict(f"a user with email {email} already exists")
            org = await _get_or_create_org(session, organization)
            user = User(
                organization_id=org.id,
                email=email,
                password_hash=hash_password(password),
                role=role,
            )
            session.add(user)
            await session.flush()
            principal = Principal(user.id, org.id, role)
            key = _add_api_key(session, principal, name="first key")
        return CreatedKey(principal, key)

    async def organization_id(self, name: str) -> str:
        async with self._store.read() as session:
            org_id = await session.scalar(select(Organization.id).where(Organization.name == name))
        if org_id is None:
            raise NotFound(f"organization {name!r} not found")
        return org_id

    async def create_api_key(self, principal: Principal, *, name: str) -> str:
        async with self._store.write() as session:
            return _add_api_key(session, principal, name=name)

    async def authenticate_api_key(self, api_key: str) -> Principal:
        async with self._store.read() as session:
            row = (
                await session.execute(
                    select(ApiKey.user_id, ApiKey.organization_id, User.role)
                    .join(User, User.id == ApiKey.user_id)
                    .where(ApiKey.key_hash == hash_token(api_key), ApiKey.revoked_at.is_(None))
                )
            ).first()
        if row is None:
            raise Unauthenticated("invalid or revoked API key")
        return Principal(row.user_id, row.organization_id, row.role)

    async def authenticate_password(self, email: str, password: str) -> Principal:
        async with self._store.read() as session:
            user = await session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None or not verify_password(password, user.password_hash):
            raise Unauthenticated("wrong email or password")
        return Principal(user.id, user.organization_id, user.role)


async def _get_or_create_org(session: AsyncSession, name: str) -> Organization:
    org = await session.scalar(select(Organization).where(Organization.name == name))
    if org is None:
        org = Organization(name=name)
        session.add(org)
        await session.flush()
    return org


def _add_api_key(session: AsyncSession, principal: Principal, *, name: str) -> str:
    key = new_api_key()
    session.add(
        ApiKey(
            organization_id=principal.organization_id,
            user_id=principal.user_id,
            name=name,
            key_hash=hash_token(key),
        )
    )
    return key
