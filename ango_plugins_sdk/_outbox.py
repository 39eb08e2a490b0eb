"""Messages on their way to the hub, written by one task per session.

Under protocol 2 whatever queues up while a frame is being written leaves together in
the next frame (a `batch`), and an `accepted` is left out when its attempt's outcome
goes with it: the outcome says both (`PluginSession.frames`). So a process running many
short jobs writes a frame per burst, not four per job, and adds no wait to a lone
message: the writer sends as soon as it is free. Under protocol 1 each message is a
frame of its own.

Sending only queues: a message still waiting when the session ends is lost with it,
which the protocol allows (an outcome stays held by the runner until its `ack` and goes
again on the next session; logs and progress are best effort). What queues is bounded by
the jobs the process holds.
"""

from __future__ import annotations

import asyncio
import logging

from ango_plugins_sdk._transport import Channel
from ango_plugins_sdk.protocol import PluginMessage, PluginSession

log = logging.getLogger("ango_plugins_sdk")


class Outbox:
    def __init__(self, channel: Channel, core: PluginSession) -> None:
        self._channel = channel
        self._core = core
        self._pending: list[PluginMessage] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    async def send(self, message: PluginMessage) -> None:
        """Queue `message` for the writer (a `Sender`: it never waits for the socket)."""
        if self._closed:
            return
        self._pending.append(message)
        self._idle.clear()
        self._wake.set()

    async def run(self) -> None:
        """Write what is queued until the channel closes (`ChannelClosed` then)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                messages, self._pending = self._pending, []
                frames, dropped = self._core.frames(messages)
                for message, error in dropped:
                    what = getattr(message, "type", type(message).__name__)
                    log.warning("not sending a %r message it cannot encode: %s", what, error)
                for frame in frames:
                    await self._channel.send(frame)
                if not self._pending:
                    self._idle.set()
        finally:
            self._closed = True
            self._idle.set()  # nothing more will go: no one may wait for it

    async def drained(self) -> None:
        """Return once everything queued has been written (or the writer has stopped)."""
        await self._idle.wait()
