"""Time-based transitions: leases that lapse, deadlines that pass, cancel grace periods that
end, retry delays that are over. Driven by `reap()` with the engine's clock, so tests move a
fake clock instead of sleeping."""

from __future__ import annotations

from ango_plugins_sdk.protocol import JobStatus
from hub.jobs.ledger import CANCELLED, Ledger
from hub.jobs.state import ActiveJob, error

TICK = 0.05
"""Seconds between two `reap()`s in the running hub."""


class Leases(Ledger):
    def reap(self) -> None:
        """One round of time-based transitions."""
        now = self._clock()
        for job_id in list(self._running):
            job = self._active[job_id]
            if job.applying:
                continue  # its outcome is in; only the commit is left
            if job.cancel_deadline is not None and now >= job.cancel_deadline:
                self._release_capacity(job)
                message = "cancelled by user; the plugin did not stop in time"
                self._finish(job, JobStatus.CANCELLED, error=error(message, "Cancelled"))
            elif job.deadline is not None and now >= job.deadline:
                self._send_cancel(job, "timed out", 0.0)
                self._release_capacity(job)
                message = f"timed out after {job.timeout_s:g}s of running"
                self._finish(job, JobStatus.FAILED, error=error(message, "Timeout"))
            elif job.lease_expires_at is not None and now >= job.lease_expires_at:
                self._on_lease_lapsed(job)
        for plugin_id, queue in self._queues.items():
            due = queue.next_due()
            if due is not None and due <= now and queue.release_due(now):
                self._kick(plugin_id)

    def _on_lease_lapsed(self, job: ActiveJob) -> None:
        self._release_capacity(job)
        if job.cancel_requested_at is not None:
            # Nobody is working on it any more: the cancel is complete.
            self._finish(job, JobStatus.CANCELLED, error=error(CANCELLED, "Cancelled"))
        elif job.started_at is None:
            self._lose_attempt(job, f"not accepted within {self._settings.accept_timeout:g}s")
        elif job.disconnected_at is not None:
            # The grace already spaced this attempt from the last: no retry delay on top.
            grace = min(self._settings.reconnect_grace, self._settings.lease_ttl)
            reason = f"its plugin process disconnected and did not come back within {grace:g}s"
            self._lose_attempt(job, reason, delay=False)
        else:
            reason = (
                "lease expired: no heartbeat from the plugin process (killed, frozen or cut off)"
            )
            self._lose_attempt(job, reason)
