"""One connection's handshake and liveness, as pure state machines: the hub's end and the
plugin's end of the same protocol, fed with frames and the time, never touching a socket.

Both ends go `handshake -> open -> closed`:

- the hub sends `welcome`; the plugin answers `hello`; from then on either may send;
- the hub closes a connection that says nothing for `heartbeat_timeout` seconds (any frame
  counts), or that sends no `hello` within `hello_timeout`;
- the plugin sends a `heartbeat` every `heartbeat_interval` seconds the hub asked for;
- `welcome` lists the protocol versions the hub speaks and `hello` names the one the rest
  of the connection speaks: under protocol 2 either side may send `batch` frames.

The I/O layers (the hub's gateway, the SDK's connection) read frames, pass them in with the
current time, send what comes back, and sleep until `deadline()`. A frame that breaks the
protocol raises `ProtocolError`, which carries the `error` message to answer with and, by
its code, the close code.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel

from .codec import MessageTooLarge, ProtocolError, decode, encode, pack
from .codes import CloseCode, ErrorCode
from .jobs import JobType
from .messages import (
    BASE_PROTOCOL,
    BATCHING,
    PROTOCOL_VERSIONS,
    Accepted,
    Ack,
    Batch,
    Batched,
    Cancel,
    Error,
    Failed,
    Heartbeat,
    Hello,
    Job,
    JobRef,
    Message,
    Result,
    Welcome,
)

Opening = TypeVar("Opening", Welcome, Hello)
HubMessageToPlugin = Job | Cancel | Ack | Error
"""What the plugin's end passes on once the session is open."""


def unbatched(message: Message) -> Sequence[Message | Batched]:
    """The messages a frame carried, in order: a batch's, or the one message itself."""
    return message.messages if isinstance(message, Batch) else (message,)


def framed(texts: list[str], *, protocol: int, max_size: int) -> list[str]:
    """Encoded messages as the frames that carry them: one each under protocol 1, as few
    as fit under 2."""
    return pack(texts, max_size=max_size) if protocol >= BATCHING else texts


Refused = TypeVar("Refused", bound=ValueError)


def _encoded(
    messages: Sequence[BaseModel], refused: type[Refused], *, max_size: int | None = None
) -> tuple[list[str], dict[int, Refused]]:
    """Each message encoded, and, by position, those that raised `refused` (left out, so
    the rest still go)."""
    texts: list[str] = []
    failed: dict[int, Refused] = {}
    for index, message in enumerate(messages):
        try:
            texts.append(encode(message, max_size=max_size))
        except refused as exc:
            failed[index] = exc
    return texts, failed


def _folded(messages: Sequence[BaseModel]) -> Sequence[BaseModel]:
    """Protocol 2: `messages` without the `accepted` of any attempt whose outcome goes with
    them (the outcome says both)."""
    finished = {(m.job_id, m.attempt) for m in messages if isinstance(m, Result | Failed)}
    if not finished:
        return messages
    return [
        m for m in messages if not (isinstance(m, Accepted) and (m.job_id, m.attempt) in finished)
    ]


class SessionState(StrEnum):
    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSED = "closed"


class IllegalSessionMove(RuntimeError):
    """A session asked to do something its state does not allow (a bug in the caller)."""


class _Session:
    # Slots: a hub holds one session per plugin process, thousands at once.
    __slots__ = ("protocol", "state")

    def __init__(self) -> None:
        self.state = SessionState.HANDSHAKE
        self.protocol = BASE_PROTOCOL
        """The version both ends speak, settled at `hello`."""

    def _check_batch(self, message: Message) -> None:
        if isinstance(message, Batch) and self.protocol < BATCHING:
            raise ProtocolError(
                ErrorCode.UNEXPECTED_MESSAGE,
                f"'batch' frames need protocol {BATCHING}; this connection speaks {self.protocol}",
            )

    def _expect(self, expected: SessionState) -> None:
        if self.state is not expected:
            raise IllegalSessionMove(f"expected {expected}, got {self.state}")

    def close(self) -> None:
        """The connection is closing or closed: nothing more goes in or out."""
        self.state = SessionState.CLOSED


class HubSession(_Session):
    """The hub's end of one plugin connection."""

    __slots__ = (
        "_deadline",
        "connection_id",
        "heartbeat_interval",
        "heartbeat_timeout",
        "hello",
        "lease_ttl",
        "max_message_size",
        "peer_max_size",
        "plugin_type",
    )

    def __init__(
        self,
        *,
        connection_id: str,
        plugin_type: JobType,
        heartbeat_interval: float,
        heartbeat_timeout: float,
        hello_timeout: float,
        lease_ttl: float,
        max_message_size: int,
        now: float,
    ) -> None:
        super().__init__()
        self.connection_id = connection_id
        self.plugin_type = plugin_type
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.lease_ttl = lease_ttl
        self.max_message_size = max_message_size
        """Largest frame the hub takes."""
        self.peer_max_size = max_message_size
        """Largest frame the plugin takes: what it said in `hello`, else what `welcome`
        told it (an older SDK checks the hub's frames against that)."""
        self.hello: Hello | None = None
        self._deadline = now + hello_timeout

    def welcome(self) -> Welcome:
        """The first message on the connection."""
        return Welcome(
            protocols=list(PROTOCOL_VERSIONS),
            connection_id=self.connection_id,
            heartbeat_interval=self.heartbeat_interval,
            lease_ttl=self.lease_ttl,
            max_message_size=self.max_message_size,
        )

    def deadline(self) -> float:
        """When the connection has been silent too long (or has not said hello in time)."""
        return self._deadline

    def timeout_code(self) -> CloseCode:
        """The close code for a connection past its deadline."""
        if self.state is SessionState.HANDSHAKE:
            return CloseCode.HELLO_TIMEOUT
        return CloseCode.HEARTBEAT_TIMEOUT

    def receive(self, frame: str | bytes, now: float) -> Message:
        """The message in `frame`: `hello` once, first, then anything a plugin may send
        (under protocol 2, several in a `batch`: see `unbatched`). Raises `ProtocolError`
        for a frame that breaks the protocol; the connection then closes with
        `error.code.close_code`."""
        if self.state is SessionState.CLOSED:
            raise IllegalSessionMove("expected an open session, got closed")
        message = decode(frame, max_size=self.max_message_size)
        if self.state is SessionState.HANDSHAKE:
            self._check_hello(message)
            assert isinstance(message, Hello)
            self.hello = message
            self.protocol = message.protocol
            if message.max_message_size is not None:
                self.peer_max_size = message.max_message_size
            self.state = SessionState.OPEN
        elif isinstance(message, Hello):
            raise ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, "'hello' was already sent")
        else:
            self._check_batch(message)
        self._deadline = now + self.heartbeat_timeout  # any frame proves the process alive
        return message

    def _check_hello(self, message: Message) -> None:
        message = _opening(message, Hello, peer="plugin")
        if message.job_type is not None and message.job_type != self.plugin_type:
            # Served anyway, every job would fail in the callback (or worse, succeed with
            # the wrong meaning): say so once, at the door.
            served = message.job_type.value
            raise ProtocolError(
                ErrorCode.JOB_TYPE_MISMATCH,
                f"plugin is {self.plugin_type.value!r} but this process serves {served!r} "
                f"jobs; use the ID and secret of a {served!r} plugin",
            )

    def encode(self, message: BaseModel) -> str:
        """`message` as a frame; `MessageTooLarge` if the plugin could not take it."""
        return encode(message, max_size=self.peer_max_size)

    def frames(self, messages: Sequence[BaseModel]) -> tuple[list[str], dict[int, MessageTooLarge]]:
        """`messages` as the frames to send, and, by position, those the plugin could not
        take (left out)."""
        texts, refused = _encoded(messages, MessageTooLarge, max_size=self.peer_max_size)
        return framed(texts, protocol=self.protocol, max_size=self.peer_max_size), refused


class PluginSession(_Session):
    """The plugin's end of one connection to the hub."""

    def __init__(
        self,
        *,
        sdk_version: str,
        plugin_version: str,
        hostname: str,
        pid: int,
        capacity: int,
        job_type: JobType | None,
        max_message_size: int,
        welcome_timeout: float,
        now: float,
    ) -> None:
        super().__init__()
        self._hello_fields = {
            "sdk_version": sdk_version,
            "plugin_version": plugin_version,
            "hostname": hostname[:255],
            "pid": pid,
            "capacity": capacity,
            "job_type": job_type,
            "max_message_size": max_message_size,
        }
        self.max_message_size = max_message_size
        """Largest frame this process takes from the hub."""
        self.welcome: Welcome | None = None
        self._deadline = now + welcome_timeout

    def deadline(self) -> float:
        """Before `welcome`: when to give up waiting for it. After: when the next heartbeat
        is due."""
        return self._deadline

    def receive_welcome(self, frame: str | bytes, held: list[JobRef], now: float) -> Hello:
        """The hub's first frame must be a `welcome` in our protocol version; returns the
        `hello` to answer with (naming the jobs this process still holds)."""
        self._expect(SessionState.HANDSHAKE)
        message = _opening(decode(frame, max_size=self.max_message_size), Welcome, peer="hub")
        self.state = SessionState.OPEN
        self.welcome = message
        self.protocol = max(set(message.protocols) & set(PROTOCOL_VERSIONS), default=BASE_PROTOCOL)
        self._deadline = now + message.heartbeat_interval
        return Hello(protocol=self.protocol, jobs=held, **self._hello_fields)

    def receive(self, frame: str | bytes) -> list[HubMessageToPlugin]:
        """The messages of a frame from the hub once the session is open (several in a
        `batch`). Raises `ProtocolError` for a frame carrying anything a hub may not send;
        then none of it counts."""
        self._expect(SessionState.OPEN)
        message = decode(frame, max_size=self.max_message_size)
        self._check_batch(message)
        messages: list[HubMessageToPlugin] = []
        for each in unbatched(message):
            if not isinstance(each, Job | Cancel | Ack | Error):
                raise ProtocolError(
                    ErrorCode.UNEXPECTED_MESSAGE, f"a hub may not send {each.type!r}"
                )
            messages.append(each)
        return messages

    def frames(
        self, messages: Sequence[BaseModel]
    ) -> tuple[list[str], list[tuple[BaseModel, ValueError]]]:
        """`messages` as the frames to send to the hub (under protocol 2 without the
        `accepted`s their outcomes make redundant), and those that cannot be encoded (a lone
        surrogate in a log line, say), left out so the rest still go."""
        if self.protocol >= BATCHING:
            messages = _folded(messages)
        texts, failed = _encoded(messages, ValueError)
        dropped = [(messages[index], error) for index, error in failed.items()]
        assert self.welcome is not None  # set when the session opened
        max_size = self.welcome.max_message_size
        return framed(texts, protocol=self.protocol, max_size=max_size), dropped

    def heartbeat(self, held: list[JobRef], now: float) -> Heartbeat:
        """The heartbeat that is due; the next one is due an interval later."""
        self._expect(SessionState.OPEN)
        assert self.welcome is not None  # set when the session opened
        self._deadline = now + self.welcome.heartbeat_interval
        return Heartbeat(jobs=held)


def _opening(message: Message, expected: type[Opening], *, peer: str) -> Opening:
    """The peer's first message must be `expected` (`welcome` or `hello`), in the protocol
    version this side speaks."""
    if not isinstance(message, expected):
        wanted = expected.model_fields["type"].default
        raise ProtocolError(
            ErrorCode.UNEXPECTED_MESSAGE, f"expected {wanted!r}, got {message.type!r}"
        )
    if message.protocol not in PROTOCOL_VERSIONS:
        spoken = " and ".join(str(version) for version in PROTOCOL_VERSIONS)
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_PROTOCOL,
            f"the {peer} speaks protocol {message.protocol}, this side speaks "
            f"{spoken}: upgrade whichever is older",
        )
    return message
