"""Answers of hot reads kept in memory until a write could change them.

Every API request looks up its key's principal, every submit its plugin, every plugin
handshake its plugin's secret: the same few rows, read thousands of times for each time
they change. Each kind of read has a `ReadCache`; every write that could change one of its
answers calls `Caches.changed(session, name)` inside its transaction, which

- clears the cache on this node when the transaction commits (not before: a read between
  the clear and the commit would put the old answer back);
- with several nodes, sends a NOTIFY in the same transaction, so every other node clears
  its copy the moment the change is visible (hub.cluster.notify).

A read that started before a clear may finish after it with the old answer: `put` takes
the generation seen before the read and drops the answer if a clear came in between. A
node whose listener is down might miss a change, so it does not trust its caches then
(`trusted`): every read goes to the database until the listener is back, and the caches
start empty. With several nodes, answers also expire after `SHARED_MAX_AGE`, in case the
listener's connection died silently. Only found answers are kept: "no such key" is never
cached, so a new key or plugin works at once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

SHARED_MAX_AGE = 10.0
"""With several nodes, answers are also dropped after this many seconds: a safety net for
a listener connection that died without the node noticing, which would miss clears."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

CHANNEL = "hub_caches"
"""The NOTIFY channel of cache clears between nodes; the payload names the cache."""


class ReadCache(Generic[K, V]):
    def __init__(self, *, max_age: float | None = None, max_entries: int = 50_000) -> None:
        self._entries: dict[K, tuple[V, float]] = {}
        self._max_age = max_age
        self.max_entries = max_entries
        self.generation = 0
        self.trusted: Callable[[], bool] = lambda: True

    def get(self, key: K) -> V | None:
        if not self.trusted():
            return None
        found = self._entries.get(key)
        if found is None:
            return None
        value, expires_at = found
        if self._max_age is not None and time.monotonic() > expires_at:
            del self._entries[key]
            return None
        return value

    async def through(self, key: K, read: Callable[[], Awaitable[V | None]]) -> V | None:
        """The cached answer, or `read()`'s (kept when found, unless a clear came while it
        was being read)."""
        found = self.get(key)
        if found is not None:
            return found
        generation = self.generation
        found = await read()
        if found is not None:
            self.put(key, found, generation)
        return found

    def put(self, key: K, value: V, generation: int) -> None:
        """Keep `value`, read after `generation` was seen, unless a clear came since."""
        if generation != self.generation or not self.trusted():
            return
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest; rarely reached
        self._entries[key] = (value, time.monotonic() + (self._max_age or 0))

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1


class Caches:
    """The hub's read caches by name, and how writes clear them."""

    def __init__(self, *, broadcast: bool) -> None:
        self._broadcast = broadcast
        """Several nodes share the database: tell the others too, and keep answers for
        `SHARED_MAX_AGE` at most."""
        self._by_name: dict[str, list[ReadCache[Any, Any]]] = {}
        self._trusted: Callable[[], bool] = lambda: True

    def new(self, name: str) -> ReadCache[Any, Any]:
        """A cache cleared with the others of `name` by `changed(session, name)`."""
        cache: ReadCache[Any, Any] = ReadCache(max_age=SHARED_MAX_AGE if self._broadcast else None)
        cache.trusted = self._trusted
        self._by_name.setdefault(name, []).append(cache)
        return cache

    async def changed(self, session: AsyncSession, name: str) -> None:
        """Inside a write transaction that changes what the cache `name` answers."""
        event.listen(session.sync_session, "after_commit", lambda _session: self._clear(name))
        if self._broadcast:
            await session.execute(
                text("SELECT pg_notify(:channel, :name)"), {"channel": CHANNEL, "name": name}
            )

    def heard(self, name: str | None) -> None:
        """Another node changed what `name` answers; None: news may have been missed."""
        for cache_name in self._by_name:
            if name is None or name == cache_name:
                self._clear(cache_name)

    def _clear(self, name: str) -> None:
        for cache in self._by_name[name]:
            cache.clear()

    def trust_while(self, connected: Callable[[], bool]) -> None:
        self._trusted = connected
        for caches in self._by_name.values():
            for cache in caches:
                cache.trusted = connected
