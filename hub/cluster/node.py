"""This node's part in a hub of several nodes on one PostgreSQL database.

Every node serves the REST API, the dashboard and the job data paths. One of them, the
dispatcher, also holds the plugin connections and runs the job engine, under the fenced
lease (`hub.cluster.lease`). This module decides the role:

- the dispatcher renews its lease every `RENEW` seconds (and every engine commit does too);
  when a renewal or a commit finds the lease taken, it steps down at once: it stops the
  engine without writing, and closes its plugin connections so they reconnect to the new
  dispatcher;
- another node takes the lease over when it is handed back (a graceful stop), or when it
  has seen it expired and unchanged for a whole TTL of its own observation. After the
  database blinks, observation starts over, so the dispatcher that was there renews first
  and keeps its sockets;
- a node that cannot reach the database keeps what it has and says so on /healthz.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.protocol import CloseCode
from hub.cluster import notify
from hub.cluster.commands import CommandConsumer
from hub.cluster.lease import Lease, Observed
from hub.cluster.presence import PublishedView, Publisher
from hub.db import Store
from hub.db.cluster_tables import HubNode
from hub.jobs.committer import Fenced
from hub.jobs.engine import JobEngine
from hub.jobs.live import LiveRegistry
from hub.jobs.loop import EngineLoop

log = logging.getLogger("hub.cluster")

RENEW = 1.0
"""Seconds between two renewals by the dispatcher, and two looks by the other nodes (a
third of the lease's TTL when that is shorter)."""
NODE_SEEN = 2.0
"""Seconds between two 'I am up' writes of a node."""


def _seconds(seconds: float) -> Any:
    return func.make_interval(0, 0, 0, 0, 0, 0, seconds)


class SharedLocalStorage(RuntimeError):
    """Local storage on a hub with several nodes: each would see only its own files."""


class ClusterNode:
    def __init__(
        self,
        store: Store,
        engine: JobEngine,
        engine_loop: EngineLoop,
        live: LiveRegistry,
        *,
        node_id: str,
        address: str,
        storage_kind: str,
        lease_ttl: float,
        listener: notify.Listener,
        before_term: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.node_id = node_id
        self._before_term = before_term
        """Run as a term begins, before sockets are taken (warming the handshake cache)."""
        self._store = store
        self._engine = engine
        self._engine_loop = engine_loop
        self._live = live
        self._address = address
        self._storage_kind = storage_kind
        self._ttl = lease_ttl
        self._listener = listener
        self._lease = Lease(store, node_id=node_id, ttl=lease_ttl)
        self._renew_every = min(RENEW, lease_ttl / 3)
        self._publisher = Publisher(store, live, node_id=node_id)
        self._consumer = CommandConsumer(store, engine, live, listener)
        self.view = PublishedView(store, listener, unused=lambda: engine.dispatching)
        self.epoch: int | None = None
        """This node's epoch while it is the dispatcher."""
        self.database_ok = True
        """False while the last look at the database failed."""
        self._seen: tuple[int, str, object] | None = None
        self._seen_since = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._stepping_down: asyncio.Future[None] | None = None
        self._role_lock = asyncio.Lock()
        """Taking the lease, beginning and ending a term: one at a time, so that a
        step-down still under way cannot end the term that follows it."""

    # --- life of the node --------------------------------------------------------------

    async def start(self) -> None:
        await self._register()
        self._listener.start()
        self.view.start()
        await self._step()  # a lone node dispatches from its first second
        self._tasks = [
            asyncio.create_task(self._role_forever(), name="hub-role"),
            asyncio.create_task(self._seen_forever(), name="hub-node-seen"),
        ]

    async def stop(self) -> None:
        """Hand the lease back (another node takes over at once), then leave."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        async with self._role_lock:
            if self.epoch is not None:
                epoch = self.epoch
                await self._end_term(graceful=True)
                with contextlib.suppress(Exception):
                    await self._lease.release(epoch)
                    async with self._store.write() as session:
                        await notify.notify(session, notify.LEASE)
        with contextlib.suppress(Exception):
            async with self._store.write() as session:
                await session.execute(delete(HubNode).where(HubNode.id == self.node_id))
        await self.view.stop()
        await self._listener.stop()

    async def _register(self) -> None:
        """Say this node is up; refuse local storage when another node is up too. The same
        directory on the same machine is this node's earlier life (a restart after a
        crash, its row not yet stale), not another node."""
        async with self._store.write() as session:
            others = await session.scalars(
                select(HubNode.storage).where(
                    HubNode.id != self.node_id,
                    HubNode.storage != self._storage_kind,
                    HubNode.seen_at > func.now() - _seconds(3 * NODE_SEEN),
                )
            )
            local = self._storage_kind.startswith("local")
            if any(local or storage.startswith("local") for storage in others):
                raise SharedLocalStorage(
                    "another hub node uses this database, and local storage cannot be "
                    "shared by several nodes: set HUB_STORAGE_URL=s3://bucket/prefix "
                    "on every node (docs/scaling.md)"
                )
            await self._upsert_node(session)

    async def _upsert_node(self, session: AsyncSession) -> None:
        upsert = insert(HubNode).values(
            id=self.node_id, address=self._address, storage=self._storage_kind, seen_at=func.now()
        )
        await session.execute(
            upsert.on_conflict_do_update(index_elements=[HubNode.id], set_={"seen_at": func.now()})
        )

    async def _seen_forever(self) -> None:
        while True:
            await asyncio.sleep(NODE_SEEN)
            with contextlib.suppress(Exception):
                await self._register_seen()

    async def _register_seen(self) -> None:
        async with self._store.write() as session:
            await self._upsert_node(session)

    # --- the role ------------------------------------------------------------------------

    async def _role_forever(self) -> None:
        while True:
            await self._listener.wait(notify.LEASE, self._renew_every)
            await self._step()

    async def _step(self) -> None:
        async with self._role_lock:
            await self._step_locked()

    async def _step_locked(self) -> None:
        try:
            if self.epoch is not None:
                if not await self._lease.renew(self.epoch):
                    log.warning("node %s: the dispatcher lease was taken over", self.node_id)
                    await self._end_term(graceful=False)
            else:
                await self._maybe_take(await self._lease.observe())
            self.database_ok = True
        except Exception as exc:
            if self.database_ok:
                log.warning("node %s: cannot reach the database: %s", self.node_id, exc)
            self.database_ok = False
            self._seen = None  # observation starts over once it is back

    async def _maybe_take(self, seen: Observed | None) -> None:
        if seen is not None and not self._takeable(seen):
            return
        epoch = await self._lease.take(seen)
        if epoch is not None:
            await self._begin_term(epoch)

    def _takeable(self, seen: Observed) -> bool:
        if seen.released:
            return True
        key = (seen.epoch, seen.holder, seen.expires_at)
        now = time.monotonic()
        if key != self._seen:
            self._seen, self._seen_since = key, now
        return seen.expired and now - self._seen_since >= self._ttl

    async def _begin_term(self, epoch: int) -> None:
        self.epoch = epoch
        self._seen = None
        log.info("node %s is the dispatcher (epoch %d)", self.node_id, epoch)
        # Loading a large backlog may take longer than the lease lasts: keep it meanwhile.
        keeping = asyncio.create_task(self._keep_lease(epoch), name="hub-lease-keeper")
        try:
            if self._before_term is not None:
                await self._before_term()
            fence = self._lease.fence(epoch)
            await self._engine_loop.start(fence=fence, on_fenced=self._fenced)
            self._publisher.start(fence)
            self._consumer.start()
        except BaseException:
            # Half a term would hold the lease and dispatch nothing: end it, hand it back.
            log.exception("node %s could not start dispatching", self.node_id)
            self.epoch = None
            with contextlib.suppress(Exception):
                await self._consumer.stop()
                await self._publisher.stop()
                await self._engine_loop.abandon()
                await self._lease.release(epoch)
            raise
        finally:
            keeping.cancel()
            await asyncio.gather(keeping, return_exceptions=True)

    async def _keep_lease(self, epoch: int) -> None:
        while True:
            await asyncio.sleep(self._renew_every)
            with contextlib.suppress(Exception):
                await self._lease.renew(epoch)

    def _fenced(self, _fenced: Fenced) -> None:
        if self.epoch is not None and self._stepping_down is None:
            self._stepping_down = asyncio.ensure_future(self._step_down())

    async def _step_down(self) -> None:
        try:
            async with self._role_lock:
                await self._end_term(graceful=False)
        finally:
            self._stepping_down = None

    async def _end_term(self, *, graceful: bool) -> None:
        """Stop dispatching; the plugin processes reconnect to the next dispatcher."""
        epoch, self.epoch = self.epoch, None
        if epoch is None:
            return
        await self._consumer.stop()
        await self._publisher.stop()
        reason = "hub node stopping" if graceful else "the dispatcher moved to another node"
        # Sockets first, so no outcome arrives after the engine's last commit.
        await self._live.disconnect_all(CloseCode.SERVICE_RESTART, reason)
        if graceful:
            await self._engine_loop.stop()
        else:
            await self._engine_loop.abandon()
        log.info("node %s stopped dispatching (epoch %d)", self.node_id, epoch)
