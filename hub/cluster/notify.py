"""Wake-ups between nodes: PostgreSQL's LISTEN/NOTIFY.

A NOTIFY is sent inside the transaction whose rows it announces, so the listener wakes
exactly when they are visible. Notifications are hints, not messages: a listener that
missed some (reconnecting after the database blinked) loses nothing, because every waiter
also polls on a short interval and reads the truth from the tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("hub.cluster")

COMMANDS = "hub_commands"
"""Other nodes to the dispatcher: a command is waiting."""
PRESENCE = "hub_presence"
"""The dispatcher to other nodes: its plugin processes changed."""
LEASE = "hub_lease"
"""The dispatcher handed its lease back (a graceful stop): take it now."""
RECONNECT_DELAY = 1.0


async def notify(session: AsyncSession, channel: str) -> None:
    """Announce `channel`'s news when `session`'s transaction commits."""
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


def asyncpg_dsn(database_url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy `postgresql+asyncpg://` URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """One connection LISTENing to the channels; each channel's event is set on news.
    A channel may also have a reader, told each notification's payload, and None when
    notifications may have been missed (on every connect)."""

    def __init__(
        self,
        database_url: str,
        channels: Iterable[str],
        readers: dict[str, Callable[[str | None], None]] | None = None,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._readers = readers or {}
        self._events = {channel: asyncio.Event() for channel in [*channels, *self._readers]}
        self._task: asyncio.Task[None] | None = None
        self._up = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="hub-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    async def wait_connected(self, within: float) -> bool:
        """Whether the listener is connected, waiting up to `within` seconds for it."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._up.wait()
        return self.connected

    async def wait(self, channel: str, within: float) -> None:
        """Return on news of `channel`, or after `within` seconds (the polling fallback)."""
        event = self._events[channel]
        # Not asyncio.wait_for: on Python 3.11 it swallows a cancel that lands as the event
        # fires (CPython gh-86296), and a node's stop() then waited for ever for a task that
        # went on looping. asyncio.timeout lets the cancel through.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await event.wait()
        event.clear()

    def _on_notification(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        event = self._events.get(channel)
        if event is not None:
            event.set()
        reader = self._readers.get(channel)
        if reader is not None:
            reader(payload)

    async def _listen_forever(self) -> None:
        while True:
            connection: asyncpg.Connection | None = None
            lost = asyncio.Event()
            try:
                connection = await asyncpg.connect(self._dsn)
                connection.add_termination_listener(lambda _connection, ended=lost: ended.set())
                for channel in self._events:
                    await connection.add_listener(channel, self._on_notification)
                for reader in self._readers.values():
                    reader(None)
                self._up.set()
                for event in self._events.values():
                    event.set()  # news may have been missed while away: look now
                await lost.wait()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("listening for other hub nodes failed: %s; retrying", exc)
            finally:
                self._up.clear()
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=1)
            await asyncio.sleep(RECONNECT_DELAY)
