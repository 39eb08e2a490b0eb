"""One job through the SDK's real `JobRunner`, with no hub: what `testing.run_*` share.

The runner gets the job message a hub would send and a sender that keeps every message it
sends back, so the callback runs exactly as under `run()`: a sync one in the worker pool, an
async one on the loop, its config validated into the plugin's `config_model`, its type's
finish step (upload, documents, items) run, logs and progress buffered and flushed. The
job's data paths are served by a loopback stand-in for the hub (`_local_io`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Self, TypeVar

from ango_plugins_sdk._local_io import LocalIO, LoopbackHub
from ango_plugins_sdk._markdown import MarkdownDocument
from ango_plugins_sdk._plugins import Plugin
from ango_plugins_sdk._runner import JobRunner, Key
from ango_plugins_sdk.protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Ack,
    Cancel,
    Failed,
    Job,
    JobError,
    JobType,
    Log,
    LogRecord,
    PluginMessage,
    Progress,
    Result,
)
from ango_plugins_sdk.protocol.listing import ImportItem, ListingPage

CANCEL_GRACE = 5.0
"""Seconds a job has to stop after a cancel before the hub marks it cancelled anyway (the
hub's default `HUB_CANCEL_GRACE`)."""
DEFAULT_TIMEOUT = 60.0

Status = Literal["succeeded", "failed", "cancelled"]


class ProgressUpdate(NamedTuple):
    """One `job.progress(current, total, message)` call, as the SDK reported it."""

    current: float
    total: float | None
    message: str | None


class JobFailed(AssertionError):
    """`LocalRun.raise_for_failure()`: the job did not succeed. An `AssertionError`, so a
    test shows it as a failed check; the message has the error and the callback's traceback."""

    def __init__(self, run: LocalRun) -> None:
        error = run.error
        detail = "no outcome" if error is None else f"{error.kind}: {error.message}"
        trace = "" if error is None or not error.traceback else f"\n\n{error.traceback}"
        super().__init__(f"the job {run.status}: {detail}{trace}")
        self.run = run


@dataclass
class LocalRun:
    """What the hub would have received from one job run locally."""

    job: Job
    """The job message the plugin received (its `input` with the `io` block)."""
    status: Status
    """How the hub would end the job: `cancelled` whenever it was cancelled (whatever the
    plugin then reported), `failed` on a timeout or an output the hub refuses."""
    output: Any
    """The `result`'s output: the callback's value after its type's finish step (the
    artifact, the totals...); None if the plugin reported no result."""
    error: JobError | None
    """The plugin's `failed` error (message, kind, traceback), or the hub's own (kind
    `Timeout`, `InvalidResult`, `Cancelled`) when it ended the job itself."""
    logs: list[LogRecord]
    """Every log record the hub received, in order (the callback's and the SDK's)."""
    progress: list[ProgressUpdate]
    """Every progress update the callback reported, in order. The hub receives only the
    latest of each flush (a few a second), always including the last."""
    messages: list[PluginMessage]
    """Every message the plugin sent, in order: accepted, log, progress, result or failed."""
    cancelled: bool = False
    """A cancel was sent (`cancel_after`)."""
    _io: LocalIO | None = field(default=None, repr=False)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def raise_for_failure(self) -> Self:
        """This run if it succeeded; raises `JobFailed` (with the traceback) otherwise."""
        if not self.succeeded:
            raise JobFailed(self)
        return self


# --- what each type's run gives back ------------------------------------------------------


@dataclass
class ExportRun(LocalRun):
    @property
    def artifact(self) -> bytes | None:
        """The bytes the callback's file uploaded, or None if it uploaded none."""
        uploaded = None if self._io is None else self._io.artifact
        return None if uploaded is None else uploaded.data

    @property
    def content_type(self) -> str | None:
        uploaded = None if self._io is None else self._io.artifact
        return None if uploaded is None else uploaded.content_type

    @property
    def filename(self) -> str | None:
        return _artifact_field(self.output, "filename")


@dataclass
class ModelRun(LocalRun):
    @property
    def predictions(self) -> list[dict[str, Any]]:
        """The predictions as the hub receives them (dicts with `kind`, `cls`, ...)."""
        found = self.output.get("predictions") if isinstance(self.output, dict) else None
        return list(found) if isinstance(found, list) else []


@dataclass
class BatchModelRun(LocalRun):
    @property
    def predictions(self) -> dict[str, list[dict[str, Any]]]:
        """{task_id: predictions} for the tasks that succeeded."""
        found = self.output.get("predictions") if isinstance(self.output, dict) else None
        return dict(found) if isinstance(found, dict) else {}

    @property
    def errors(self) -> dict[str, str]:
        """{task_id: reason} for the tasks the callback reported as failed."""
        found = self.output.get("errors") if isinstance(self.output, dict) else None
        return dict(found) if isinstance(found, dict) else {}


@dataclass
class MarkdownRun(LocalRun):
    @property
    def documents(self) -> list[MarkdownDocument]:
        """Every document the hub received, in order (skipped duplicates included)."""
        return [] if self._io is None else list(self._io.documents)


@dataclass
class ListingRun(LocalRun):
    @property
    def listing(self) -> ListingPage | None:
        return None if self.output is None else ListingPage.model_validate(self.output)


@dataclass
class ImportRun(LocalRun):
    @property
    def imported(self) -> list[ImportItem]:
        """Every item the hub received, in order: by URL (`url`, `width`, `height`) or
        uploaded (`data`, `filename`), with its `external_id` (skipped duplicates included)."""
        return [] if self._io is None else list(self._io.imported)


def _artifact_field(output: Any, name: str) -> str | None:
    artifact = output.get("artifact") if isinstance(output, dict) else None
    value = artifact.get(name) if isinstance(artifact, dict) else None
    return None if value is None else str(value)


R = TypeVar("R", bound=LocalRun)


class _RecordingRunner(JobRunner):
    """The real runner; it also keeps each progress update before it is coalesced."""

    def __init__(self, plugin: Plugin[Any, Any], *, base_url: str) -> None:
        super().__init__(plugin, base_url=base_url)
        self.progress_updates: list[ProgressUpdate] = []

    def buffer_progress(self, key: Key, update: Progress) -> None:
        self.progress_updates.append(ProgressUpdate(update.current, update.total, update.message))
        super().buffer_progress(key, update)

    def join_threads(self) -> None:
        self._threads.shutdown(wait=True)


@dataclass
class _Drive:
    messages: list[PluginMessage]
    progress: list[ProgressUpdate]
    cancelled: bool = False
    timed_out: bool = False
    stuck: bool = False
    """Cancelled, and no outcome within the grace period."""


def _outcome(messages: list[PluginMessage]) -> Result | Failed | None:
    return next((m for m in messages if isinstance(m, Result | Failed)), None)


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), max(0.0, seconds))
    except TimeoutError:
        return False
    return True


async def _drive(
    plugin: Plugin[Any, Any],
    job: Job,
    io: LocalIO | None,
    *,
    limit: float,
    cancel_after: float | None,
) -> _Drive:
    hub = LoopbackHub(io) if io is not None and io.paths() is not None else None
    runner = _RecordingRunner(plugin, base_url=hub.base_url if hub is not None else "")
    drive = _Drive(messages=[], progress=runner.progress_updates)
    ended = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def send(message: PluginMessage) -> None:
        drive.messages.append(message)
        if isinstance(message, Result | Failed):
            ended.set()

    def cancel(reason: str, grace: float) -> Cancel:
        return Cancel(job_id=job.job_id, attempt=job.attempt, grace_s=grace, reason=reason)

    deadline = loop.time() + limit
    try:
        await runner.attach(send, DEFAULT_MAX_MESSAGE_SIZE)
        await runner.on_message(job)
        if (
            cancel_after is not None
            and cancel_after < limit
            and not await _wait(ended, cancel_after)
        ):
            drive.cancelled = True
            await runner.on_message(cancel("cancelled by user", CANCEL_GRACE))
            grace = min(CANCEL_GRACE, deadline - loop.time())
            drive.stuck = not await _wait(ended, grace) and grace == CANCEL_GRACE
        if (
            not ended.is_set()
            and not drive.stuck
            and not await _wait(ended, deadline - loop.time())
        ):
            drive.timed_out = True
            await runner.on_message(cancel("timed out", 0.0))
    finally:
        outcome = _outcome(drive.messages)
        if outcome is not None:
            await runner.on_message(Ack(job_id=job.job_id, attempt=job.attempt))
        await runner.shutdown(None)
        if outcome is not None:
            runner.join_threads()  # the callback has returned: its worker is idle
        if hub is not None:
            hub.close()
    return drive


def execute(
    plugin: Plugin[Any, Any],
    run_class: type[R],
    *,
    job: Job,
    io: LocalIO | None,
    timeout: float,
    cancel_after: float | None,
) -> R:
    """Run `job` and say what the hub would have received, in the calling thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "ango_plugins_sdk.testing runs its own event loop and cannot be called from a "
            "running one (an async test?): call it in a thread, e.g. "
            "`await asyncio.to_thread(run_custom, plugin, config=...)`"
        )
    if plugin.job_type is not job.job_type:
        raise TypeError(f"{plugin!r} serves {plugin.job_type} jobs, not {job.job_type} jobs")
    drive = asyncio.run(_drive(plugin, job, io, limit=timeout, cancel_after=cancel_after))
    outcome = _outcome(drive.messages)
    output = outcome.output if isinstance(outcome, Result) else None
    error = outcome.error if isinstance(outcome, Failed) else None
    status: Status = "succeeded" if isinstance(outcome, Result) else "failed"
    if drive.timed_out:
        status = "failed"
        error = JobError(message=f"timed out after {timeout:g}s of running", kind="Timeout")
    elif drive.cancelled:
        status = "cancelled"
        if outcome is None:
            message = "cancelled by user; the plugin did not stop in time"
            error = JobError(message=message, kind="Cancelled")
    elif isinstance(outcome, Result) and (refused := _refused_by_hub(job.job_type, output)):
        status, error = "failed", JobError(message=refused, kind="InvalidResult")
    logs = [record for m in drive.messages if isinstance(m, Log) for record in m.records]
    return run_class(
        job=job,
        status=status,
        output=output,
        error=error,
        logs=logs,
        progress=list(drive.progress),
        messages=drive.messages,
        cancelled=drive.cancelled,
        _io=io,
    )


def _refused_by_hub(job_type: JobType, output: Any) -> str | None:
    """The one check of an output the hub makes that the SDK leaves to it (its message, as
    hub/job_types/export.py words it): an empty export file not marked as intended."""
    if job_type is not JobType.EXPORT or not isinstance(output, dict):
        return None
    artifact = output.get("artifact") or {}
    if artifact.get("size") == 0 and not artifact.get("allow_empty", False):
        return (
            "the export file is empty (0 bytes). A file object is read from its current "
            "position: rewind it with seek(0) before returning it; if an empty file is "
            "intended, return ExportResult(..., allow_empty=True)"
        )
    return None
