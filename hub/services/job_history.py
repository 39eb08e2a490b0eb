"""The organization's job history as flat records, for billing and audits.

Read in keyset pages (oldest first, a short read transaction per page), so an export of a
year of jobs streams with a page of rows in memory, never the whole range; a job still
active is taken from the engine, as the job pages show it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from ango_plugins_sdk.protocol import JobStatus
from hub.db import JobRow, Store, iso_time
from hub.jobs.engine import JobEngine
from hub.jobs.queue import INTERACTIVE
from hub.jobs.state import StoredOrActiveJob
from hub.services.accounts import Principal
from hub.services.errors import Invalid
from hub.services.plugins import PluginService

PAGE = 500
MAX_ERROR = 500
"""Characters of an error message a record keeps (its first line)."""

FIELDS = (
    "id",
    "created_at",
    "started_at",
    "finished_at",
    "duration_s",
    "plugin_id",
    "plugin_name",
    "type",
    "operation",
    "status",
    "priority",
    "attempts",
    "failed_attempts",
    "created_by",
    "project_id",
    "run_id",
    "error_kind",
    "error_message",
)
"""A record's fields, in the order the CSV's columns have them."""


@dataclass(frozen=True)
class HistoryFilter:
    """Which jobs: created in [since, until), of one plugin, in one status (None: any)."""

    since: float | None = None
    until: float | None = None
    plugin_id: str | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in set(JobStatus):
            raise Invalid(f"unknown status {self.status!r}; expected one of {', '.join(JobStatus)}")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise Invalid("since must be before until")


def parse_time(name: str, raw: str | None) -> float | None:
    """A bound given as ISO 8601 (`2026-12-01`, `2026-12-01T08:00:00+01:00`; no offset:
    UTC), as epoch seconds."""
    if raw is None or not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise Invalid(
            f"{name} must be an ISO 8601 date or time (2026-12-01, 2026-12-01T08:00:00Z), "
            f"not {raw!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class JobHistory:
    def __init__(self, store: Store, engine: JobEngine, plugins: PluginService) -> None:
        self._store = store
        self._engine = engine
        self._plugins = plugins

    async def records(
        self, principal: Principal, wanted: HistoryFilter
    ) -> AsyncIterator[dict[str, Any]]:
        """The organization's jobs that match, oldest first, one flat record each."""
        names = {
            plugin.id: plugin.name
            for plugin in await self._plugins.usable_plugins(principal.organization_id)
        }
        query = select(JobRow).where(JobRow.organization_id == principal.organization_id)
        if wanted.plugin_id:
            query = query.where(JobRow.plugin_id == wanted.plugin_id)
        if wanted.status:
            query = query.where(JobRow.status == wanted.status)
        if wanted.since is not None:
            query = query.where(JobRow.created_at >= wanted.since)
        if wanted.until is not None:
            query = query.where(JobRow.created_at < wanted.until)
        after = ""
        while True:
            async with self._store.read() as session:
                rows = list(
                    await session.scalars(
                        query.where(JobRow.id > after).order_by(JobRow.id).limit(PAGE)
                    )
                )
            for row in rows:
                yield record(self._engine.active(row.id) or row, names)
            if len(rows) < PAGE:
                return
            after = rows[-1].id


def record(job: StoredOrActiveJob, names: dict[str, str]) -> dict[str, Any]:
    """One job as a flat record (FIELDS): times in ISO 8601 UTC, the error's first line."""
    error = job.error if isinstance(job.error, dict) else {}
    message = str(error.get("message") or "").strip().split("\n", 1)[0][:MAX_ERROR]
    duration = (
        None
        if job.started_at is None or job.finished_at is None
        else round(job.finished_at - job.started_at, 3)
    )
    return {
        "id": job.id,
        "created_at": iso_time(job.created_at),
        "started_at": iso_time(job.started_at),
        "finished_at": iso_time(job.finished_at),
        "duration_s": duration,
        "plugin_id": job.plugin_id,
        "plugin_name": names.get(job.plugin_id, ""),
        "type": job.type,
        "operation": job.operation,
        "status": job.status,
        "priority": "interactive" if job.priority == INTERACTIVE else "batch",
        "attempts": job.attempt,
        "failed_attempts": job.failed_attempts,
        "created_by": job.created_by,
        "project_id": job.input.get("project_id") if isinstance(job.input, dict) else None,
        "run_id": job.input.get("parent_id") if isinstance(job.input, dict) else None,
        "error_kind": error.get("kind"),
        "error_message": message or None,
    }
