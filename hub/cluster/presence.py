"""Which plugin processes are live, as every node sees it.

The dispatcher holds the sockets (`hub.jobs.live.LiveRegistry`) and publishes them to
`live_processes`: on every connect and disconnect, and their loads every few seconds (not
per heartbeat). Other nodes read that table, refreshed when the dispatcher announces a
change and on a short poll, and show only the rows of the node whose lease holds: a
dispatcher killed with its sockets open leaves rows that go dark with its lease.

`Presence` is what pages and the API ask: this node's own registry while it dispatches,
the published view otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update

from hub.cluster import lease, notify
from hub.db import Store
from hub.db.cluster_tables import DispatcherLease, LiveProcess
from hub.jobs.committer import Fence
from hub.jobs.live import LiveConnection, LiveRegistry, Process

log = logging.getLogger("hub.cluster")

LOAD_REFRESH = 2.0
"""Seconds between two publications of the processes' loads and heartbeats."""
POLL = 1.0
"""Seconds between two reads of the published processes when no news came."""
PUBLISH_PACE = 0.2
"""Seconds at least between two publications: connects in a burst share one."""


@dataclass(frozen=True, slots=True)
class PublishedProcess:
    id: str
    plugin_id: str
    sdk_version: str
    plugin_version: str
    hostname: str
    pid: int
    capacity: int
    running: int
    connected_at: datetime
    last_heartbeat_at: datetime


class Publisher:
    """The dispatcher's side: keeps `live_processes` equal to its registry.

    It writes what changed since its last publication, not every process each time: with
    thousands of processes reconnecting, a full rewrite per connect made each publication
    slower than the connects that called for it (the hub spent minutes at full CPU to let
    5,000 processes back). A term starts with a full one, which also removes the rows of
    earlier dispatchers; so does the round after a failed one."""

    def __init__(self, store: Store, live: LiveRegistry, *, node_id: str) -> None:
        self._store = store
        self._live = live
        self._node_id = node_id
        self._fence: Fence | None = None
        self._task: asyncio.Task[None] | None = None
        self._published: dict[str, tuple[int, datetime]] | None = None
        """What the table holds of ours: connection id -> (running, last heartbeat); None
        when unknown, so the next publication is a full one."""

    def start(self, fence: Fence) -> None:
        """Publish during a term; `fence` keeps a node that lost the lease from replacing
        the next dispatcher's processes with its own."""
        self._fence = fence
        self._published = None
        self._task = asyncio.create_task(self._publish_forever(), name="presence-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _publish_forever(self) -> None:
        while True:
            try:
                await self.publish()
            except Exception as exc:  # the database blinked: the next round catches up
                self._published = None
                log.warning("publishing the live plugin processes failed: %s", exc)
            await self._live.wait_changed(LOAD_REFRESH)
            await asyncio.sleep(PUBLISH_PACE)  # a burst of connects is one publication

    async def publish(self) -> None:
        """Write the processes that came, went or changed load since the last time."""
        # Everything read from the registry before the first await: what is recorded as
        # published must be what was written.
        connections = self._live.all_connections()
        snapshot = {c.id: (c.running, c.last_heartbeat_at) for c in connections}
        published = self._published
        if published is None:
            added, changed, removed = connections, [], []
        else:
            added = [c for c in connections if c.id not in published]
            changed = [
                c for c in connections if published.get(c.id, snapshot[c.id]) != snapshot[c.id]
            ]
            removed = [cid for cid in published if cid not in snapshot]
            if not (added or changed or removed):
                return
        rows = [_row(c, self._node_id) for c in added]
        loads = [
            {"cid": c.id, "running": c.running, "heartbeat": c.last_heartbeat_at} for c in changed
        ]
        async with self._store.write() as session:
            if self._fence is not None:
                await self._fence(session)
            if published is None:
                await session.execute(delete(_TABLE))  # earlier dispatchers' rows too
            for chunk in _chunks(removed):
                await session.execute(delete(_TABLE).where(_TABLE.c.connection_id.in_(chunk)))
            if rows:
                await session.execute(insert(_TABLE), rows)
            if loads:
                await session.execute(_UPDATE_LOAD, loads)
            await notify.notify(session, notify.PRESENCE)
        self._published = snapshot


_TABLE = cast(Table, LiveProcess.__table__)
_UPDATE_LOAD = (
    update(_TABLE)
    .where(_TABLE.c.connection_id == bindparam("cid"))
    .values(running=bindparam("running"), last_heartbeat_at=bindparam("heartbeat"))
)


def _chunks(ids: list[str], size: int = 1000) -> list[list[str]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _row(connection: LiveConnection, node_id: str) -> dict[str, object]:
    return {
        "connection_id": connection.id,
        "plugin_id": connection.plugin_id,
        "node_id": node_id,
        "sdk_version": connection.sdk_version,
        "plugin_version": connection.plugin_version,
        "hostname": connection.hostname,
        "pid": connection.pid,
        "capacity": connection.capacity,
        "running": connection.running,
        "connected_at": connection.connected_at,
        "last_heartbeat_at": connection.last_heartbeat_at,
    }


class PublishedView:
    """Another node's side: the published processes, read on news and on a short poll."""

    def __init__(
        self, store: Store, listener: notify.Listener, *, unused: Callable[[], bool]
    ) -> None:
        self._store = store
        self._listener = listener
        self._unused = unused
        """True while this node dispatches: it shows its own registry, and reading the
        whole table after each of its own publications would cost it dearly (thousands
        of rows several times a second while a fleet reconnects)."""
        self._by_plugin: dict[str, list[PublishedProcess]] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read_forever(), name="presence-view")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _read_forever(self) -> None:
        while True:
            try:
                if self._unused():
                    self._by_plugin = {}  # not stale once it is used again
                else:
                    await self.refresh()
            except Exception as exc:
                log.warning("reading the live plugin processes failed: %s", exc)
            await self._listener.wait(notify.PRESENCE, POLL)

    async def refresh(self) -> None:
        async with self._store.read() as session:
            # Only the processes of a dispatcher whose lease holds: a node that died with
            # its sockets leaves rows behind, and they must not look live meanwhile.
            rows = await session.scalars(
                select(LiveProcess)
                .join(DispatcherLease, DispatcherLease.holder == LiveProcess.node_id)
                .where(DispatcherLease.name == lease.NAME, DispatcherLease.expires_at > func.now())
                .order_by(LiveProcess.connected_at)
            )
            by_plugin: dict[str, list[PublishedProcess]] = {}
            for row in rows:
                by_plugin.setdefault(row.plugin_id, []).append(
                    PublishedProcess(
                        id=row.connection_id,
                        plugin_id=row.plugin_id,
                        sdk_version=row.sdk_version,
                        plugin_version=row.plugin_version,
                        hostname=row.hostname,
                        pid=row.pid,
                        capacity=row.capacity,
                        running=row.running,
                        connected_at=row.connected_at,
                        last_heartbeat_at=row.last_heartbeat_at,
                    )
                )
        if by_plugin != self._by_plugin:
            self._by_plugin = by_plugin
            self._changed.set()
            self._changed = asyncio.Event()

    def connections(self, plugin_id: str) -> list[PublishedProcess]:
        return list(self._by_plugin.get(plugin_id, ()))

    def all_connections(self) -> list[PublishedProcess]:
        return [p for processes in self._by_plugin.values() for p in processes]

    def live_plugin_ids(self) -> set[str]:
        return set(self._by_plugin)

    async def wait_changed(self, within: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):  # not wait_for: see hub/cluster/notify.py
                await self._changed.wait()


class Presence:
    """Live processes as pages and the API see them, whichever node answers."""

    def __init__(
        self,
        live: LiveRegistry,
        view: PublishedView | None,
        *,
        dispatching: Callable[[], bool],
    ) -> None:
        self._live = live
        self._view = view
        self._dispatching = dispatching

    def _source(self) -> LiveRegistry | PublishedView:
        if self._view is None or self._dispatching():
            return self._live
        return self._view

    def connections(self, plugin_id: str) -> list[Process]:
        return list(self._source().connections(plugin_id))

    def all_connections(self) -> list[Process]:
        return list(self._source().all_connections())

    def live_plugin_ids(self) -> set[str]:
        return self._source().live_plugin_ids()

    def is_live(self, plugin_id: str) -> bool:
        return plugin_id in self.live_plugin_ids()

    async def wait_changed(self, within: float) -> None:
        await self._source().wait_changed(within)
