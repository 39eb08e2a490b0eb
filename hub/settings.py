"""The hub's settings: every operator knob, with its environment variable and default.

docs/configuration.md lists the same table for operators; tests/test_settings.py keeps
the two in step.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ango_plugins_sdk.protocol import DEFAULT_MAX_MESSAGE_SIZE, MIN_MESSAGE_SIZE

_SECRET_FIELDS = frozenset({"database_url", "storage_url", "secret_key"})


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
    secret_key: str = _env_field(
        "HUB_SECRET_KEY",
        "",
        "Signs job tokens; empty means a random key kept in the data dir. Hubs sharing work "
        "must share it.",
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
    dispatcher_lease_ttl: float = _env_field(
        "HUB_DISPATCHER_LEASE_TTL",
        5.0,
        "Several nodes (PostgreSQL): seconds the dispatcher's lease lasts unrenewed; another "
        "node takes over after it has seen the lease lapse for this long.",
    )
    node_address: str = _env_field(
        "HUB_NODE_ADDRESS",
        "",
        "Several nodes: this node's address as operators know it (shown on /healthz).",
    )
    reconnect_grace: float = _env_field(
        "HUB_RECONNECT_GRACE",
        2.0,
        "Seconds a plugin process whose connection closed has to reconnect and claim its "
        "running jobs before they run elsewhere (at most the lease; the SDK's first retries "
        "come within 1.5 s).",
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
    interactive_reserve: int = _env_field(
        "HUB_INTERACTIVE_RESERVE",
        1,
        "Slots of each plugin process kept free of batch work for interactive jobs "
        "(a process with one slot keeps none).",
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
    max_body_size: int = _env_field(
        "HUB_MAX_BODY_SIZE",
        8 * 1024 * 1024,
        "Largest JSON request body, in bytes (413 past it); streamed uploads have their own.",
    )
    header_timeout: float = _env_field(
        "HUB_HEADER_TIMEOUT",
        10.0,
        "Seconds a client connection has to send a whole request head before it is closed.",
    )
    max_connections: int = _env_field(
        "HUB_MAX_CONNECTIONS",
        0,
        "Open client connections beyond which new ones are refused; 0 derives it from the "
        "file-descriptor limit.",
    )
    sqlite_synchronous: str = _env_field(
        "HUB_SQLITE_SYNCHRONOUS",
        "NORMAL",
        "SQLite `synchronous` pragma: NORMAL survives a process crash, FULL also power loss.",
    )
    log_level: str = _env_field("HUB_LOG_LEVEL", "INFO", "Python logging level.")

    def __post_init__(self) -> None:
        positive = (
            "heartbeat_interval",
            "lease_ttl",
            "hello_timeout",
            "accept_timeout",
            "reconnect_grace",
            "dispatcher_lease_ttl",
            "retry_delay",
            "header_timeout",
        )
        for name in positive:
            # `not x > 0` is also true for NaN, which every plain comparison lets through.
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                self._refuse(name, "a finite number > 0")
        if not (self.cancel_grace >= 0 and math.isfinite(self.cancel_grace)):
            self._refuse("cancel_grace", "a finite number >= 0")
        if not (self.heartbeat_timeout_factor > 1 and math.isfinite(self.heartbeat_timeout_factor)):
            self._refuse("heartbeat_timeout_factor", "a finite number > 1")
        if self.interactive_reserve < 0:
            self._refuse("interactive_reserve", "0 or more")
        if self.max_attempts < 1:
            self._refuse("max_attempts", "at least 1")
        if self.max_message_size < MIN_MESSAGE_SIZE:
            self._refuse("max_message_size", f"at least {MIN_MESSAGE_SIZE} (bytes)")
        if self.max_body_size < 1024:
            self._refuse("max_body_size", "at least 1024 (bytes)")
        if self.max_connections < 0:
            self._refuse("max_connections", "0 (derived from the file-descriptor limit) or more")
        if self.lease_ttl <= self.heartbeat_interval:
            self._refuse(
                "lease_ttl",
                f"longer than HUB_HEARTBEAT_INTERVAL ({self.heartbeat_interval:g}), or leases of "
                "healthy plugins lapse between heartbeats",
            )
        if self.sqlite_synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            self._refuse("sqlite_synchronous", "one of OFF, NORMAL, FULL, EXTRA")
        if self.storage_url:
            # Imported only when set: the storage package pulls in botocore.
            from hub.blobs.factory import FORMS, parse_storage_url

            try:
                parse_storage_url(self.storage_url)
            except ValueError as error:
                self._refuse("storage_url", f"{FORMS} ({error})")
        if self.log_level.upper() not in logging.getLevelNamesMapping():
            self._refuse("log_level", "a logging level such as DEBUG, INFO, WARNING, ERROR")

    def _refuse(self, name: str, expected: str) -> None:
        variable = next(f.metadata["env"] for f in fields(self) if f.name == name)
        # URLs may carry credentials, and this message ends up in logs: never echo them.
        shown = (
            "(not shown: it may hold credentials)"
            if name in _SECRET_FIELDS
            else repr(getattr(self, name))
        )
        raise SettingsError(f"{variable} must be {expected}, got {shown}")

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
