"""Runs jobs: calls the callback, streams logs and progress, keeps outcomes until acked.

Everything here runs on the event loop except sync callbacks, which run in a pool of
`concurrency` threads so that they can never block heartbeats. Logs and progress
from those threads hop onto the loop with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import traceback
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ango_plugins_sdk._connection import Sender
from ango_plugins_sdk._errors import InvalidConfig, RetryableError
from ango_plugins_sdk._job import BaseJob, JobEvents
from ango_plugins_sdk._plugins import Plugin
from ango_plugins_sdk.protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Accepted,
    Ack,
    Cancel,
    Failed,
    Job,
    JobError,
    JobRef,
    Log,
    LogRecord,
    Progress,
    Release,
    Result,
    encode,
)
from ango_plugins_sdk.protocol.codec import frame_safe

log = logging.getLogger("ango_plugins_sdk")

MAX_PROGRESS_MESSAGE = 1000
FLUSH_INTERVAL = 0.2
"""Seconds between sends of buffered logs and the latest progress of each job."""
LOG_BATCH = 200
"""Most log records in one `log` message."""
SHUTDOWN_GRACE = 10.0
"""Seconds running jobs get to finish when the process is asked to stop."""

Key = tuple[str, int]
Outcome = Result | Failed


@dataclass(eq=False)
class _Running:
    job: BaseJob[Any]
    is_async: bool
    task: asyncio.Task[None] | None = None
    logs: list[LogRecord] = field(default_factory=list)
    progress: Progress | None = None
    released: bool = False


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class _Events(JobEvents):
    """A job's logs and progress, carried from any thread onto the loop."""

    def __init__(self, runner: JobRunner, key: Key) -> None:
        self._runner = runner
        self._key = key
        self._loop = asyncio.get_running_loop()

    def log(self, record: LogRecord) -> None:
        self._deliver(self._runner.buffer_log, record)

    def progress(self, current: float, total: float | None, message: str | None) -> None:
        job_id, attempt = self._key
        if message is not None and len(message) > MAX_PROGRESS_MESSAGE:
            message = message[: MAX_PROGRESS_MESSAGE - 3] + "..."
        update = Progress(
            job_id=job_id, attempt=attempt, current=current, total=total, message=message
        )
        self._deliver(self._runner.buffer_progress, update)

    def _deliver(self, buffer: Callable[[Key, Any], None], item: Any) -> None:
        # On the loop itself (async callbacks, the runner) buffer now, so nothing logged
        # just before the outcome can arrive after the job's last flush; from a worker
        # thread, hop onto the loop.
        if _on_loop(self._loop):
            buffer(self._key, item)
        else:
            # A released job's thread may log after the loop has closed (the process is
            # exiting): nobody can send that record any more.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(buffer, self._key, item)


class JobRunner:
    def __init__(self, plugin: Plugin[Any, Any], *, base_url: str = "") -> None:
        self._plugin = plugin
        self._base_url = base_url
        self._threads = ThreadPoolExecutor(
            max_workers=plugin.concurrency, thread_name_prefix="plugin-job"
        )
        self._slots = asyncio.Semaphore(plugin.concurrency)
        self._running: dict[Key, _Running] = {}
        self._outbox: dict[Key, Outcome] = {}
        self._dirty: set[Key] = set()
        self._send: Sender | None = None
        self._max_message_size = DEFAULT_MAX_MESSAGE_SIZE
        self._flusher: asyncio.Task[None] | None = None
        self._stopping = False
        self._background: set[asyncio.Task[Any]] = set()

    # --- what the connection calls -------------------------------------------------

    def held_jobs(self) -> list[JobRef]:
        keys = [*self._running, *(k for k in self._outbox if k not in self._running)]
        return [JobRef(job_id=job_id, attempt=attempt) for job_id, attempt in keys]

    async def attach(self, send: Sender, max_message_size: int) -> None:
        self._send = send
        self._max_message_size = max_message_size
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_periodically())
        for outcome in list(self._outbox.values()):
            await self._try_send(outcome)

    def detach(self) -> None:
        self._send = None

    async def on_message(self, message: Job | Cancel | Ack) -> None:
        key = (message.job_id, message.attempt)
        if isinstance(message, Ack):
            self._outbox.pop(key, None)
        elif isinstance(message, Cancel):
            running = self._running.get(key)
            if running is not None:
                log.info("job %s: cancel requested (%s)", message.job_id, message.reason)
                running.job._cancel()
                if running.is_async and running.task is not None:
                    running.task.cancel()
        elif key in self._running or key in self._outbox:
            pass  # a duplicate delivery of an attempt this process already holds
        elif self._stopping:
            await self._try_send(
                Release(job_id=key[0], attempt=key[1], reason="plugin is shutting down")
            )
        else:
            self._start(message)

    async def shutdown(self, send: Sender | None) -> None:
        """Let running jobs finish for a while, hand back the rest, then stop the threads."""
        self._stopping = True
        tasks = [r.task for r in self._running.values() if r.task is not None]
        if tasks and send is not None:
            log.info("waiting up to %.0fs for %d running job(s)", SHUTDOWN_GRACE, len(tasks))
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
        for key, running in list(self._running.items()):
            running.released = True
            running.job._cancel()
            if running.task is not None:
                running.task.cancel()
            if send is not None:
                await self._try_send(
                    Release(job_id=key[0], attempt=key[1], reason="plugin is shutting down")
                )
        if send is not None:
            await self._flush_all()
        if self._flusher is not None:
            self._flusher.cancel()
        self._threads.shutdown(wait=False, cancel_futures=True)

    # --- running a job --------------------------------------------------------------

    def _start(self, message: Job) -> None:
        key = (message.job_id, message.attempt)
        callback = self._plugin.callback
        is_async = inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
            getattr(callback, "__call__", None)  # noqa: B004 (async callable objects)
        )
        try:
            config = self._plugin.parse_config(message.config)
        except InvalidConfig as exc:
            self._outbox[key] = self._fitted(_failed(key, exc, kind="ConfigError"))
            self._spawn(self._try_send(self._outbox[key]))
            return
        job = self._plugin.job_class(
            id=message.job_id,
            attempt=message.attempt,
            config=config,
            operation=message.operation,
            input=message.input,
            timeout_s=message.timeout_s,
            events=_Events(self, key),
            base_url=self._base_url,
        )
        running = _Running(job=job, is_async=is_async)
        self._running[key] = running
        running.task = asyncio.create_task(self._execute(key, running), name=f"job-{key[0]}")

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a send in the background, keeping a reference so it is not collected mid-way."""
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _execute(self, key: Key, running: _Running) -> None:
        await self._try_send(Accepted(job_id=key[0], attempt=key[1]))
        try:
            async with self._slots:
                job = running.job
                if job.cancelled:
                    raise asyncio.CancelledError  # cancelled while waiting for a slot
                loop = asyncio.get_running_loop()
                if running.is_async:
                    value = await self._plugin.callback(job)
                    if _has_finish_step(job):
                        value = await loop.run_in_executor(self._threads, job._finish, value)
                else:
                    value = await loop.run_in_executor(
                        self._threads, _call_and_finish, job, self._plugin.callback
                    )
            outcome: Outcome = (
                _failed(key, None, kind="Cancelled", prefix="stopped after a cancel")
                if running.job.cancelled
                else self._result(key, value)
            )
        except asyncio.CancelledError:
            if running.released:
                self._running.pop(key, None)
                return
            outcome = _failed(key, None, kind="Cancelled", prefix="cancelled by the hub")
        except Exception as exc:
            running.job.logger.error("callback failed", exc_info=exc)
            kind = "Cancelled" if running.job.cancelled else type(exc).__name__
            outcome = _failed(key, exc, kind=kind)
        await self._flush(key)
        self._running.pop(key, None)
        outcome = self._fitted(outcome)
        self._outbox[key] = outcome
        await self._try_send(outcome)

    def _message_budget(self) -> int:
        """Bytes a single message may use, with room for its envelope."""
        return max(1024, self._max_message_size - 512)

    def _fitted(self, outcome: Outcome) -> Outcome:
        """A `failed` whose message and traceback are cut (head and tail) to fit the hub's
        limit: an outcome the hub must refuse would be re-sent forever."""
        if not isinstance(outcome, Failed):
            return outcome
        budget = self._message_budget()
        if len(encode(outcome).encode("utf-8")) <= budget:
            return outcome
        error = outcome.error
        fitted = error.model_copy(
            update={
                "message": _fit(error.message, budget // 4),
                "traceback": None
                if error.traceback is None
                else _fit(error.traceback, budget // 2),
            }
        )
        return outcome.model_copy(update={"error": fitted})

    def _result(self, key: Key, value: Any) -> Outcome:
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        try:
            result = Result(job_id=key[0], attempt=key[1], output=value)
            size = len(encode(result).encode("utf-8"))
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return _failed(key, exc, kind="InvalidResult", prefix="the result is not JSON: ")
        if size > self._max_message_size:
            message = (
                f"the result is {size} bytes, over the hub's limit of {self._max_message_size}"
            )
            return _failed(key, None, kind="ResultTooLarge", prefix=message)
        return result

    # --- logs and progress ------------------------------------------------------------

    def buffer_log(self, key: Key, record: LogRecord) -> None:
        running = self._running.get(key)
        if running is not None:
            running.logs.append(record)
            self._dirty.add(key)

    def buffer_progress(self, key: Key, update: Progress) -> None:
        running = self._running.get(key)
        if running is not None:
            running.progress = update
            self._dirty.add(key)

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self._flush_all()

    async def _flush_all(self) -> None:
        for key in list(self._dirty):
            await self._flush(key)

    async def _flush(self, key: Key) -> None:
        """Send the job's buffered logs, then its latest progress (best effort)."""
        self._dirty.discard(key)
        running = self._running.get(key)
        if running is None or self._send is None:
            return
        messages: list[Log | Progress] = []
        logs, running.logs = running.logs, []
        for batch in _log_batches(logs, self._message_budget()):
            messages.append(Log(job_id=key[0], attempt=key[1], records=batch))
        if running.progress is not None:
            messages.append(running.progress)
            running.progress = None
        for message in messages:
            await self._try_send(message)

    async def _try_send(self, message: Any) -> bool:
        send = self._send
        if send is None:
            return False
        try:
            await send(message)
        except Exception as exc:  # the session is ending; outcomes stay in the outbox
            log.debug("could not send %s: %s", message.type, exc)
            return False
        return True


def _log_batches(records: list[LogRecord], budget: int) -> Iterator[list[LogRecord]]:
    """Records in batches of at most LOG_BATCH records and about `budget` bytes; a record
    too big on its own is cut to fit."""
    batch: list[LogRecord] = []
    size = 0
    for record in records:
        cost = len(record.message.encode("utf-8")) + len(json.dumps(record.fields)) + 100
        if cost > budget:
            record = record.model_copy(
                update={"message": _fit(record.message, budget // 2), "fields": {}}
            )
            cost = budget // 2 + 100
        if batch and (len(batch) >= LOG_BATCH or size + cost > budget):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += cost
    if batch:
        yield batch


def _fit(
    text: str, limit: int, marker: str = "\n[... cut to fit the hub's message limit ...]\n"
) -> str:
    """`text` shortened to about `limit` bytes, keeping its head and tail."""
    if len(text.encode("utf-8")) <= limit:
        return text
    keep = max(0, (limit - len(marker)) // 8)  # chars; UTF-8 may take up to 4 bytes each
    return text[:keep] + marker + text[-keep:] if keep else marker.strip()


def _has_finish_step(job: BaseJob[Any]) -> bool:
    return type(job)._finish is not BaseJob._finish


def _call_and_finish(job: BaseJob[Any], callback: Any) -> Any:
    """In a worker thread: the callback, then its type's finish step (upload, post...)."""
    return job._finish(callback(job))


def _failed(key: Key, exc: BaseException | None, *, kind: str, prefix: str = "") -> Failed:
    detail = "" if exc is None else frame_safe(str(exc) or type(exc).__name__)
    trace = None if exc is None else frame_safe("".join(traceback.format_exception(exc)))
    retryable = isinstance(exc, RetryableError) and kind != "Cancelled"
    return Failed(
        job_id=key[0],
        attempt=key[1],
        error=JobError(
            message=f"{prefix}{detail}", kind=kind, retryable=retryable, traceback=trace
        ),
    )
