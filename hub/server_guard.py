"""What `plugin-hub serve` adds to uvicorn so that connections cannot exhaust the hub.

uvicorn closes a keep-alive connection that stays idle after a response, but it has no
timeout for a request head: a connection that sends nothing, or half a request, stays open
for ever, holding a file descriptor. Enough of them and `accept` fails with EMFILE, and so
does every file the hub opens (the database). So the hub's HTTP protocol

- closes a connection that has not sent a whole request head within HUB_HEADER_TIMEOUT of
  opening, or of its previous response (a WebSocket, once upgraded, is the gateway's to time
  out, by its heartbeats), and
- answers 503 and closes a new connection while HUB_MAX_CONNECTIONS are open, so the
  connections already open (plugins) and the hub's own files keep their descriptors. By
  default that bound derives from the open-file limit, first raised to the hard limit.

Body timeouts, TLS and per-client limits belong to a reverse proxy (docs/security.md).
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("hub.server")

RESERVED_FDS = 128
"""Descriptors kept for the hub itself: the database's connections (three files each), logs,
the event loop, imports."""
FDS_PER_CONNECTION = 2
"""A connection's socket, and the file an upload it carries is spooled or written to."""
_UNLIMITED_FDS = 1 << 20
_WARN_EVERY = 10.0
MAX_HEAD_BYTES = 64 * 1024
"""A request line and headers; the dashboard's and API's are a few hundred bytes."""


def _plain_response(status: bytes, message: bytes) -> bytes:
    return (
        b"HTTP/1.1 %s\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n%s" % (status, len(message), message)
    )


_FULL = _plain_response(
    b"503 Service Unavailable", b"the hub is at its connection limit; retry shortly\n"
)
_HEAD_TOO_LARGE = _plain_response(
    b"431 Request Header Fields Too Large",
    b"the request line and headers are over %d bytes\n" % MAX_HEAD_BYTES,
)


def raise_fd_limit() -> int:
    """Raise the soft open-file limit to the hard one (a soft 1024 is common and is only a
    few hundred sockets); returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _UNLIMITED_FDS if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:  # macOS caps it below an unlimited hard limit
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)
            return soft
        log.info("raised the open-file limit from %d to %d", soft, wanted)
        return wanted
    return _UNLIMITED_FDS if soft == resource.RLIM_INFINITY else soft


def connection_budget(fd_limit: int) -> int:
    """How many connections fit in `fd_limit` descriptors beside the hub's own files."""
    return max(16, (fd_limit - RESERVED_FDS) // FDS_PER_CONNECTION)


@dataclass
class ConnectionLimits:
    header_timeout: float
    max_connections: int
    _refused: int = 0
    _warned_at: float = -math.inf

    def refused(self) -> None:
        """Count a refused connection; warn now and then, not once per connection."""
        self._refused += 1
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            log.warning(
                "at the connection limit (%d open): refused %d new connection(s) with 503",
                self.max_connections,
                self._refused,
            )
            self._warned_at, self._refused = now, 0


def guarded_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's httptools HTTP protocol with `limits` enforced."""

    class Guarded(GuardedHttpProtocol):
        pass

    Guarded.limits = limits
    return Guarded


class GuardedHttpProtocol(HttpToolsProtocol):
    limits: ClassVar[ConnectionLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._heads = 0
        self._head_bytes = 0
        self._in_head = False
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.limits.refused()
            self._answer_and_close(_FULL)
            return
        self._expect_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # httptools buffers a head without limit: count what arrives while inside one.
        if self._in_head and self.transport.get_protocol() is self:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._answer_and_close(_HEAD_TOO_LARGE)

    def on_message_begin(self) -> None:
        self._in_head, self._head_bytes = True, 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads += 1
        self._stop_waiting()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle.response_complete:  # else a pipelined request is being answered
            self._expect_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _expect_head(self) -> None:
        """Close the connection unless the next request head arrives in time."""
        self._stop_waiting()
        if not self.transport.is_closing():
            self._head_deadline = self.loop.call_later(
                self.limits.header_timeout, self._head_overdue, self._heads
            )

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_overdue(self, heads_then: int) -> None:
        self._head_deadline = None
        upgraded = self.transport.get_protocol() is not self  # now a WebSocket's
        if self._heads == heads_then and not upgraded and not self.transport.is_closing():
            self.transport.close()

    def _answer_and_close(self, response: bytes) -> None:
        self._stop_waiting()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()
