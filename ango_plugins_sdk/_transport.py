"""The network under the SDK: swappable, so tests can run a plugin against a fake hub.

`WebsocketsTransport` is the real one. A transport only moves text frames and reports
handshake refusals and closes; the protocol logic lives in `_connection`.
"""

from __future__ import annotations

from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


class HandshakeRejected(Exception):
    """The hub answered the upgrade with an HTTP error instead of a WebSocket."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class ChannelClosed(Exception):
    """The connection closed; `code` is the WebSocket close code (1006 if none was sent)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"closed with {code} {reason}".strip())
        self.code = code
        self.reason = reason


class Channel(Protocol):
    async def send(self, text: str) -> None: ...

    async def recv(self) -> str | bytes:
        """The next frame; raises `ChannelClosed` when the connection is gone."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class Transport(Protocol):
    async def connect(self, url: str, *, headers: dict[str, str], max_size: int) -> Channel:
        """Open a channel; raises `HandshakeRejected` or `OSError`/`TimeoutError`."""
        ...


class _WebsocketsChannel:
    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection

    async def send(self, text: str) -> None:
        try:
            await self._connection.send(text)
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def recv(self) -> str | bytes:
        try:
            return await self._connection.recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._connection.close(code, reason)


def _closed(exc: ConnectionClosed) -> ChannelClosed:
    if exc.rcvd is not None:
        return ChannelClosed(exc.rcvd.code, exc.rcvd.reason)
    return ChannelClosed(1006, "connection lost")


class WebsocketsTransport:
    """WebSocket client from the `websockets` library, with protocol-level pings."""

    def __init__(self, *, open_timeout: float = 10.0, ping_interval: float = 20.0) -> None:
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval

    async def connect(self, url: str, *, headers: dict[str, str], max_size: int) -> Channel:
        try:
            connection = await connect(
                url,
                additional_headers=headers,
                max_size=max_size,
                open_timeout=self._open_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_interval,
                compression=None,  # small JSON frames: deflate costs more than it saves
                # The SDK has its own reconnect loop with its own backoff.
                process_exception=lambda exc: exc,
            )
        except InvalidStatus as exc:
            body = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
            raise HandshakeRejected(exc.response.status_code, body) from None
        return _WebsocketsChannel(connection)
