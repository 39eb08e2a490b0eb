"""What a callback receives: the job, its config, a logger, progress and cancellation."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any, Generic

from pydantic import BaseModel
from typing_extensions import TypeVar

from ango_plugins_sdk._http import DataClient
from ango_plugins_sdk.protocol import JobType, LogRecord
from ango_plugins_sdk.protocol.codec import frame_safe

PlainConfig = dict[str, Any]
"""A job's config when its plugin declares no `config_model`: the JSON object as sent."""
ConfigT = TypeVar("ConfigT", bound=BaseModel | PlainConfig, default=PlainConfig)
"""A job's config: an instance of its plugin's `config_model`, or else a plain dict."""

_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
_local_log = logging.getLogger("ango_plugins_sdk.job")


class JobEvents:
    """Where a job's logs and progress go; the runner implements it on the event loop."""

    def log(self, record: LogRecord) -> None:
        raise NotImplementedError

    def progress(self, current: float, total: float | None, message: str | None) -> None:
        raise NotImplementedError


class _StreamToHub(logging.Handler):
    def __init__(self, events: JobEvents) -> None:
        super().__init__(logging.DEBUG)
        self._events = events

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            level = record.levelname if record.levelname in _LEVELS else "INFO"
            fields = getattr(record, "fields", None)
            self._events.log(
                LogRecord(
                    level=level,
                    message=frame_safe(message),
                    fields=fields if isinstance(fields, dict) else {},
                    time=record.created,
                )
            )
        except Exception:  # a logging handler must never raise into user code
            self.handleError(record)


class BaseJob(Generic[ConfigT]):
    """A job as a callback sees it. Subclasses add what their job type carries."""

    job_type: JobType

    def __init__(
        self,
        *,
        id: str,
        attempt: int,
        config: ConfigT,
        operation: str | None,
        input: dict[str, Any],
        timeout_s: float | None,
        events: JobEvents,
        base_url: str = "",
    ) -> None:
        self.id = id
        self.attempt = attempt
        """1 on the first run; higher when the hub re-runs the job after a lost attempt."""
        self.config = config
        self.operation = operation
        self.input = input
        self.timeout_s = timeout_s
        self.base_url = base_url
        """The hub's HTTP address, for the job's data paths."""
        self.started_at = time.monotonic()
        self._events = events
        self._cancelled = threading.Event()
        # An unregistered Logger: one per job, freed with the job (getLogger would keep it).
        self.logger = logging.Logger(f"ango_plugins_sdk.job.{id}")
        self.logger.addHandler(_StreamToHub(events))
        self.logger.addHandler(_ForwardLocally())

    @property
    def cancelled(self) -> bool:
        """True once the hub asked to cancel this job; long sync callbacks should check it."""
        return self._cancelled.is_set()

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Block up to `timeout` seconds for a cancel; True if cancelled."""
        return self._cancelled.wait(timeout)

    def progress(
        self, current: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Report progress; cheap to call often (the SDK sends at most a few updates a second)."""
        if current < 0 or (total is not None and total <= 0):
            raise ValueError("progress needs current >= 0 and total > 0")
        self._events.progress(float(current), None if total is None else float(total), message)

    def _cancel(self) -> None:
        self._cancelled.set()

    def _finish(self, value: Any) -> Any:
        """Turn the callback's return value into the outcome's output (runs off the loop)."""
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, attempt={self.attempt})"


class _ForwardLocally(logging.Handler):
    """Also show job logs in the plugin's own console, through the SDK's logger."""

    def emit(self, record: logging.LogRecord) -> None:
        _local_log.handle(record)


class DataJob(BaseJob[ConfigT]):
    """A job whose bulk data travels over its job-scoped HTTP paths."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        paths = self.input.get("io") or {}
        self._io: dict[str, Any] = paths
        self._data = DataClient(self.base_url, str(paths.get("token", "")))
