"""An in-memory hub for SDK tests: a `Transport` whose channels are asyncio queues.

The SDK takes its network as a `Transport`, so a plugin can be served against this fake
without patching anything. The test plays the hub: it sends frames with `FakeChannel.push`,
reads what the plugin sent (decoded) from `FakeChannel.received`, hangs up with any close
code, and can make the next dials fail (`refuse_next`, `fail_next`).

Timings are tiny (`HEARTBEAT_INTERVAL`, `FAST_BACKOFF`) and every wait polls against a
deadline (`eventually`), so no test sleeps longer than it must.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ango_plugins_sdk import CustomPlugin, Plugin, serve
from ango_plugins_sdk._connection import HubConnection
from ango_plugins_sdk._runner import JobRunner
from ango_plugins_sdk.protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Backoff,
    Heartbeat,
    Hello,
    JobType,
    Message,
    ProtocolError,
    Welcome,
    decode,
    encode,
    unbatched,
)
from ango_plugins_sdk.protocol import Job as JobMessage
from ango_plugins_sdk.testing import ChannelClosed, HandshakeRejected
from tests.timing import PATIENCE

HEARTBEAT_INTERVAL = 0.05
"""Seconds between heartbeats, as the fake hub's `welcome` says."""
FAST_BACKOFF = Backoff(initial=0.01, maximum=0.05)
HUB_URL = "http://hub.test"
PLUGIN_ID = "plugin-1"
SECRET = "s3cret-do-not-leak"
DEFAULT_TIMEOUT = PATIENCE
"""Seconds any single wait may take before the test fails."""

M = TypeVar("M", bound=Message)


async def eventually(
    predicate: Callable[[], Any], *, timeout: float = DEFAULT_TIMEOUT, what: str = "condition"
) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


class _Hangup:
    """Queued on a channel's inbound side: every later recv raises ChannelClosed."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


@dataclass
class FakeChannel:
    """One connection. `send`/`recv`/`close` are the plugin's side; the rest is the hub's."""

    index: int
    url: str
    headers: dict[str, str]
    max_message_size: int
    """Larger frames from the plugin are refused, as the real hub does (close 1009)."""
    received: list[Message] = field(default_factory=list)
    """Every message the plugin sent, decoded, in order (a batch's one by one)."""
    frame_lengths: list[int] = field(default_factory=list)
    """How many messages each frame the plugin sent carried (more than 1: a batch)."""
    raw_received: list[str] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    """`time.monotonic()` at which each frame of `received` arrived."""
    refused: list[str] = field(default_factory=list)
    """Frames the real hub would refuse (too big or not a valid message); each closes."""
    closed_code: int | None = None
    """The close code, once either side closed the connection."""
    closed_by: str | None = None
    """"plugin" or "hub"."""
    _inbound: asyncio.Queue[str | bytes | _Hangup] = field(default_factory=asyncio.Queue)

    # --- the plugin's side (the `Channel` protocol) ---------------------------------

    async def send(self, text: str) -> None:
        if self.closed_code is not None:
            raise ChannelClosed(self.closed_code, "closed")
        # Like the real hub: the frame leaves fine, then the hub answers with a close.
        try:
            message = decode(text, max_size=self.max_message_size)
        except ProtocolError as exc:
            self.refused.append(text)
            self.hang_up(exc.code.close_code, exc.message)
            return
        self.raw_received.append(text)
        carried = unbatched(message)
        self.frame_lengths.append(len(carried))
        for each in carried:
            self.received_at.append(time.monotonic())
            self.received.append(each)

    async def recv(self) -> str | bytes:
        item = await self._inbound.get()
        if isinstance(item, _Hangup):
            self._inbound.put_nowait(item)  # every later recv sees the close too
            raise ChannelClosed(item.code, item.reason)
        return item

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed_code is None:
            self.closed_code = code
            self.closed_by = "plugin"
            self._inbound.put_nowait(_Hangup(code, reason))

    # --- the hub's side ---------------------------------------------------------------

    def push(self, message: Message) -> None:
        """Send a protocol message to the plugin."""
        self.push_raw(encode(message))

    def push_raw(self, frame: str | bytes) -> None:
        """Send any frame, valid or not, to the plugin."""
        self._inbound.put_nowait(frame)

    def hang_up(self, code: int = 1006, reason: str = "") -> None:
        """The hub (or the network) closes the connection with `code`."""
        if self.closed_code is None:
            self.closed_code = code
            self.closed_by = "hub"
            self._inbound.put_nowait(_Hangup(code, reason))

    def of_type(self, model: type[M]) -> list[M]:
        return [m for m in self.received if isinstance(m, model)]

    def job_messages(self, job_id: str) -> list[Message]:
        """What the plugin sent about one job, in order (heartbeats and hello left out)."""
        return [m for m in self.received if getattr(m, "job_id", None) == job_id]

    def types_for(self, job_id: str) -> list[str]:
        return [m.type for m in self.job_messages(job_id)]

    async def wait_for(
        self, model: type[M], *, timeout: float = DEFAULT_TIMEOUT, **fields: Any
    ) -> M:
        """The first message of this type (whose fields equal `fields`) the plugin sent."""

        def find() -> M | None:
            for message in self.of_type(model):
                if all(getattr(message, k) == v for k, v in fields.items()):
                    return message
            return None

        found: M = await eventually(find, timeout=timeout, what=f"{model.__name__} {fields}")
        return found

    @property
    def first(self) -> Hello:
        """The plugin's first frame on this channel, which must be its `hello`."""
        message = self.received[0]
        assert isinstance(message, Hello), f"first frame is {message.type!r}, not 'hello'"
        return message

    async def hello(self, *, timeout: float = DEFAULT_TIMEOUT) -> Hello:
        return await self.wait_for(Hello, timeout=timeout)


class FakeHub:
    """A `Transport`: each `connect` opens a `FakeChannel` (and sends `welcome` first)."""

    def __init__(
        self,
        *,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        lease_ttl: float = 1.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        protocols: list[int] | None = None,
    ) -> None:
        self.protocols = protocols
        """What `welcome.protocols` offers; None: left out, as a hub that speaks only 1."""
        self.heartbeat_interval = heartbeat_interval
        self.lease_ttl = lease_ttl
        self.max_message_size = max_message_size
        self.connects = 0
        """Every call to `connect`, refused and failed ones included."""
        self.connect_times: list[float] = []
        self.channels: list[FakeChannel] = []
        self._failures: list[BaseException] = []
        self._first_frames: list[str | bytes | None] = []

    # --- scripting the next dials ---------------------------------------------------------

    def refuse_next(self, status: int = 401, body: str | None = None) -> None:
        """The next dial is refused at the HTTP handshake."""
        if body is None:
            body = json.dumps({"error": {"code": "unauthenticated", "message": "bad secret"}})
        self._failures.append(HandshakeRejected(status, body))

    def fail_next(self, times: int = 1) -> None:
        """The next `times` dials fail as if the hub were unreachable."""
        self._failures.extend(OSError(111, "Connection refused") for _ in range(times))

    def recover(self) -> None:
        """Forget the failures scripted for the next dials: the hub is reachable again."""
        self._failures.clear()

    def first_frame_next(self, frame: str | bytes | None) -> None:
        """The next channel opens with `frame` instead of `welcome` (None: nothing at all)."""
        self._first_frames.append(frame)

    def welcome(self, index: int) -> Welcome:
        offered = {} if self.protocols is None else {"protocols": self.protocols}
        return Welcome(
            **offered,
            connection_id=f"conn-{index}",
            heartbeat_interval=self.heartbeat_interval,
            lease_ttl=self.lease_ttl,
            max_message_size=self.max_message_size,
        )

    # --- Transport --------------------------------------------------------------------

    async def connect(self, url: str, *, headers: dict[str, str], max_size: int) -> FakeChannel:
        self.connects += 1
        self.connect_times.append(time.monotonic())
        if self._failures:
            raise self._failures.pop(0)
        channel = FakeChannel(
            index=len(self.channels),
            url=url,
            headers=dict(headers),
            max_message_size=self.max_message_size,
        )
        if self._first_frames:
            first = self._first_frames.pop(0)
            if first is not None:
                channel.push_raw(first)
        else:
            channel.push(self.welcome(channel.index))
        self.channels.append(channel)
        return channel

    # --- waiting ----------------------------------------------------------------------

    async def channel(self, index: int, *, timeout: float = DEFAULT_TIMEOUT) -> FakeChannel:
        """The `index`-th channel opened (0-based), once it exists."""
        await eventually(lambda: len(self.channels) > index, timeout=timeout, what=f"dial {index}")
        return self.channels[index]

    async def session(self, index: int, *, timeout: float = DEFAULT_TIMEOUT) -> FakeChannel:
        """The `index`-th channel, once the plugin has said hello on it."""
        channel = await self.channel(index, timeout=timeout)
        await channel.hello(timeout=timeout)
        return channel


def custom_plugin(callback: Callable[..., Any], **options: Any) -> CustomPlugin:
    """A custom plugin with the fake hub's credentials."""
    return CustomPlugin(id=PLUGIN_ID, secret=SECRET, callback=callback, **options)


def job(
    job_id: str = "job-1",
    attempt: int = 1,
    *,
    config: dict[str, Any] | None = None,
    **extra: Any,
) -> JobMessage:
    """A `job` message for a custom plugin."""
    return JobMessage(
        job_id=job_id, attempt=attempt, job_type=JobType.CUSTOM, config=config or {}, **extra
    )


def heartbeats(channel: FakeChannel) -> list[Heartbeat]:
    return channel.of_type(Heartbeat)


def hub_connection(
    plugin: Plugin, hub: FakeHub, *, host: str = HUB_URL, backoff: Backoff = FAST_BACKOFF
) -> tuple[HubConnection, JobRunner]:
    """What `serve` builds, for tests that need to reach the connection or the runner."""
    runner = JobRunner(plugin)
    connection = HubConnection(
        plugin_id=PLUGIN_ID,
        secret=SECRET,
        host=host,
        plugin_version=plugin.version,
        capacity=plugin.concurrency,
        jobs=runner,
        transport=hub,
        backoff=backoff,
    )
    return connection, runner


@dataclass
class Served:
    """A plugin served against a fake hub in a background task."""

    hub: FakeHub
    task: asyncio.Task[None]
    stop: asyncio.Event
    awaited: bool = False
    """True once the test awaited the outcome of `serve` (and so saw any error)."""

    async def stopped(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Ask the plugin to stop and wait until `serve` returns (re-raising its error)."""
        self.stop.set()
        await self.finished(timeout=timeout)

    async def finished(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until `serve` returns on its own (re-raising its error)."""
        self.awaited = True
        await asyncio.wait_for(asyncio.shield(self.task), timeout)


@contextlib.asynccontextmanager
async def serving(
    plugin: Plugin,
    hub: FakeHub,
    *,
    backoff: Backoff = FAST_BACKOFF,
    host: str | None = HUB_URL,
) -> AsyncIterator[Served]:
    """Run `serve(plugin)` against `hub` for the duration of the block, then stop it.

    `host=None` lets `serve` read `HUB_URL` from the environment.
    """
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(plugin, host, transport=hub, backoff=backoff, stop=stop), name="serve"
    )
    served = Served(hub=hub, task=task, stop=stop)
    try:
        yield served
        refused = [frame[:200] for channel in hub.channels for frame in channel.refused]
        assert not refused, f"the plugin sent frames the hub refuses: {refused}"
    finally:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), DEFAULT_TIMEOUT)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise AssertionError(
                f"serve did not return within {DEFAULT_TIMEOUT}s of stop"
            ) from None
        except Exception:
            if not served.awaited:  # an error the test did not expect
                raise
