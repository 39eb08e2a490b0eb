"""Every message of the wire protocol, as pydantic models.

A message is one JSON object in one WebSocket text frame; its `type` field
selects the model. Unknown extra fields are ignored so that a newer peer can add
fields without breaking an older one; unknown `type`s are errors. Protocol 2 is
protocol 1 plus `batch`: one frame carrying several messages.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic_core import to_json

from .codes import ErrorCode
from .jobs import JobType

PROTOCOL_VERSION = 2
"""The newest protocol this code speaks."""
PROTOCOL_VERSIONS = (1, 2)
"""Every protocol this code speaks. Both ends agree on the newest they share at `hello`."""
BASE_PROTOCOL = 1
"""What `welcome.protocol` always says: SDKs that speak only protocol 1 check it."""
BATCHING = 2
"""The first protocol version with `batch` frames."""

MIN_MESSAGE_SIZE = 1024
"""The smallest frame limit either side may set: room for any control message."""


def _check_json(value: Any) -> Any:
    """Refuse, anywhere inside a free-form value, what a JSON frame cannot carry.

    The JSON parser reads `NaN`, `Infinity` and overflowing literals such as `1e400`
    as floats (`allow_inf_nan` covers `float` fields only), and `encode` would quietly
    write them as `null`. Serialising once is fast and also refuses, as a ValueError,
    lone surrogates and objects with no JSON form; the walk runs only on a textual hit,
    since the same letters may sit inside a string.
    """
    checked_json(value)
    return value


def checked_json(value: Any) -> bytes:
    """`value` as JSON text; ValueError for what a JSON frame cannot carry (NaN, Infinity,
    lone surrogates, objects with no JSON form)."""
    text = to_json(value, inf_nan_mode="constants")
    if (b"NaN" in text or b"Infinity" in text) and _has_non_finite(value):
        raise ValueError("NaN and Infinity are not JSON numbers")
    return text


def _has_non_finite(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


Json = Annotated[Any, AfterValidator(_check_json)]
"""Any JSON value: no NaN or Infinity, no lone surrogates."""
JsonObject = Annotated[dict[str, Any], AfterValidator(_check_json)]
NonEmptyStr = Annotated[str, Field(min_length=1, max_length=200)]
Attempt = Annotated[int, Field(ge=1)]


# Strict: "12" is not an int. Unknown fields are ignored for forward compatibility.
_CONFIG = ConfigDict(extra="ignore", frozen=True, strict=True, allow_inf_nan=False)


class _Message(BaseModel):
    model_config = _CONFIG


class JobRef(BaseModel):
    """One attempt of one job: the unit the hub's leases and acks are about."""

    model_config = _CONFIG

    job_id: NonEmptyStr
    attempt: Attempt


# --- session --------------------------------------------------------------


class Welcome(_Message):
    """Hub -> plugin, first frame after the upgrade: the settings the hub owns."""

    type: Literal["welcome"] = "welcome"
    protocol: int = BASE_PROTOCOL
    protocols: list[int] = Field(default_factory=lambda: [BASE_PROTOCOL])
    """Every protocol version the hub speaks; the plugin answers in one of them."""
    connection_id: NonEmptyStr
    heartbeat_interval: Annotated[float, Field(gt=0)]
    lease_ttl: Annotated[float, Field(gt=0)]
    max_message_size: Annotated[int, Field(gt=0)]


class Hello(_Message):
    """Plugin -> hub, answer to `welcome`: who this process is and what it still holds."""

    type: Literal["hello"] = "hello"
    protocol: int = BASE_PROTOCOL
    """The version the rest of the connection speaks: one the `welcome` listed."""
    sdk_version: NonEmptyStr
    plugin_version: NonEmptyStr
    hostname: Annotated[str, Field(max_length=255)]
    pid: Annotated[int, Field(ge=0)]
    capacity: Annotated[int, Field(ge=1, le=10_000)]
    jobs: list[JobRef] = Field(default_factory=list)
    """Jobs this process is still running or holding an un-acked outcome for."""
    job_type: JobType | None = None
    """The type of job this process serves; the hub refuses a process of the wrong type.
    Optional so that clients which do not send it still connect (no check then)."""
    max_message_size: Annotated[int, Field(ge=MIN_MESSAGE_SIZE)] | None = None
    """Largest frame, in UTF-8 bytes, this process accepts; the hub never sends a larger
    one. Left out: the hub assumes its own `welcome.max_message_size`."""


class Heartbeat(_Message):
    """Plugin -> hub, every heartbeat interval; renews the leases of the listed jobs."""

    type: Literal["heartbeat"] = "heartbeat"
    jobs: list[JobRef] = Field(default_factory=list)


# --- jobs ------------------------------------------------------------------


class Job(_Message):
    """Hub -> plugin: run this attempt of this job."""

    type: Literal["job"] = "job"
    job_id: NonEmptyStr
    attempt: Attempt
    job_type: JobType
    operation: str | None = None
    config: JsonObject = Field(default_factory=dict)
    input: JsonObject = Field(default_factory=dict)
    timeout_s: Annotated[float, Field(gt=0)] | None = None
    """Seconds the hub waits for an outcome. Relative, not a timestamp: clocks differ."""


class Accepted(_Message):
    """Plugin -> hub: this process has taken the job and started it."""

    type: Literal["accepted"] = "accepted"
    job_id: NonEmptyStr
    attempt: Attempt


class Progress(_Message):
    """Plugin -> hub: how far the job is."""

    type: Literal["progress"] = "progress"
    job_id: NonEmptyStr
    attempt: Attempt
    current: Annotated[float, Field(ge=0)]
    total: Annotated[float, Field(gt=0)] | None = None
    message: Annotated[str, Field(max_length=1000)] | None = None


class LogRecord(BaseModel):
    model_config = _CONFIG

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    message: str
    fields: JsonObject = Field(default_factory=dict)
    time: float
    """Unix time at which the record was made, in the plugin's clock."""


class Log(_Message):
    """Plugin -> hub: log records of a job, batched."""

    type: Literal["log"] = "log"
    job_id: NonEmptyStr
    attempt: Attempt
    records: Annotated[list[LogRecord], Field(min_length=1)]


class Result(_Message):
    """Plugin -> hub: the job succeeded with this output."""

    type: Literal["result"] = "result"
    job_id: NonEmptyStr
    attempt: Attempt
    output: Json = None


class JobError(BaseModel):
    model_config = _CONFIG

    message: str
    kind: Annotated[str, Field(max_length=200)] = "Error"
    """The exception's class name, or another short classification."""
    retryable: bool = False
    traceback: str | None = None


class Failed(_Message):
    """Plugin -> hub: the job failed."""

    type: Literal["failed"] = "failed"
    job_id: NonEmptyStr
    attempt: Attempt
    error: JobError


class Release(_Message):
    """Plugin -> hub: this process gives the job back unstarted or unfinished (shutdown)."""

    type: Literal["release"] = "release"
    job_id: NonEmptyStr
    attempt: Attempt
    reason: Annotated[str, Field(max_length=1000)] = ""


class Ack(_Message):
    """Hub -> plugin: the outcome of this attempt is stored; forget it."""

    type: Literal["ack"] = "ack"
    job_id: NonEmptyStr
    attempt: Attempt


class Cancel(_Message):
    """Hub -> plugin: stop this job; the hub marks it cancelled after `grace_s` anyway."""

    type: Literal["cancel"] = "cancel"
    job_id: NonEmptyStr
    attempt: Attempt
    grace_s: Annotated[float, Field(ge=0)]
    reason: str = ""


class Error(_Message):
    """Either side: something the peer sent was wrong. The hub then closes the connection."""

    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    job_id: str | None = None


Batched = Annotated[
    Heartbeat | Job | Accepted | Progress | Log | Result | Failed | Release | Ack | Cancel | Error,
    Field(discriminator="type"),
]
"""What a `batch` may carry: any message but the handshake's and another batch."""


class Batch(_Message):
    """Either side, protocol 2: several messages in one frame, handled in order as if each
    had come in a frame of its own (one frame, one parse, one write for many jobs)."""

    type: Literal["batch"] = "batch"
    messages: Annotated[list[Batched], Field(min_length=1)]


HubMessage = Welcome | Job | Ack | Cancel | Error
PluginMessage = Hello | Heartbeat | Accepted | Progress | Log | Result | Failed | Release | Error

Message = Annotated[
    Welcome
    | Hello
    | Heartbeat
    | Job
    | Accepted
    | Progress
    | Log
    | Result
    | Failed
    | Release
    | Ack
    | Cancel
    | Error
    | Batch,
    Field(discriminator="type"),
]

MESSAGE_TYPES: frozenset[str] = frozenset(
    model.model_fields["type"].default for model in get_args(get_args(Message)[0])
)
"""Every `type` value of the protocol."""

MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)
