"""The plugin process's own health endpoints, for orchestrators: `/livez` and `/readyz`.

A tiny HTTP/1.1 server on the process's event loop (`asyncio.start_server`, nothing beyond
the standard library). It answers only `GET` and `HEAD` of those two paths, one request
per connection, with a small JSON body; it reads a request head for at most
`HEAD_TIMEOUT` seconds and `MAX_HEAD` bytes, and holds at most `MAX_CLIENTS` connections,
so a slow or garbage-sending client costs it a socket for a few seconds, never the loop.

- `/livez`: 200 while the process's connection loop runs. That it answers at all shows
  the event loop is not blocked (heartbeats go out from the same loop). It does not
  depend on the hub: a process whose hub is down is not helped by a restart.
- `/readyz`: 200 only while the process has a session with the hub (welcomed, hello
  sent) and is not stopping; 503 while it connects or reconnects, and from the moment
  it is asked to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ango_plugins_sdk._errors import ConfigurationError

log = logging.getLogger("ango_plugins_sdk")

DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - orchestrators probe the pod's or container's own IP
"""Where the health server listens unless `PLUGIN_HEALTH_HOST` says otherwise."""
PORT_ENV = "PLUGIN_HEALTH_PORT"
HOST_ENV = "PLUGIN_HEALTH_HOST"
PORT_FLAG = "--health-port"
HEAD_TIMEOUT = 5.0
"""Seconds a client has to send its whole request line and headers."""
MAX_HEAD = 8192
"""Largest request head read, in bytes; a longer one is answered 431 and closed."""
MAX_CLIENTS = 32
"""Connections served at once; more are closed unanswered."""

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Health:
    """One look at the process: what `/livez` and `/readyz` answer."""

    live: bool
    ready: bool
    details: Mapping[str, Any] = field(default_factory=dict)
    """Shown in both answers' JSON bodies (never a secret)."""


def parse_port(raw: str, source: str) -> int:
    """A TCP port from text: a whole number from 0 (any free port) to 65535."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise ConfigurationError(
            f"{source}={raw!r} must be a port number from 1 to 65535 (0: any free port)"
        )
    return int(text)


def port_from_argv(argv: list[str]) -> int | None:
    """The value of `--health-port N` or `--health-port=N` in `argv` (the arguments after
    the program's name), or None. Everything else in `argv` is left alone, and nothing
    after a bare `--` is looked at."""
    found: int | None = None
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == PORT_FLAG:
            if index + 1 >= len(argv):
                raise ConfigurationError(
                    f"{PORT_FLAG} needs a port number, as in --health-port 8081"
                )
            found = parse_port(argv[index + 1], PORT_FLAG)
        elif arg.startswith(PORT_FLAG + "="):
            found = parse_port(arg.partition("=")[2], PORT_FLAG)
    return found


def port_from_env(environ: Mapping[str, str] | None = None) -> int | None:
    """`PLUGIN_HEALTH_PORT` as a port, or None when it is unset or empty."""
    raw = (os.environ if environ is None else environ).get(PORT_ENV, "")
    return parse_port(raw, PORT_ENV) if raw.strip() else None


def host_from_env(environ: Mapping[str, str] | None = None) -> str:
    """`PLUGIN_HEALTH_HOST`, or `DEFAULT_HOST` when it is unset or empty."""
    raw = (os.environ if environ is None else environ).get(HOST_ENV, "")
    return raw.strip() or DEFAULT_HOST


class HealthServer:
    """Serves `/livez` and `/readyz` from `probe()`, called afresh for every request."""

    def __init__(self, probe: Callable[[], Health]) -> None:
        self._probe = probe
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[Any]] = set()
        self.port: int | None = None
        """The port listened on, once started (the chosen one when asked for port 0)."""

    async def start(self, host: str, port: int) -> None:
        try:
            self._server = await asyncio.start_server(
                self._serve_client, host, port, limit=MAX_HEAD
            )
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve the health endpoints on {host}:{port}: {exc.strerror or exc}"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        log.info("health endpoints on http://%s:%s (/livez, /readyz)", shown, self.port)

    async def close(self) -> None:
        """Stop listening and drop the connections being served."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            if len(self._clients) >= MAX_CLIENTS:
                return
            self._clients.add(task)
            async with asyncio.timeout(HEAD_TIMEOUT):
                status, body, head_only = await self._answer(reader)
                writer.write(_response(status, body, head_only=head_only))
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass  # a slow, silent or vanished client: nothing to answer
        except asyncio.CancelledError:
            # close(), or the loop shutting down: this task ends here either way. Not
            # re-raised: on Python 3.11 asyncio's done-callback for a client handler logs
            # a cancelled one as an error.
            pass
        except Exception:  # never let one client's request take the server down
            log.exception("health endpoint: unexpected error")
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any], bool]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            return 431, {"error": "request head too large"}, False
        except asyncio.IncompleteReadError as exc:
            if len(exc.partial) >= MAX_HEAD:
                return 431, {"error": "request head too large"}, False
            raise
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, {"error": "bad request"}, False
        method, target, _version = parts
        head_only = method == "HEAD"
        path = target.split("?", 1)[0]
        if path not in ("/livez", "/readyz"):
            return 404, {"error": "not found; try /livez or /readyz"}, head_only
        if method not in ("GET", "HEAD"):
            return 405, {"error": "only GET and HEAD"}, False
        health = self._probe()
        ok = health.live if path == "/livez" else health.live and health.ready
        body = {"status": "ok" if ok else "unavailable", **health.details}
        return (200 if ok else 503), body, head_only


def _response(status: int, body: dict[str, Any], *, head_only: bool) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode() + b"\n"
    headers = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Cache-Control: no-store",
        "Connection: close",
    ]
    if status == 405:
        headers.append("Allow: GET, HEAD")
    head = ("\r\n".join(headers) + "\r\n\r\n").encode("ascii")
    return head if head_only else head + payload
