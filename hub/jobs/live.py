"""Which plugin processes are connected right now. In memory: never a row per heartbeat.

The gateway registers each connection with its `send` and `close`; the job engine looks
connections up by id and keeps their load; services ask who is live and may close a
plugin's connections (secret rotated, plugin deleted) without knowing anything about
WebSockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel

from ango_plugins_sdk.protocol import CloseCode, MessageTooLarge

Closer = Callable[[CloseCode, str], Awaitable[None]]
Sender = Callable[[Sequence[BaseModel]], Awaitable[dict[int, MessageTooLarge]]]
"""Sends messages to one connection, in order, in as few frames as its protocol allows;
returns, by position, those the process could not take (not sent)."""


class Process(Protocol):
    """A live plugin process as pages and the API show it, wherever it is connected."""

    @property
    def id(self) -> str: ...
    @property
    def plugin_id(self) -> str: ...
    @property
    def sdk_version(self) -> str: ...
    @property
    def plugin_version(self) -> str: ...
    @property
    def hostname(self) -> str: ...
    @property
    def pid(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def running(self) -> int: ...
    @property
    def connected_at(self) -> datetime: ...
    @property
    def last_heartbeat_at(self) -> datetime: ...


@dataclass(eq=False, slots=True)
class LiveConnection:
    id: str
    plugin_id: str
    sdk_version: str
    plugin_version: str
    hostname: str
    pid: int
    capacity: int
    close: Closer
    send: Sender
    connected_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_heartbeat_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_seen_monotonic: float = field(default_factory=time.monotonic)
    running: int = 0
    """Jobs this connection holds now; the dispatcher keeps it up to date."""

    def saw_heartbeat(self) -> None:
        self.last_heartbeat_at = datetime.now(UTC)
        self.last_seen_monotonic = time.monotonic()


class LiveRegistry:
    def __init__(self) -> None:
        self._by_id: dict[str, LiveConnection] = {}
        self._by_plugin: dict[str, dict[str, LiveConnection]] = {}
        # Authenticated sockets that have not sent `hello` yet: not live, but a rotation
        # or a delete must still reach them.
        self._handshaking: dict[str, set[Closer]] = {}
        # Set and replaced on every connect or disconnect, for pages that show the lights.
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_changed(self, within: float) -> None:
        """Return when a connection comes or goes, or after `within` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):  # not wait_for: see hub/cluster/notify.py
                await self._changed.wait()

    def add(self, connection: LiveConnection) -> None:
        self._by_id[connection.id] = connection
        self._by_plugin.setdefault(connection.plugin_id, {})[connection.id] = connection
        self._notify()

    def remove(self, connection: LiveConnection) -> None:
        self._by_id.pop(connection.id, None)
        connections = self._by_plugin.get(connection.plugin_id)
        if connections is not None:
            connections.pop(connection.id, None)
            if not connections:
                del self._by_plugin[connection.plugin_id]
        self._notify()

    def handshake_started(self, plugin_id: str, close: Closer) -> None:
        self._handshaking.setdefault(plugin_id, set()).add(close)

    def handshake_ended(self, plugin_id: str, close: Closer) -> None:
        closers = self._handshaking.get(plugin_id)
        if closers is not None:
            closers.discard(close)
            if not closers:
                del self._handshaking[plugin_id]

    def get(self, connection_id: str) -> LiveConnection | None:
        """The live connection with this id, or None once it is gone."""
        return self._by_id.get(connection_id)

    def connections(self, plugin_id: str) -> list[LiveConnection]:
        return list(self._by_plugin.get(plugin_id, {}).values())

    def is_live(self, plugin_id: str) -> bool:
        return plugin_id in self._by_plugin

    def live_plugin_ids(self) -> set[str]:
        return set(self._by_plugin)

    def all_connections(self) -> list[LiveConnection]:
        return [c for conns in self._by_plugin.values() for c in conns.values()]

    async def disconnect(self, plugin_id: str, code: CloseCode, reason: str) -> int:
        """Close every connection of a plugin, live or still in its handshake; returns how
        many live ones there were."""
        connections = self.connections(plugin_id)
        closers = [c.close for c in connections] + list(self._handshaking.get(plugin_id, ()))
        await asyncio.gather(*(close(code, reason) for close in closers))
        return len(connections)

    async def disconnect_all(self, code: CloseCode, reason: str, *, within: float = 5.0) -> None:
        """Close every connection, live or still in its handshake; wait at most `within`
        seconds for the closing handshakes, so that a peer that reads nothing cannot hold
        up a shutdown or a step-down (each is offline at once; a slow close finishes in the
        background)."""
        closers = [c.close for c in self.all_connections()]
        closers += [close for waiting in self._handshaking.values() for close in waiting]
        closing = [asyncio.ensure_future(close(code, reason)) for close in closers]
        if closing:
            await asyncio.wait(closing, timeout=within)
