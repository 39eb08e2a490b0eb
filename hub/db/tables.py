"""The hub's tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hub.security import new_id

MAX_EMAIL_LENGTH = 320
"""The longest email address (RFC 5321: 64 for the local part, @, 255 for the domain)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_time(timestamp: float | None) -> str | None:
    """A job's epoch-seconds time (jobs keep floats) as ISO 8601, in UTC."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(MAX_EMAIL_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="member")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class WebSession(Base):
    """A dashboard sign-in. The cookie holds the token; only its hash is stored, and
    signing out deletes the row, so a copied cookie dies with the session."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class Plugin(Base):
    __tablename__ = "plugins"
    __table_args__ = (
        Index("ix_plugins_org_created", "organization_id", "id"),
        UniqueConstraint("organization_id", "manifest_key", name="uq_plugins_org_manifest_key"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str] = mapped_column(Text, default="")
    banner_url: Mapped[str] = mapped_column(String(2000), default="")
    type: Mapped[str] = mapped_column(String(20))
    class_names: Mapped[list[str]] = mapped_column(default=list)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    listed: Mapped[bool] = mapped_column(Boolean, default=False)
    default_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config_schema: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    job_timeout_s: Mapped[float | None] = mapped_column(default=None)
    """Default per-job deadline, in seconds of running time; a job request may override it."""
    pinned_version: Mapped[str | None] = mapped_column(String(100), default=None)
    """Only live processes reporting this plugin version get the owner's jobs."""
    manifest_key: Mapped[str | None] = mapped_column(String(100), default=None)
    """The stable key of the manifest it was pushed from (`plugin-hub plugin push`): a push
    with the same key updates it. None for a plugin registered by hand."""
    version: Mapped[str | None] = mapped_column(String(100), default=None)
    """The version its manifest declared at the last push (what its processes should report)."""
    secret_hash: Mapped[str] = mapped_column(String(64))
    secret_rotated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobRow(Base):
    """A job as stored. While it is active the engine works on an `ActiveJob` copy
    (hub/jobs/state.py), and a plugin receives it as the protocol's `Job` message, which
    hub/ code imports as `JobMessage`: `Job` alone names neither."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_org_id", "organization_id", "id"),
        Index("ix_jobs_plugin_status", "plugin_id", "status"),
        Index("ix_jobs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(String(32))
    plugin_id: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(20))
    operation: Mapped[str | None] = mapped_column(String(100), default=None)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    input: Mapped[dict[str, Any]] = mapped_column(default=dict)
    priority: Mapped[int] = mapped_column(default=1)
    timeout_s: Mapped[float | None] = mapped_column(default=None)
    required_version: Mapped[str | None] = mapped_column(String(100), default=None)
    """The plugin version the job must run on: the submitting organization's pin when it
    was submitted (None: any). Kept on retry."""
    status: Mapped[str] = mapped_column(String(20))
    attempt: Mapped[int] = mapped_column(default=0)
    """How many times the job was handed to a plugin process."""
    failed_attempts: Mapped[int] = mapped_column(default=0)
    """Attempts lost (lease lapsed) or failed with a retryable error; capped by max attempts."""
    progress_current: Mapped[float | None] = mapped_column(default=None)
    progress_total: Mapped[float | None] = mapped_column(default=None)
    progress_message: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[Any | None] = mapped_column(JSON, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    connection_id: Mapped[str | None] = mapped_column(String(32), default=None)
    lease_expires_at: Mapped[float | None] = mapped_column(default=None)
    not_before: Mapped[float | None] = mapped_column(default=None)
    cancel_requested_at: Mapped[float | None] = mapped_column(default=None)
    created_at: Mapped[float] = mapped_column()
    started_at: Mapped[float | None] = mapped_column(default=None)
    """When the current attempt was accepted by a plugin."""
    finished_at: Mapped[float | None] = mapped_column(default=None)


class JobLog(Base):
    __tablename__ = "job_logs"
    __table_args__ = (Index("ix_job_logs_job", "job_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column()
    source: Mapped[str] = mapped_column(String(10))
    """'plugin' for records the callback logged, 'hub' for what the hub says about the job."""
    level: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    time: Mapped[float] = mapped_column()


class StoredFile(Base):
    """A file a user uploaded for jobs to read (a CSV for a markdown run, say)."""

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(String(32), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    size: Mapped[int] = mapped_column()
    storage_key: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConfigPreset(Base):
    """A named config for a plugin, saved by someone in an organization for its runs."""

    __tablename__ = "config_presets"
    __table_args__ = (UniqueConstraint("organization_id", "plugin_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(String(32))
    plugin_id: Mapped[str] = mapped_column(ForeignKey("plugins.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PluginInstall(Base):
    """Another organization's public plugin, installed into this one: its jobs are this
    organization's, and they run on the owner's processes."""

    __tablename__ = "plugin_installs"

    organization_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    plugin_id: Mapped[str] = mapped_column(
        ForeignKey("plugins.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    pinned_version: Mapped[str | None] = mapped_column(String(100), default=None)
    """Only live processes reporting this plugin version get this organization's jobs."""
    installed_by: Mapped[str] = mapped_column(String(32))
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
