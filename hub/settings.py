"""The hub's settings: every operator knob, with its environment variable and default.

docs/configuration.md lists the same table for operators; tests/test_settings.py keeps
the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ango_plugins_sdk.protocol import DEFAULT_MAX_MESSAGE_SIZE


class SettingsError(ValueError):
    """An environment variable holds a value the hub cannot use."""


def _env_field(env: str, default: Any, doc: str) -> Any:
    return field(default=default, metadata={"env": env, "doc": doc})


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = _env_field("HUB_DATA_DIR", Path("var"), "Where the hub keeps its data.")
    database_url: str = _env_field(
        "HUB_DATABASE_URL", "", "SQLAlchemy async URL; empty means SQLite in the data dir."
    )
    storage_url: str = _env_field(
        "HUB_STORAGE_URL", "", "Blob storage: empty means the data dir; or s3://bucket/prefix."
    )
    heartbeat_interval: float = _env_field(
        "HUB_HEARTBEAT_INTERVAL", 5.0, "Seconds between a plugin's heartbeats."
    )
    heartbeat_timeout_factor: float = _env_field(
        "HUB_HEARTBEAT_TIMEOUT_FACTOR",
        2.5,
        "A connection with no heartbeat for this many intervals is closed (4004).",
    )
    lease_ttl: float = _env_field(
        "HUB_LEASE_TTL", 30.0, "Seconds a running job's lease lasts without a heartbeat."
    )
    accept_timeout: float = _env_field(
        "HUB_ACCEPT_TIMEOUT", 5.0, "Seconds a plugin has to accept a job before it is re-queued."
    )
    max_attempts: int = _env_field(
        "HUB_MAX_ATTEMPTS",
        3,
        "Attempts lost (lease lapsed) or failed retryably before a job fails for good.",
    )
    retry_delay: float = _env_field(
        "HUB_RETRY_DELAY",
        1.0,
        "Base delay before a lost attempt runs again; doubles per attempt, full jitter, 60 s cap.",
    )
    cancel_grace: float = _env_field(
        "HUB_CANCEL_GRACE",
        5.0,
        "Seconds a running job has to stop after a cancel before the hub marks it cancelled.",
    )
    hello_timeout: float = _env_field(
        "HUB_HELLO_TIMEOUT", 10.0, "Seconds a new connection has to send `hello`."
    )
    max_message_size: int = _env_field(
        "HUB_MAX_MESSAGE_SIZE", DEFAULT_MAX_MESSAGE_SIZE, "Largest frame, in bytes."
    )
    sqlite_synchronous: str = _env_field(
        "HUB_SQLITE_SYNCHRONOUS",
        "NORMAL",
        "SQLite `synchronous` pragma: NORMAL survives a process crash, FULL also power loss.",
    )
    log_level: str = _env_field("HUB_LOG_LEVEL", "INFO", "Python logging level.")

    def __post_init__(self) -> None:
        for name in (
            "heartbeat_interval",
            "lease_ttl",
            "hello_timeout",
            "accept_timeout",
            "retry_delay",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_attempts < 1:
            raise SettingsError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.cancel_grace < 0:
            raise SettingsError(f"cancel_grace must be >= 0, got {self.cancel_grace}")
        if self.heartbeat_timeout_factor <= 1:
            raise SettingsError("heartbeat_timeout_factor must be > 1")
        if self.max_message_size < 1024:
            raise SettingsError("max_message_size must be at least 1024 bytes")
        if self.sqlite_synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise SettingsError(f"unknown HUB_SQLITE_SYNCHRONOUS: {self.sqlite_synchronous}")

    @property
    def heartbeat_timeout(self) -> float:
        """Seconds of silence after which a connection is taken for dead."""
        return self.heartbeat_interval * self.heartbeat_timeout_factor

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'hub.db'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from environment variables; keyword overrides win (CLI flags, tests)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            kind: Callable[[str], Any] = type(f.default)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise SettingsError(
                    f"{f.metadata['env']}={raw!r} is not a valid {type(f.default).__name__}"
                ) from None
        values.update(overrides)
        return cls(**values)


def documented_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, meaning) for every setting, for docs and tests."""
    return [(f.metadata["env"], str(f.default), f.metadata["doc"]) for f in fields(Settings)]
