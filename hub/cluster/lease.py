"""The dispatcher lease: one row in PostgreSQL, the only consensus the hub uses.

The node holding it runs the job engine. Taking it over is a compare-and-set that
increments the epoch; renewing it, and every write of the engine (the `fence`), is an
UPDATE that names the epoch and the holder, so a node that lost the lease writes nothing
from then on. The database's clock decides expiry, never a node's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import Store
from hub.db.cluster_tables import DispatcherLease
from hub.jobs.committer import Fenced

NAME = "dispatcher"


@dataclass(frozen=True, slots=True)
class Observed:
    """The lease as one read saw it, with the database's time of that read."""

    epoch: int
    holder: str
    expires_at: datetime
    db_now: datetime

    @property
    def expired(self) -> bool:
        return self.expires_at <= self.db_now

    @property
    def released(self) -> bool:
        """Handed back on purpose (a graceful stop): another node may take it at once."""
        return self.holder == ""


class Lease:
    def __init__(self, store: Store, *, node_id: str, ttl: float) -> None:
        self._store = store
        self._node_id = node_id
        self._ttl = timedelta(seconds=ttl)

    async def observe(self) -> Observed | None:
        """The lease now, or None when no node ever held it."""
        async with self._store.read() as session:
            row = (
                await session.execute(
                    select(
                        DispatcherLease.epoch,
                        DispatcherLease.holder,
                        DispatcherLease.expires_at,
                        func.now(),
                    ).where(DispatcherLease.name == NAME)
                )
            ).first()
        if row is None:
            return None
        return Observed(row[0], row[1], row[2], row[3])

    async def take(self, seen: Observed | None) -> int | None:
        """Become the dispatcher, if the lease is still as `seen`: the new epoch, or None
        when another node changed it first."""
        async with self._store.write() as session:
            if seen is None:
                created = await session.execute(
                    insert(DispatcherLease)
                    .values(
                        name=NAME,
                        epoch=1,
                        holder=self._node_id,
                        expires_at=func.now() + self._ttl,
                    )
                    .on_conflict_do_nothing()
                    .returning(DispatcherLease.epoch)
                )
                return created.scalar_one_or_none()
            taken = await session.execute(
                update(DispatcherLease)
                .where(
                    DispatcherLease.name == NAME,
                    DispatcherLease.epoch == seen.epoch,
                    DispatcherLease.holder == seen.holder,
                    DispatcherLease.expires_at == seen.expires_at,
                )
                .values(
                    epoch=DispatcherLease.epoch + 1,
                    holder=self._node_id,
                    expires_at=func.now() + self._ttl,
                )
                .returning(DispatcherLease.epoch)
            )
            return taken.scalar_one_or_none()

    async def renew(self, epoch: int) -> bool:
        """Extend this node's lease; False when it is no longer this node's."""
        async with self._store.write() as session:
            return await self._extend(session, epoch)

    def fence(self, epoch: int) -> Callable[[AsyncSession], Awaitable[None]]:
        """The check every engine transaction starts with: it renews the lease, and holds
        its row until the commit, so no takeover can slip between check and write."""

        async def check(session: AsyncSession) -> None:
            if not await self._extend(session, epoch, limit_idle=True):
                raise Fenced(f"epoch {epoch} is no longer this node's")

        return check

    async def release(self, epoch: int) -> None:
        """Hand the lease back (a graceful stop), so another node takes over at once."""
        async with self._store.write() as session:
            await session.execute(
                update(DispatcherLease)
                .where(
                    DispatcherLease.name == NAME,
                    DispatcherLease.epoch == epoch,
                    DispatcherLease.holder == self._node_id,
                )
                .values(holder="", expires_at=func.now())
            )

    async def _extend(self, session: AsyncSession, epoch: int, *, limit_idle: bool = False) -> bool:
        returned: list[Any] = [DispatcherLease.epoch]
        if limit_idle:
            # A dispatcher that stops mid-transaction (SIGSTOP, a network cut) would hold
            # the lease row's lock, and so block every takeover, for as long as its
            # connection lives: PostgreSQL ends such a transaction once it has been idle
            # for a TTL. Set for this transaction only, in the same round trip.
            limit = str(int(self._ttl.total_seconds() * 1000))
            returned.append(func.set_config("idle_in_transaction_session_timeout", limit, True))
        extended = await session.execute(
            update(DispatcherLease)
            .where(
                DispatcherLease.name == NAME,
                DispatcherLease.epoch == epoch,
                DispatcherLease.holder == self._node_id,
            )
            .values(expires_at=func.now() + self._ttl)
            .returning(*returned)
        )
        return extended.first() is not None
