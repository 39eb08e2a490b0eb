"""One plugin connection, from the upgrade to the close: the I/O around `HubSession`.

The protocol's `HubSession` decides (welcome, the hello checks, what a frame means, when
silence is a timeout); this module moves frames between it and the socket, registers the
connection as live once it said hello, and tells the job engine what the plugin reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ango_plugins_sdk.protocol import (
    CloseCode,
    Heartbeat,
    Hello,
    HubSession,
    JobRef,
    JobType,
    MessageTooLarge,
    ProtocolError,
    unbatched,
)
from hub.jobs.live import LiveConnection
from hub.runtime import Hub
from hub.security import new_id

log = logging.getLogger("hub.gateway")

_GONE = (WebSocketDisconnect, RuntimeError, OSError)
"""Every way Starlette and uvicorn report a socket that is already gone: a send after the
peer vanished (WebSocketDisconnect from OSError), after a close (a RuntimeError), or a
transport error."""

_ORDERLY = frozenset(
    {
        CloseCode.NORMAL,
        CloseCode.GOING_AWAY,
        CloseCode.SERVICE_RESTART,
        CloseCode.CREDENTIALS_REVOKED,
        CloseCode.PLUGIN_DELETED,
    }
)
"""Closes made on purpose, by the plugin (stopping) or by the hub (restart, rotated secret,
deleted plugin): a job assigned but not yet accepted at that moment is not to blame."""

MAX_CLOSE_REASON = 123
"""Bytes a WebSocket close reason may have (RFC 6455)."""


class _Closed(Exception):
    """The peer closed the socket."""


class PluginSession:
    # Slots: one per plugin process, thousands at once (docs/performance.md).
    __slots__ = (
        "_close_code",
        "_closing",
        "_connection",
        "_core",
        "_hub",
        "_send_lock",
        "_ws",
        "id",
        "plugin_id",
    )

    def __init__(self, websocket: WebSocket, hub: Hub, plugin_id: str, plugin_type: str) -> None:
        settings = hub.settings
        self._ws = websocket
        self._hub = hub
        self.plugin_id = plugin_id
        self.id = new_id()
        self._core = HubSession(
            connection_id=self.id,
            plugin_type=JobType(plugin_type),
            heartbeat_interval=settings.heartbeat_interval,
            heartbeat_timeout=settings.heartbeat_timeout,
            hello_timeout=settings.hello_timeout,
            lease_ttl=settings.lease_ttl,
            max_message_size=settings.max_message_size,
            now=time.monotonic(),
        )
        self._send_lock = asyncio.Lock()
        self._closing = False
        self._close_code: int | None = None
        """Who closed the socket and why: the hub's code, else the peer's."""
        self._connection: LiveConnection | None = None

    async def run(self) -> None:
        await self._ws.accept()
        await self.send(self._core.welcome())
        self._hub.live.handshake_started(self.plugin_id, self.close)
        try:
            await self._receive()  # until hello, or the end
        finally:
            self._hub.live.handshake_ended(self.plugin_id, self.close)
        opened = self._open()
        if opened is None:
            return  # refused, timed out, or closed meanwhile (secret rotated, plugin deleted)
        connection, held = opened
        try:
            self._hub.jobs.connection_opened(connection, held)
            await self._receive()
        finally:
            self._hub.live.remove(connection)
            self._hub.jobs.connection_closed(connection, orderly=self._close_code in _ORDERLY)
            log.info(
                "plugin %s disconnected: connection %s (close code %s)",
                self.plugin_id,
                self.id,
                self._close_code,
            )

    def _open(self) -> tuple[LiveConnection, list[JobRef]] | None:
        """The live connection the hello describes, registered, and the jobs it holds;
        None without a hello. The hello itself is not kept, here or in the core: the
        connection has what it needs of it (a kilobyte per process otherwise)."""
        hello, self._core.hello = self._core.hello, None
        if hello is None or self._closing:
            return None
        connection = LiveConnection(
            id=self.id,
            plugin_id=self.plugin_id,
            sdk_version=hello.sdk_version,
            plugin_version=hello.plugin_version,
            hostname=hello.hostname,
            pid=hello.pid,
            capacity=hello.capacity,
            close=self.close,
            send=self.send_all,
        )
        self._connection = connection
        self._hub.live.add(connection)
        log.info(
            "plugin %s connected: connection %s from %s pid %s (plugin %s, sdk %s, capacity %d)",
            self.plugin_id,
            self.id,
            hello.hostname,
            hello.pid,
            hello.plugin_version,
            hello.sdk_version,
            hello.capacity,
        )
        return connection, hello.jobs

    async def _receive(self) -> None:
        """Feed frames to the session core until it opens (during the handshake) or until
        the connection ends (once open)."""
        while True:
            try:
                # One timer per deadline, not one per frame: frames only move the core's
                # deadline, and when the timer fires the loop looks whether the deadline
                # really passed or comes again with the new one. (asyncio.timeout, not
                # wait_for, which on 3.11 can swallow a cancel: CPython gh-86296.)
                async with asyncio.timeout(self._core.deadline() - time.monotonic()):
                    while (stop := self._take(await self._receive_frame())) is None:
                        pass
            except TimeoutError:
                if self._core.deadline() > time.monotonic():
                    continue
                await self._time_out()
                return
            except _Closed:
                return
            if isinstance(stop, ProtocolError):
                await self._reject(stop)
            return

    def _take(self, frame: str | bytes) -> Hello | ProtocolError | None:
        """Hand one frame on; what ends the receiving (a hello, a broken frame), or None."""
        if self._closing:
            return None  # closed by the hub: wait for the peer's answer (or the deadline)
        try:
            message = self._core.receive(frame, time.monotonic())
        except ProtocolError as exc:
            return exc
        if isinstance(message, Hello):
            return message  # the handshake is over (a second hello raises instead)
        connection = self._connection
        assert connection is not None
        connection.saw_heartbeat()  # any frame proves the process alive
        jobs = self._hub.jobs
        for each in unbatched(message):
            if isinstance(each, Heartbeat):
                jobs.heartbeat(connection, each.jobs)
                continue
            try:
                jobs.handle(connection, each)
            except ProtocolError as exc:
                return exc
        return None

    async def _time_out(self) -> None:
        if self._closing:
            return  # we closed it; the peer never answered the close
        settings = self._hub.settings
        code = self._core.timeout_code()
        if code is CloseCode.HELLO_TIMEOUT:
            what, seconds, reason = "no hello", settings.hello_timeout, "no hello received in time"
        else:
            what, seconds, reason = "no heartbeat", settings.heartbeat_timeout, "heartbeat timeout"
        log.warning(
            "plugin %s connection %s: %s for %.1fs, closing", self.plugin_id, self.id, what, seconds
        )
        await self.close(code, reason)

    async def _receive_frame(self) -> str | bytes:
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            if self._close_code is None:
                self._close_code = int(message.get("code") or CloseCode.GOING_AWAY)
            raise _Closed
        text = message.get("text")
        return text if text is not None else message.get("bytes") or b""

    async def _reject(self, error: ProtocolError) -> None:
        """Tell the plugin what was wrong, log one line, close with the documented code
        (and the message as the reason when it fits, so the peer's last line says why)."""
        log.warning(
            "plugin %s connection %s: %s: %s", self.plugin_id, self.id, error.code, error.message
        )
        await self.send(error.to_message())
        fits = len(error.message.encode("utf-8")) <= MAX_CLOSE_REASON
        await self.close(error.code.close_code, error.message if fits else error.code.value)

    async def send(self, message: BaseModel) -> None:
        """Send one message; `MessageTooLarge` (not sent) if the peer could not take it."""
        refused = await self.send_all([message])
        if refused:
            raise refused[0]

    async def send_all(self, messages: Sequence[BaseModel]) -> dict[int, MessageTooLarge]:
        """Send messages in order, in as few frames as the connection's protocol allows:
        the one send path of the session. Returns, by position, those larger than the
        peer takes (not sent).

        A socket that is gone, however it went, is not an error here (the session is
        ending; its reader sees the close and the engine re-queues what it must).
        """
        if self._closing:
            return {}
        frames, refused = self._core.frames(messages)
        async with self._send_lock:
            try:
                for frame in frames:
                    await self._ws.send_text(frame)
            except _GONE:
                self._closing = True
        return refused

    async def close(self, code: CloseCode, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self._close_code = code
        self._core.close()
        if self._connection is not None:
            # Closed by the hub: offline now, not when the peer gets round to answering.
            self._hub.live.remove(self._connection)
        async with self._send_lock:
            if self._ws.application_state != WebSocketState.DISCONNECTED:
                with contextlib.suppress(*_GONE):
                    await self._ws.close(int(code), reason)
