"""What plugin connections tell the engine: a process connected (naming the attempts it
still holds), went away, is alive (heartbeats renew leases), accepted a job, reports
progress, logs, an outcome, or hands a job back."""

from __future__ import annotations

import logging
from typing import Any

from ango_plugins_sdk.protocol import (
    Accepted,
    Ack,
    Error,
    ErrorCode,
    Failed,
    JobRef,
    JobStatus,
    Log,
    Message,
    Progress,
    ProtocolError,
    Release,
    Result,
)
from hub.jobs.ledger import CANCELLED, Ledger
from hub.jobs.live import LiveConnection
from hub.jobs.state import ActiveJob, error

log = logging.getLogger("hub.jobs")


class PluginReports(Ledger):
    def connection_opened(self, connection: LiveConnection, held: list[JobRef]) -> None:
        """A plugin connected; it names the attempts it still holds, which stay with it."""
        now = self._clock()
        for ref in held:
            job = self._current(connection, ref.job_id, ref.attempt)
            if job is None:
                continue  # finished or re-dispatched meanwhile: its outcome is acked and dropped
            self._release_capacity(job)
            job.connection_id = connection.id
            job.disconnected_at = None
            job.plugin_version = connection.plugin_version
            connection.running += 1
            job.lease_expires_at = now + self._settings.lease_ttl
            self._committer.touch(job)
            if job.cancel_requested_at is not None:
                grace = max(0.0, (job.cancel_deadline or now) - now)
                self._send_cancel(job, CANCELLED, grace)
        self._kick(connection.plugin_id)

    def connection_closed(self, connection: LiveConnection, *, orderly: bool) -> None:
        """The connection is gone.

        Assignments the plugin never accepted go back at once. Unless the close was orderly
        (the plugin or the hub closed it on purpose), that counts as a lost attempt: a job
        whose dispatch ends the connection (a frame the process cannot take, a crash on
        receipt) must not cycle forever. Accepted jobs stay with the process for the
        reconnect grace only: a process that comes back names them in `hello` and carries
        on; otherwise they run elsewhere then, not when the whole lease lapses.
        """
        now = self._clock()
        grace_ends = now + min(self._settings.reconnect_grace, self._settings.lease_ttl)
        for job_id in list(self._running):
            job = self._active[job_id]
            if job.connection_id != connection.id:
                continue
            job.connection_id = None
            self._committer.touch(job)  # so the stored row forgets the connection too
            if job.cancel_requested_at is not None and job.started_at is None:
                self._finish(job, JobStatus.CANCELLED, error=error(CANCELLED, "Cancelled"))
            elif job.started_at is None and orderly:
                self._requeue(job, reason="connection closed before the plugin accepted it")
            elif job.started_at is None:
                self._lose_attempt(job, "the connection ended before the plugin accepted it")
            else:
                job.disconnected_at = now
                job.lease_expires_at = min(job.lease_expires_at or grace_ends, grace_ends)
        connection.running = 0
        self._kick(connection.plugin_id)

    def heartbeat(self, connection: LiveConnection, jobs: list[JobRef]) -> None:
        """Renew the leases of the listed attempts. Memory only: no write per heartbeat."""
        expires = self._clock() + self._settings.lease_ttl
        for ref in jobs:
            job = self._current(connection, ref.job_id, ref.attempt)
            # Unaccepted assignments keep their (short) accept timeout.
            if job is not None and job.connection_id == connection.id and job.started_at:
                job.lease_expires_at = expires

    def handle(self, connection: LiveConnection, message: Message) -> None:
        if isinstance(message, Result | Failed):
            self._on_outcome(connection, message)
        elif isinstance(message, Accepted):
            self._on_accepted(connection, message)
        elif isinstance(message, Progress):
            self._on_progress(connection, message)
        elif isinstance(message, Log):
            self._on_log(connection, message)
        elif isinstance(message, Release):
            self._on_release(connection, message)
        elif isinstance(message, Error):
            log.warning(
                "plugin %s connection %s reports %s: %s",
                connection.plugin_id,
                connection.id,
                message.code,
                message.message,
            )
        else:
            raise ProtocolError(
                ErrorCode.UNEXPECTED_MESSAGE,
                f"a plugin may not send {message.type!r}",
                job_id=getattr(message, "job_id", None),
            )

    def _on_accepted(self, connection: LiveConnection, message: Accepted) -> None:
        job = self._current(connection, message.job_id, message.attempt)
        if job is None or job.started_at is not None:
            return
        now = self._clock()
        job.started_at = now
        job.lease_expires_at = now + self._settings.lease_ttl
        self._committer.touch(job)

    def _on_progress(self, connection: LiveConnection, message: Progress) -> None:
        job = self._current(connection, message.job_id, message.attempt)
        if job is None:
            return
        job.progress_current = message.current
        job.progress_total = message.total
        job.progress_message = message.message
        self._committer.touch(job)

    def _on_log(self, connection: LiveConnection, message: Log) -> None:
        job = self._active.get(message.job_id)
        if job is None or job.attempt != message.attempt or job.plugin_id != connection.plugin_id:
            return
        for record in message.records:
            self._committer.log(
                job.id,
                message.attempt,
                "plugin",
                record.level,
                record.message,
                time=record.time,
                fields=record.fields,
            )

    def _on_release(self, connection: LiveConnection, message: Release) -> None:
        job = self._current(connection, message.job_id, message.attempt)
        if job is None:
            return
        self._release_capacity(job)
        if job.cancel_requested_at is not None:
            self._finish(job, JobStatus.CANCELLED, error=error(CANCELLED, "Cancelled"))
            return
        # Handing back is not a failure: no penalty, no delay.
        self._requeue(job, reason=f"handed back by the plugin: {message.reason or 'no reason'}")

    def _on_outcome(self, connection: LiveConnection, message: Result | Failed) -> None:
        job = self._current(connection, message.job_id, message.attempt)
        if job is not None:
            self._release_capacity(job)
            if job.started_at is None:
                # No `accepted` first: under protocol 2 a process that finishes a job before
                # it said so leaves it out, and the outcome says both.
                job.started_at = self._clock()
            if job.cancel_requested_at is not None:
                self._finish(job, JobStatus.CANCELLED, error=error(CANCELLED, "Cancelled"))
            elif isinstance(message, Result):
                self._on_result(job, message.output)
            else:
                self._on_failed(job, message)
        # Applied or not (a stale or unknown attempt), the plugin may forget it once it is
        # on disk; the ack rides the next flush, after the commit.
        self._send(connection.id, Ack(job_id=message.job_id, attempt=message.attempt))

    def _on_result(self, job: ActiveJob, output: Any) -> None:
        try:
            applied = self._rules.apply(job, output)
        except ValueError as exc:
            self._finish(job, JobStatus.FAILED, error=error(str(exc), "InvalidResult"))
            return
        if applied.effect is None:
            self._finish(job, JobStatus.SUCCEEDED, result=applied.result)
            return
        # Its writes and its final status commit together: until then it is still running
        # (and nothing else may finish it), and if the writes fail, it fails.
        job.applying = True

        def done(failure: Exception | None) -> None:
            if not job.applying:
                return  # told already (a transaction being retried)
            job.applying = False
            if failure is None:
                self._finish(job, JobStatus.SUCCEEDED, result=applied.result)
            else:
                message = f"the result could not be applied: {failure}"
                self._finish(job, JobStatus.FAILED, error=error(message, "ApplyFailed"))

        self._committer.also(applied.effect, done)

    def _on_failed(self, job: ActiveJob, message: Failed) -> None:
        job_error = message.error.model_dump()
        if message.error.traceback:
            self._hub_log(job, "ERROR", f"attempt {job.attempt} failed:\n{message.error.traceback}")
        if message.error.retryable and job.failed_attempts + 1 < self._settings.max_attempts:
            job.failed_attempts += 1
            self._requeue(job, reason=f"retryable failure: {message.error.message}", delay=True)
            return
        self._finish(job, JobStatus.FAILED, error=job_error)
