"""A job as the engine holds it in memory while it is active (queued or running)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

from ango_plugins_sdk.protocol import Job as JobMessage
from ango_plugins_sdk.protocol import JobStatus, JobType, check_transition
from hub.db import JobRow

MUTABLE_COLUMNS = (
    "status",
    "attempt",
    "failed_attempts",
    "progress_current",
    "progress_total",
    "progress_message",
    "result",
    "error",
    "connection_id",
    "lease_expires_at",
    "not_before",
    "cancel_requested_at",
    "started_at",
    "finished_at",
)
"""The columns a job's life changes; a flush writes all of them (a snapshot), never a diff."""


@dataclass(eq=False, slots=True)
class ActiveJob:
    id: str
    organization_id: str
    plugin_id: str
    created_by: str
    type: str
    operation: str | None
    config: dict[str, Any]
    input: dict[str, Any]
    priority: int
    timeout_s: float | None
    status: str
    created_at: float
    required_version: str | None = None
    """Only a process reporting this plugin version may run the job (None: any)."""
    attempt: int = 0
    failed_attempts: int = 0
    progress_current: float | None = None
    progress_total: float | None = None
    progress_message: str | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    connection_id: str | None = None
    lease_expires_at: float | None = None
    not_before: float | None = None
    cancel_requested_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    # In memory only:
    cancel_deadline: float | None = None
    plugin_version: str | None = None
    """The version reported by the process running the current attempt."""
    disconnected_at: float | None = None
    """When the connection of the process running the accepted attempt closed; the job
    waits the reconnect grace for that process to claim it again."""
    applying: bool = False
    """Its result's writes are on their way to disk with its final status: nothing else may
    finish it meanwhile."""

    @property
    def is_terminal(self) -> bool:
        return JobStatus(self.status).is_terminal

    @property
    def parent_id(self) -> str | None:
        """The run this job is a child of (a batch run's chunk), if any."""
        value = self.input.get("parent_id")
        return value if isinstance(value, str) else None

    @property
    def deadline(self) -> float | None:
        """When the running attempt times out: `timeout_s` of running time after acceptance."""
        if self.timeout_s is None or self.started_at is None:
            return None
        return self.started_at + self.timeout_s

    def holds(self, job_id: str, attempt: int) -> bool:
        """True if (job_id, attempt) is this job's current, running attempt."""
        return self.id == job_id and self.attempt == attempt and self.status == JobStatus.RUNNING

    def insert_row(self) -> dict[str, Any]:
        return dict(zip(INSERTED_COLUMNS, _inserted_values(self), strict=True))

    def to_message(self, job_input: dict[str, Any] | None = None) -> JobMessage:
        # Not validated again: the config and input were checked at submit (JobService
        # refuses what a frame cannot carry), and the rest is the hub's own.
        return JobMessage.model_construct(
            job_id=self.id,
            attempt=self.attempt,
            job_type=JobType(self.type),
            operation=self.operation,
            config=self.config,
            input=self.input if job_input is None else job_input,
            timeout_s=self.timeout_s,
        )

    @classmethod
    def from_row(cls, row: StoredOrActiveJob) -> ActiveJob:
        return cls(**{name: getattr(row, name) for name in _COLUMNS})


StoredOrActiveJob = JobRow | ActiveJob
"""A job read from either place it lives: its stored row, or, while the engine holds it, the
engine's active job (which has the newest state). Both carry every column."""

_COLUMNS = frozenset(column.key for column in JobRow.__table__.columns)
INSERTED_COLUMNS = tuple(f.name for f in fields(ActiveJob) if f.name in _COLUMNS)
"""The columns of a new job's row, in the dataclass's order."""
_inserted_values = attrgetter(*INSERTED_COLUMNS)


def move(job: ActiveJob, target: JobStatus) -> None:
    """Change a job's status along the protocol's state machine; an illegal move is a bug."""
    job.status = check_transition(JobStatus(job.status), target)


def error(message: str, kind: str) -> dict[str, Any]:
    """A job's `error` as the hub writes it for what it decided (not the plugin's report)."""
    return {"message": message, "kind": kind, "retryable": False, "traceback": None}
