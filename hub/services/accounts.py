"""Organizations, users, their roles, and API keys.

Who may do what to whom is decided here, not in the routes, so the dashboard and any
future API route enforce the same rules:

- members see the member list and manage their own API keys;
- admins also add, re-role and remove admins and members, but never touch an owner and
  never make anyone an owner;
- owners may do everything;
- nobody removes themselves, and an organization always keeps at least one owner.
"""

from __future__ import annotations

import asyncio
import functools
import math
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import ApiKey, Organization, Store, User, WebSession, utcnow
from hub.db.tables import MAX_EMAIL_LENGTH
from hub.security import hash_password, hash_token, new_api_key, verify_password
from hub.services.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from hub.services.read_cache import Caches, ReadCache
from hub.services.throttle import FailureThrottle

ROLES = ("owner", "admin", "member")
MIN_PASSWORD_LENGTH = 8
MAX_KEY_NAME_LENGTH = 200
MAX_ORGANIZATION_NAME_LENGTH = 200


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


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    email: str
    role: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key as its owner may see it: everything but the hash."""

    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def may_manage(principal: Principal, target_role: str) -> bool:
    """Whether the principal may change the role of, or remove, someone with `target_role`."""
    return principal.role == "owner" or (principal.role == "admin" and target_role != "owner")


def grantable_roles(principal: Principal) -> tuple[str, ...]:
    """The roles the principal may give when adding or re-roling someone."""
    if principal.role == "owner":
        return ROLES
    if principal.role == "admin":
        return tuple(role for role in ROLES if role != "owner")
    return ()


class AccountService:
    def __init__(self, store: Store, caches: Caches) -> None:
        self._store = store
        self._caches = caches
        self._principals: ReadCache[str, Principal] = caches.new("principals")
        """API key hash -> its principal: every API request looks its key up."""
        self._sign_in_failures = FailureThrottle()

    async def create_user(
        self, *, email: str, password: str, organization: str, role: str = "owner"
    ) -> CreatedKey:
        """A user in `organization` (created if new), with a first API key. For set-up
        (CLI, tests): no principal, so no role rules; the dashboard uses `add_member`."""
        problem = _new_user_problem(email, password, role) or _organization_problem(organization)
        if problem:
            # Conflict rather than Invalid: what this function has always raised.
            raise Conflict(problem)
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self._store.write() as session:
            org = await _get_or_create_org(session, organization)
            user = await _insert_user(session, org.id, email, password_hash, role)
            principal = Principal(user.id, org.id, role)
            key = _add_api_key(session, principal, name="first key")
        return CreatedKey(principal, key)

    async def organization_id(self, name: str) -> str:
        async with self._store.read() as session:
            org_id = await session.scalar(select(Organization.id).where(Organization.name == name))
        if org_id is None:
            raise NotFound(f"organization {name!r} not found")
        return org_id

    # Members

    async def members(self, principal: Principal) -> list[Member]:
        """Everyone in the principal's organization, oldest first."""
        async with self._store.read() as session:
            users = await session.scalars(
                select(User)
                .where(User.organization_id == principal.organization_id)
                .order_by(User.created_at, User.email)
            )
            return [_member(user) for user in users]

    async def add_member(
        self, principal: Principal, *, email: str, password: str, role: str
    ) -> Member:
        """A new user in the principal's organization (no API key: they make their own)."""
        _require_manager(principal)
        problem = _new_user_problem(email, password, role)
        if problem:
            raise Invalid(problem)
        _require_grantable(principal, role)
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self._store.write() as session:
            user = await _insert_user(
                session, principal.organization_id, email, password_hash, role
            )
            return _member(user)

    async def set_role(self, principal: Principal, user_id: str, role: str) -> Member:
        """Change a member's role; it applies to their sessions and keys on the next request,
        as both look the role up each time."""
        _require_manager(principal)
        if role not in ROLES:
            raise Invalid(_unknown_role(role))
        async with self._store.write() as session:
            user = await _user_in_org(session, principal, user_id)
            _require_may_manage(principal, user)
            _require_grantable(principal, role)
            if user.role == "owner" and role != "owner":
                await _require_another_owner(session, user)
            user.role = role
            await self._caches.changed(session, "principals")
            return _member(user)

    async def remove_member(self, principal: Principal, user_id: str) -> None:
        """Remove the user, their API keys and their dashboard sessions, all at once.

        One transaction, rather than ending the sessions in a second step: a removed
        member can never keep a working session or key through a failure between two
        steps. The keys are deleted, not marked revoked, as their rows point at the
        user being deleted.
        """
        _require_manager(principal)
        if user_id == principal.user_id:
            raise Forbidden("you cannot remove yourself; ask another owner or admin")
        async with self._store.write() as session:
            user = await _user_in_org(session, principal, user_id)
            _require_may_manage(principal, user)
            if user.role == "owner":
                await _require_another_owner(session, user)
            await session.execute(delete(ApiKey).where(ApiKey.user_id == user.id))
            await self._caches.changed(session, "principals")
            await session.execute(delete(WebSession).where(WebSession.user_id == user.id))
            await session.delete(user)

    # API keys: each person manages their own, whatever their role.

    async def api_keys(self, principal: Principal) -> list[ApiKeyInfo]:
        """The principal's own keys, newest first."""
        async with self._store.read() as session:
            rows = await session.execute(
                select(ApiKey.id, ApiKey.name, ApiKey.created_at, ApiKey.revoked_at)
                .where(ApiKey.user_id == principal.user_id)
                .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
            )
            return [ApiKeyInfo(row.id, row.name, row.created_at, row.revoked_at) for row in rows]

    async def create_api_key(self, principal: Principal, *, name: str) -> str:
        name = name.strip()
        if not name:
            raise Invalid("give the key a name, so you can tell it apart later")
        if len(name) > MAX_KEY_NAME_LENGTH:
            raise Invalid(f"the key name must be at most {MAX_KEY_NAME_LENGTH} characters")
        async with self._store.write() as session:
            return _add_api_key(session, principal, name=name)

    async def revoke_api_key(self, principal: Principal, key_id: str) -> None:
        """Stop one of the principal's keys from working; revoking twice changes nothing."""
        async with self._store.write() as session:
            found = await session.scalar(
                select(ApiKey.id).where(ApiKey.id == key_id, ApiKey.user_id == principal.user_id)
            )
            if found is None:
                raise NotFound(f"API key {key_id} not found")
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            await self._caches.changed(session, "principals")

    # Authentication

    async def authenticate_api_key(self, api_key: str) -> Principal:
        key_hash = hash_token(api_key)

        async def read() -> Principal | None:
            async with self._store.read() as session:
                row = (
                    await session.execute(
                        select(ApiKey.user_id, ApiKey.organization_id, User.role)
                        .join(User, User.id == ApiKey.user_id)
                        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
                    )
                ).first()
            return None if row is None else Principal(row.user_id, row.organization_id, row.role)

        principal = await self._principals.through(key_hash, read)
        if principal is None:
            raise Unauthenticated("invalid or revoked API key")
        return principal

    async def authenticate_password(self, email: str, password: str) -> Principal:
        """The principal for a dashboard sign-in. Too many recent failures for the email are
        refused before any check; an unknown email costs as much as a wrong password, so
        the time taken does not tell which emails exist."""
        email = email.strip().lower()
        if len(email) > MAX_EMAIL_LENGTH:  # no account has one; not worth remembering
            raise Unauthenticated("wrong email or password")
        wait = self._sign_in_failures.retry_after(email)
        if wait > 0:
            minutes = math.ceil(wait / 60)
            raise TooManyRequests(
                f"too many failed sign-ins for this email; try again in {minutes} "
                f"minute{'s' if minutes != 1 else ''}"
            )
        # Counted as a failure before the first await, so that guesses sent in parallel
        # cannot all pass the check above; a right password clears it below.
        self._sign_in_failures.failed(email)
        async with self._store.read() as session:
            user = await session.scalar(select(User).where(User.email == email))
        # scrypt takes tens of ms by design: off the event loop, which serves the plugins.
        matched = await asyncio.to_thread(_password_matches, password, user)
        if user is None or not matched:
            raise Unauthenticated("wrong email or password")
        self._sign_in_failures.succeeded(email)
        return Principal(user.id, user.organization_id, user.role)


@functools.cache
def _unknown_user_hash() -> str:
    """A real scrypt hash to check passwords of unknown emails against (never matches)."""
    return hash_password(secrets.token_urlsafe(16))


def _password_matches(password: str, user: User | None) -> bool:
    """The password check, run as long for an unknown user as for a known one."""
    stored = user.password_hash if user is not None else _unknown_user_hash()
    return verify_password(password, stored) and user is not None


def _member(user: User) -> Member:
    return Member(user.id, user.email, user.role, user.created_at)


def _unknown_role(role: str) -> str:
    return f"unknown role {role!r}; expected one of {', '.join(ROLES)}"


def _new_user_problem(email: str, password: str, role: str) -> str | None:
    """What is wrong with a new user's details, if anything."""
    if role not in ROLES:
        return _unknown_role(role)
    address = email.strip()
    if "@" not in address or any(c.isspace() for c in address):
        return f"{address or 'an empty email'} is not an email address"
    if len(address) > MAX_EMAIL_LENGTH:
        return f"an email address has at most {MAX_EMAIL_LENGTH} characters"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    return None


def _organization_problem(name: str) -> str | None:
    """What is wrong with a new organization's name, if anything (the column holds 200
    characters: PostgreSQL refuses more, SQLite would keep them)."""
    if not name.strip():
        return "an organization needs a name"
    if len(name) > MAX_ORGANIZATION_NAME_LENGTH:
        return f"an organization name has at most {MAX_ORGANIZATION_NAME_LENGTH} characters"
    return None


def _require_manager(principal: Principal) -> None:
    if not grantable_roles(principal):
        raise Forbidden("only owners and admins can add, change or remove members")


def _require_grantable(principal: Principal, role: str) -> None:
    if role not in grantable_roles(principal):
        raise Forbidden(f"only an owner can make someone {role}")


def _require_may_manage(principal: Principal, user: User) -> None:
    if not may_manage(principal, user.role):
        raise Forbidden("only an owner can change or remove an owner")


async def _require_another_owner(session: AsyncSession, owner: User) -> None:
    """Refuse to take away the organization's last owner: nobody could manage it after.

    The organization's row is locked first, so that two such changes at once (each owner
    demoting the other) count one after the other. SQLite's writers already take turns;
    PostgreSQL's would otherwise both count two owners and leave none."""
    await session.execute(
        select(Organization.id).where(Organization.id == owner.organization_id).with_for_update()
    )
    owners = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.organization_id == owner.organization_id, User.role == "owner")
    )
    if (owners or 0) <= 1:
        raise Forbidden(f"{owner.email} is the last owner; make someone else owner first")


async def _user_in_org(session: AsyncSession, principal: Principal, user_id: str) -> User:
    """The user, if in the principal's organization; another organization's is not found."""
    user = await session.scalar(
        select(User).where(User.id == user_id, User.organization_id == principal.organization_id)
    )
    if user is None:
        raise NotFound(f"member {user_id} not found")
    return user


async def _insert_user(
    session: AsyncSession, organization_id: str, email: str, password_hash: str, role: str
) -> User:
    """Hashing the password is left to the caller, outside the write lock (scrypt is slow)."""
    email = email.strip().lower()
    taken = Conflict(f"a user with email {email} already exists")
    if await session.scalar(select(User.id).where(User.email == email)):
        raise taken
    user = User(
        organization_id=organization_id,
        email=email,
        password_hash=password_hash,
        role=role,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        # The same email added at the same moment by another transaction, which won: only
        # where writers do not take turns (PostgreSQL). The transaction is rolled back.
        raise taken from None
    return user


async def _get_or_create_org(session: AsyncSession, name: str) -> Organization:
    named = select(Organization).where(Organization.name == name)
    org = await session.scalar(named)
    if org is None:
        org = Organization(name=name)
        try:
            async with session.begin_nested():  # a savepoint: only the insert is undone
                session.add(org)
        except IntegrityError:
            # Created at the same moment by another transaction (PostgreSQL; SQLite's
            # writers take turns): use that one.
            org = (await session.scalars(named)).one()
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
