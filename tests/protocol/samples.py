"""One realistic instance of every protocol message, shared by the protocol tests."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from ango_plugins_sdk.protocol import (
    Accepted,
    Ack,
    Batch,
    Cancel,
    Error,
    ErrorCode,
    Failed,
    Heartbeat,
    Hello,
    Job,
    JobError,
    JobRef,
    JobType,
    Log,
    LogRecord,
    Progress,
    Release,
    Result,
    Welcome,
    decode,
)

M = TypeVar("M", bound=BaseModel)

JOB_ID = "01j9z3k2m4n5p6q7r8s9t0v1w2"

SAMPLES: dict[str, BaseModel] = {
    "welcome": Welcome(
        connection_id="c-1", heartbeat_interval=5.0, lease_ttl=30.0, max_message_size=1_048_576
    ),
    "hello": Hello(
        sdk_version="0.1.0",
        plugin_version="2.3.4",
        hostname="gpu-box-7",
        pid=4242,
        capacity=4,
        jobs=[JobRef(job_id=JOB_ID, attempt=2), JobRef(job_id="other", attempt=1)],
        job_type=JobType.MODEL,
        max_message_size=4 * 1_048_576,
    ),
    "heartbeat": Heartbeat(jobs=[JobRef(job_id=JOB_ID, attempt=2)]),
    "job": Job(
        job_id=JOB_ID,
        attempt=2,
        job_type=JobType.MODEL,
        operation="predict",
        config={"threshold": 0.5, "classes": ["cat", "dog"], "unset": None},
        input={"task": {"id": "t1", "asset": {"url": "https://hub/a/1"}}, "overwrite": True},
        timeout_s=600.0,
    ),
    "accepted": Accepted(job_id=JOB_ID, attempt=2),
    "progress": Progress(job_id=JOB_ID, attempt=2, current=3, total=10, message="3 of 10 tasks"),
    "log": Log(
        job_id=JOB_ID,
        attempt=2,
        records=[
            LogRecord(level="INFO", message="loading model", time=1_700_000_000.25),
            LogRecord(
                level="WARNING", message="slow asset", fields={"ms": 812, "asset": "a1"}, time=1.5
            ),
        ],
    ),
    "result": Result(
        job_id=JOB_ID,
        attempt=2,
        output={"objects": [{"category_id": "c1", "bbox": {"x": 1, "y": 2, "w": 3.5, "h": 4}}]},
    ),
    "failed": Failed(
        job_id=JOB_ID,
        attempt=2,
        error=JobError(
            message="CUDA out of memory",
            kind="RuntimeError",
            retryable=True,
            traceback='Traceback (most recent call last):\n  File "plugin.py"...',
        ),
    ),
    "release": Release(job_id=JOB_ID, attempt=2, reason="shutting down (SIGTERM)"),
    "ack": Ack(job_id=JOB_ID, attempt=2),
    "cancel": Cancel(job_id=JOB_ID, attempt=2, grace_s=10.0, reason="cancelled by alice"),
    "error": Error(code=ErrorCode.UNKNOWN_JOB, message="no such job", job_id=JOB_ID),
    "batch": Batch(
        messages=[
            Accepted(job_id=JOB_ID, attempt=2),
            Result(job_id=JOB_ID, attempt=2, output={"n": 1}),
            Heartbeat(jobs=[JobRef(job_id="other", attempt=1)]),
        ]
    ),
}
"""Message type -> a message of that type; test_messages checks it covers MESSAGE_TYPES."""


def decode_as(frame: str, model: type[M], *, max_size: int = 1024 * 1024) -> M:
    """Decode `frame` and check it became a `model`."""
    message = decode(frame, max_size=max_size)
    assert isinstance(message, model), message
    return message
