"""Dashboard sign-ins: a random token in a cookie, its hash in the database.

Server-side rows rather than a signed cookie, so that signing out (or removing a member)
ends the session everywhere at once, and a role change applies on the next page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select

from hub.db import Organization, Store, User, WebSession, utcnow
from hub.security import hash_token
from hub.services.accounts import Principal

SESSION_LIFETIME = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The person behind a dashboard session."""

    principal: Principal
    email: str
    organization_name: str


class SessionService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def start(self, principal: Principal) -> str:
        """A new session for the principal; returns the token for the cookie."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self._store.write() as session:
            # Expired rows of this user go when they sign in again: no sweeper needed.
            await session.execute(
                delete(WebSession).where(
                    WebSession.user_id == principal.user_id, WebSession.expires_at < now
                )
            )
            session.add(
                WebSession(
                    token_hash=hash_token(token),
                    user_id=principal.user_id,
                    expires_at=now + SESSION_LIFETIME,
                )
            )
        return token

    async def resolve(self, token: str) -> SignedIn | None:
        """Who the token signs in, or None for an unknown, ended or expired session."""
        async with self._store.read() as session:
            row = (
                await session.execute(
                    select(User.id, User.organization_id, User.role, User.email, Organization.name)
                    .join(WebSession, WebSession.user_id == User.id)
                    .join(Organization, Organization.id == User.organization_id)
                    .where(
                        WebSession.token_hash == hash_token(token),
                        WebSession.expires_at > utcnow(),
                    )
                )
            ).first()
        if row is None:
            return None
        return SignedIn(Principal(row[0], row[1], row[2]), row[3], row[4])

    async def end(self, token: str) -> None:
        async with self._store.write() as session:
            await session.execute(
                delete(WebSession).where(WebSession.token_hash == hash_token(token))
            )
