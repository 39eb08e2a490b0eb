"""Job types, job statuses and the job state machine."""

from __future__ import annotations

from enum import StrEnum


class JobType(StrEnum):
    """What kind of work a plugin does; also the plugin's type."""

    EXPORT = "export"
    MODEL = "model"
    BATCH_MODEL = "batch_model"
    FILE_EXPLORER = "file_explorer"
    MARKDOWN = "markdown"
    CUSTOM = "custom"


class JobStatus(StrEnum):
    """Where a job is in its life. The last three are terminal."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

# queued -> running when a connection takes it; running -> queued when its lease
# lapses or it is handed back; any terminal status may be retried into queued.
_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.SUCCEEDED: frozenset({JobStatus.QUEUED}),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED}),
    JobStatus.CANCELLED: frozenset({JobStatus.QUEUED}),
}


class IllegalTransition(ValueError):
    """A job was asked to move between two statuses that are not connected."""

    def __init__(self, current: JobStatus, target: JobStatus) -> None:
        expected = ", ".join(sorted(_ALLOWED[current]))
        super().__init__(
            f"job cannot go from {current} to {target}: expected one of {expected}, got {target}"
        )
        self.current = current
        self.target = target


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    return target in _ALLOWED[current]


def check_transition(current: JobStatus, target: JobStatus) -> JobStatus:
    """Return `target` if the move is legal, else raise `IllegalTransition`."""
    if not can_transition(current, target):
        raise IllegalTransition(current, target)
    return target
