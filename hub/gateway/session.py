"""One plugin connection, from the upgrade to the close.

The session owns the socket: it says `welcome`, waits for `hello`, registers the
connection as live, then feeds every frame to the job engine until the socket
closes, a frame breaks the protocol, or heartbeats stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ango_plugins_sdk.protocol import (
    PROTOCOL_VERSION,
    CloseCode,
    ErrorCode,
    Heartbeat,
    Hello,
    JobType,
    ProtocolError,
    Welcome,
    decode,
    encode,
)
from hub.runtime import Hub
from hub.security import new_id
from hub.services.live import LiveConnection

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
    def __init__(self, websocket: WebSocket, hub: Hub, plugin_id: str, plugin_type: str) -> None:
        self._ws = websocket
        self._hub = hub
        self._settings = hub.settings
        self.plugin_id = plugin_id
        self.plugin_type = JobType(plugin_type)
        self.id = new_id()
        self._send_lock = asyncio.Lock()
        self._closing = False
        self._close_code: int | None = None
        """Who closed the socket and why: the hub's code, else the peer's."""
        self._peer_max_size = self._settings.max_message_size
        """Largest frame the peer takes: what it announced in `hello`, else what the hub
        told it in `welcome` (an older SDK checks frames against that)."""
        self._connection: LiveConnection | None = None

    async def run(self) -> None:
        await self._ws.accept()
        await self.send(
            Welcome(
                connection_id=self.id,
                heartbeat_interval=self._settings.heartbeat_interval,
                lease_ttl=self._settings.lease_ttl,
                max_message_size=self._settings.max_message_size,
            )
        )
        self._hub.live.handshake_started(self.plugin_id, self.close)
        try:
            hello = await self._receive_hello()
        except _Closed:
            return
        finally:
            self._hub.live.handshake_ended(self.plugin_id, self.close)
        if hello is None or self._closing:
            return  # refused, or closed meanwhile (secret rotated, plugin deleted)
        if hello.max_message_size is not None:
            self._peer_max_size = hello.max_message_size
        connection = LiveConnection(
            id=self.id,
            plugin_id=self.plugin_id,
            sdk_version=hello.sdk_version,
            plugin_version=hello.plugin_version,
            hostname=hello.hostname,
            pid=hello.pid,
            capacity=hello.capacity,
            close=self.close,
            send=self.send,
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
        try:
            await self._hub.jobs.connection_opened(connection, hello.jobs)
            await self._serve(connection)
        finally:
            self._hub.live.remove(connection)
            await self._hub.jobs.connection_closed(connection, orderly=self._close_code in _ORDERLY)
            log.info(
                "plugin %s disconnected: connection %s (close code %s)",
                self.plugin_id,
                self.id,
                self._close_code,
            )

    async def _receive_hello(self) -> Hello | None:
        try:
            message = decode(
                await asyncio.wait_for(self._receive_frame(), self._settings.hello_timeout),
                max_size=self._settings.max_message_size,
            )
        except TimeoutError:
            log.warning(
                "plugin %s connection %s: no hello within %.1fs, closing",
                self.plugin_id,
                self.id,
                self._settings.hello_timeout,
            )
            await self.close(CloseCode.HELLO_TIMEOUT, "no hello received in time")
            return None
        except ProtocolError as exc:
            await self._reject(exc)
            return None
        if not isinstance(message, Hello):
            await self._reject(
                ProtocolError(
                    ErrorCode.UNEXPECTED_MESSAGE, f"expected 'hello', got {message.type!r}"
                )
            )
            return None
        if message.protocol != PROTOCOL_VERSION:
            await self._reject(
                ProtocolError(
                    ErrorCode.UNSUPPORTED_PROTOCOL,
                    f"hub speaks protocol {PROTOCOL_VERSION}, plugin sent {message.protocol}",
                )
            )
            return None
        if message.job_type is not None and message.job_type != self.plugin_type:
            # Served anyway, every job would fail in the callback (or worse, succeed with
            # the wrong meaning): say so once, at the door.
            await self._reject(
                ProtocolError(
                    ErrorCode.JOB_TYPE_MISMATCH,
                    f"plugin is {self.plugin_type.value!r} but this process serves "
                    f"{message.job_type.value!r} jobs; use the ID and secret of a "
                    f"{message.job_type.value!r} plugin",
                )
            )
            return None
        return message

    async def _serve(self, connection: LiveConnection) -> None:
        # Any frame proves the process is alive; silence past the timeout means it is not.
        timeout = self._settings.heartbeat_timeout
        while True:
            try:
                frame = await asyncio.wait_for(self._receive_frame(), timeout)
            except TimeoutError:
                if self._closing:
                    return  # we closed it; the peer never answered the close
                log.warning(
                    "plugin %s connection %s: no heartbeat for %.1fs, closing",
                    self.plugin_id,
                    self.id,
                    timeout,
                )
                await self.close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
                return
            except _Closed:
                return
            connection.saw_heartbeat()
            try:
                message = decode(frame, max_size=self._settings.max_message_size)
                if isinstance(message, Hello):
                    raise ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, "'hello' was already sent")
                if isinstance(message, Heartbeat):
                    await self._hub.jobs.heartbeat(connection, message.jobs)
                else:
                    await self._hub.jobs.handle(connection, message)
            except ProtocolError as exc:
                await self._reject(exc)
                return

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
        """Send one message: the one send path of the session.

        A socket that is gone, however it went, is not an error here (the session is
        ending; its reader sees the close and the engine re-queues what it must). A
        message larger than the peer takes raises `MessageTooLarge` and is not sent.
        """
        if self._closing:
            return
        text = encode(message, max_size=self._peer_max_size)
        async with self._send_lock:
            try:
                await self._ws.send_text(text)
            except _GONE:
                self._closing = True

    async def close(self, code: CloseCode, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self._close_code = code
        if self._connection is not None:
            # Closed by the hub: offline now, not when the peer gets round to answering.
            self._hub.live.remove(self._connection)
        async with self._send_lock:
            if self._ws.application_state != WebSocketState.DISCONNECTED:
                with contextlib.suppress(*_GONE):
                    await self._ws.close(int(code), reason)
