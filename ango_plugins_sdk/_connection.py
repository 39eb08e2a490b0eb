"""The plugin's side of a hub connection: dial out, say hello, heartbeat, reconnect.

One `HubConnection` lives as long as the plugin process. Each successful dial is a
session (welcome -> hello -> frames until the socket closes); between sessions it
waits a jittered, capped, exponential delay. Jobs outlive sessions: the runner keeps
running them and holds their outcomes until the hub acknowledges them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import os
import random
import socket
import ssl
import time
from collections.abc import Awaitable
from typing import Literal, Protocol, TypeVar
from urllib.parse import urlsplit

from ango_plugins_sdk._errors import ConfigurationError
from ango_plugins_sdk._outbox import Outbox
from ango_plugins_sdk._transport import Channel, ChannelClosed, HandshakeRejected, Transport
from ango_plugins_sdk._version import __version__
from ango_plugins_sdk.protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Ack,
    Backoff,
    Cancel,
    CloseCode,
    Error,
    ErrorCode,
    Job,
    JobRef,
    JobType,
    PluginMessage,
    PluginSession,
    ProtocolError,
    Welcome,
    encode,
)

log = logging.getLogger("ango_plugins_sdk")

T = TypeVar("T")

WELCOME_TIMEOUT = 10.0
"""Seconds to wait for the hub's `welcome` after the upgrade."""
MAX_INCOMING_MESSAGE_SIZE = 4 * DEFAULT_MAX_MESSAGE_SIZE
"""Largest frame this process takes from the hub. It is announced in `hello`, and the hub
never sends a larger one (it fails a job too big for it instead)."""
_ENDPOINT = "/ws/plugin"
NOT_DISPATCHER_MAX_DELAY = 0.5
"""Longest wait before trying again after a hub node said another node dispatches. Short:
that 503 comes before the upgrade and costs the node next to nothing, and behind a
round-robin balancer each try has another chance to reach the dispatcher."""
RESTART_MAX_DELAY = 1.0
"""Longest wait between tries for `RESTART_WINDOW` seconds after the hub closed the
connection with 1012 (service restart): it said it is coming back, so the growing waits
meant for a hub that is down would only keep the process away from a hub that is up
(with the default schedule, a fleet took 6-8 s to come back from a 3 s restart)."""
RESTART_WINDOW = 60.0


ConnectionState = Literal["connecting", "ready", "reconnecting", "stopping", "stopped"]
"""Where a `HubConnection` is: dialling for its first session, in a session, between
sessions, asked to stop (handing back or finishing its jobs), or done."""


class PluginStopped(Exception):
    """The hub ended this plugin for good: retrying cannot help (bad secret, deleted)."""


class Sender(Protocol):
    async def __call__(self, message: PluginMessage) -> None: ...


class JobHandler(Protocol):
    """What the connection needs from the job side of the SDK."""

    def held_jobs(self) -> list[JobRef]:
        """Jobs running or holding an un-acked outcome: named in hello and heartbeats."""
        ...

    async def attach(self, send: Sender, max_message_size: int) -> None:
        """A session is up: (re)send what waits for the hub through `send`."""
        ...

    def detach(self) -> None:
        """The session ended: hold outcomes until the next one."""
        ...

    async def on_message(self, message: Job | Cancel | Ack) -> None: ...

    async def shutdown(self, send: Sender | None) -> None:
        """The process is stopping: hand back or finish what it holds."""
        ...


async def _unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """`work`'s result, or None (with `work` cancelled) if `stop` is set first."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return None


def websocket_url(host: str) -> str:
    """ws(s)://.../ws/plugin from the hub's http(s) base URL (a path is kept: a hub may sit
    under a prefix behind a proxy)."""
    parts = urlsplit(host.strip())
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ConfigurationError(
            f"HUB_URL must be the hub's address with http:// or https://, such as "
            f"http://127.0.0.1:8000; got {host!r} (did you mean 'http://{host.strip()}'?)"
        )
    path = parts.path.rstrip("/")
    if not path.endswith(_ENDPOINT):
        path += _ENDPOINT
    return f"{scheme}://{parts.netloc}{path}"


class HubConnection:
    def __init__(
        self,
        *,
        plugin_id: str,
        secret: str,
        host: str,
        plugin_version: str,
        job_type: JobType | None = None,
        capacity: int,
        jobs: JobHandler,
        transport: Transport,
        backoff: Backoff,
    ) -> None:
        self._url = websocket_url(host)
        credentials = base64.b64encode(f"{plugin_id}:{secret}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {credentials}"}
        self._plugin_id = plugin_id
        self._plugin_version = plugin_version
        self._job_type = job_type
        self._capacity = capacity
        self._jobs = jobs
        self._transport = transport
        self._backoff = backoff
        self.connected = asyncio.Event()
        """Set while a session is up (after hello); tests and callers may wait on it."""
        self._state: ConnectionState = "connecting"
        self._state_since = time.monotonic()
        self._stop: asyncio.Event | None = None

    @property
    def state(self) -> ConnectionState:
        """Where the connection is now. "stopping" from the moment `stop` is set, even before
        the loop has woken up to it: the process's health endpoint reads this."""
        if self._state not in ("stopping", "stopped") and self._stop and self._stop.is_set():
            return "stopping"
        return self._state

    @property
    def state_since(self) -> float:
        """`time.monotonic()` when `state` last changed (as the loop noticed it)."""
        return self._state_since

    def _set_state(self, state: ConnectionState) -> None:
        if state == self._state or self._state == "stopped":
            return
        if self._state == "stopping" and state != "stopped":
            return  # a session ending while the process stops is part of stopping
        self._state = state
        self._state_since = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        """Keep a session up until `stop` is set. Raises `PluginStopped` when retrying is futile."""
        self._stop = stop
        try:
            await self._reconnect_until(stop)
        finally:
            # However it ends, running jobs are stopped and the worker threads released.
            self._set_state("stopping")
            await self._jobs.shutdown(None)
            self._set_state("stopped")

    async def _reconnect_until(self, stop: asyncio.Event) -> None:
        attempt = 0
        restarting_until = -math.inf
        while not stop.is_set():
            established = False
            another_node = False
            try:
                channel = await _unless_stopped(
                    self._transport.connect(
                        self._url, headers=self._headers, max_size=MAX_INCOMING_MESSAGE_SIZE
                    ),
                    stop,
                )
                if channel is None:
                    break
            except HandshakeRejected as exc:
                self._raise_if_refused(exc)
                another_node = _hub_error_code(exc.body) == "not_dispatcher"
                if another_node:
                    log.info("this hub node does not take plugin connections now; trying again")
                else:
                    log.warning("the hub refused the connection: HTTP %s", exc.status)
            except ssl.SSLError as exc:
                if exc.reason == "WRONG_VERSION_NUMBER":
                    # The server answered in plain text: retrying over TLS cannot help.
                    raise PluginStopped(
                        f"{self._url} does not speak TLS (the hub serves plain HTTP there): "
                        "use http:// instead of https:// in HUB_URL"
                    ) from None
                log.warning("TLS with the hub at %s failed: %s", self._url, exc)
            except Exception as exc:  # any failure to dial is retried, whatever its kind
                log.warning("cannot reach the hub at %s: %s", self._url, exc or type(exc).__name__)
            else:
                established, close_code = await self._session(channel, stop)
                if close_code == CloseCode.SERVICE_RESTART:
                    restarting_until = time.monotonic() + RESTART_WINDOW
            if stop.is_set():
                break
            if established:
                attempt = 0
            delay = self._backoff.delay(attempt)
            if another_node:
                # Behind a load balancer the next try may reach the dispatcher: keep trying
                # soon, without the growing wait meant for a hub that is down.
                delay = min(delay, NOT_DISPATCHER_MAX_DELAY)
            elif time.monotonic() < restarting_until:
                # A fresh draw, not min(delay, RESTART_MAX_DELAY): a cap would put most of
                # a fleet at exactly the cap, all at once.
                delay = min(delay, random.uniform(0.0, RESTART_MAX_DELAY))
            attempt += 1
            log.info("reconnecting in %.2fs", delay)
            # asyncio.timeout, not wait_for, which on Python 3.11 can swallow a cancel
            # that lands as the awaited thing completes (CPython gh-86296).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()

    async def _session(self, channel: Channel, stop: asyncio.Event) -> tuple[bool, int | None]:
        """One connection: whether it got as far as hello (so the backoff starts over), and
        the hub's close code if it closed the connection."""
        core = PluginSession(
            sdk_version=__version__,
            plugin_version=self._plugin_version,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            capacity=self._capacity,
            job_type=self._job_type,
            max_message_size=MAX_INCOMING_MESSAGE_SIZE,
            welcome_timeout=WELCOME_TIMEOUT,
            now=time.monotonic(),
        )
        try:
            welcome = await _unless_stopped(self._handshake(channel, core), stop)
            if welcome is None:
                with contextlib.suppress(Exception):
                    await channel.close(CloseCode.NORMAL, "plugin stopping")
                return False, None
        except (ChannelClosed, ProtocolError, TimeoutError) as exc:
            self._raise_if_final(exc)
            log.warning("handshake with the hub failed: %s", exc)
            with contextlib.suppress(Exception):
                await channel.close(CloseCode.PROTOCOL_ERROR, "handshake failed")
            return False, exc.code if isinstance(exc, ChannelClosed) else None

        outbox = Outbox(channel, core)
        log.info("connected to %s as connection %s", self._url, welcome.connection_id)
        self.connected.set()
        self._set_state("ready")
        await self._jobs.attach(outbox.send, welcome.max_message_size)
        tasks = [
            asyncio.create_task(self._receive(channel, core)),
            asyncio.create_task(self._heartbeat(outbox, core)),
            asyncio.create_task(stop.wait()),
            asyncio.create_task(outbox.run()),
        ]
        close_code: int | None = None
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if tasks[2] in done:
                self._set_state("stopping")
                await self._jobs.shutdown(outbox.send)
                await outbox.drained()
                await channel.close(CloseCode.NORMAL, "plugin stopping")
            for task in done:
                error = None if task.cancelled() else task.exception()
                if error is None:
                    continue
                self._raise_if_final(error)
                if not isinstance(error, ChannelClosed):
                    raise error
                close_code = error.code
                log.warning("disconnected from the hub: %s", error)
        finally:
            self.connected.clear()
            self._set_state("reconnecting")
            self._jobs.detach()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return True, close_code

    async def _handshake(self, channel: Channel, core: PluginSession) -> Welcome:
        async with asyncio.timeout(core.deadline() - time.monotonic()):
            frame = await channel.recv()
        hello = core.receive_welcome(frame, self._jobs.held_jobs(), time.monotonic())
        await channel.send(encode(hello))
        assert core.welcome is not None
        return core.welcome

    async def _receive(self, channel: Channel, core: PluginSession) -> None:
        while True:
            frame = await channel.recv()
            try:
                messages = core.receive(frame)
            except ProtocolError as exc:
                what = (
                    "an unexpected message"
                    if exc.code is ErrorCode.UNEXPECTED_MESSAGE
                    else "a bad frame"
                )
                log.warning("ignoring %s from the hub: %s", what, exc)
                continue
            for message in messages:
                if isinstance(message, Error):
                    log.error("the hub reports %s: %s", message.code, message.message)
                else:
                    await self._jobs.on_message(message)

    async def _heartbeat(self, outbox: Outbox, core: PluginSession) -> None:
        while True:
            await asyncio.sleep(max(0.0, core.deadline() - time.monotonic()))
            await outbox.send(core.heartbeat(self._jobs.held_jobs(), time.monotonic()))

    def _raise_if_refused(self, exc: HandshakeRejected) -> None:
        """Stop with one line naming the fix when the answer means retrying cannot help."""
        error = _hub_error(exc.body)
        if exc.status == 401 or (exc.status == 403 and error is not None):
            raise PluginStopped(
                f"the hub refused plugin {self._plugin_id} (HTTP {exc.status}): "
                f"{error or 'no reason given'}; check PLUGIN_ID and PLUGIN_SECRET"
            ) from None
        if exc.status in (403, 404):
            # No WebSocket endpoint there: a page or API path in HUB_URL, or not a hub.
            raise PluginStopped(
                f"no plugin endpoint at {self._url} (HTTP {exc.status}): set HUB_URL to the "
                "hub's base address, such as http://127.0.0.1:8000, without a page or API path"
            ) from None

    @staticmethod
    def _raise_if_final(exc: BaseException) -> None:
        if isinstance(exc, ProtocolError) and exc.code.close_code.is_final:
            raise PluginStopped(f"cannot talk to this hub: {exc.message}")
        if isinstance(exc, ChannelClosed) and exc.code in set(CloseCode):
            code = CloseCode(exc.code)
            if code.is_final:
                raise PluginStopped(
                    f"the hub closed the connection for good: {code.name} ({exc.reason})"
                )


def _hub_error(body: str) -> str | None:
    """The message of a hub JSON error body; None if the body is not one."""
    return _hub_error_field(body, "message")


def _hub_error_code(body: str) -> str | None:
    """The code of a hub JSON error body; None if the body is not one."""
    return _hub_error_field(body, "code")


def _hub_error_field(body: str, field: str) -> str | None:
    try:
        return str(json.loads(body)["error"][field])
    except (ValueError, KeyError, TypeError):
        return None
