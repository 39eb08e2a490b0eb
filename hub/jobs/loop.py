"""The engine's I/O: in the running hub, two tasks drive `JobEngine`, which does none itself.

- delivery: whenever the engine has work, `flush()` it (dispatch rounds and a group commit)
  and send the frames that come back to their connections;
- the reaper: `reap()` every `TICK`, for leases, deadlines, grace periods and retry delays.

A send never raises for a socket that is gone (the gateway absorbs that and reports the
close); only a frame too large for its process comes back, and the engine fails that job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ango_plugins_sdk.protocol import MessageTooLarge
from hub.jobs.committer import Fence, Fenced
from hub.jobs.engine import JobEngine
from hub.jobs.leases import TICK
from hub.jobs.ledger import OnFenced
from hub.jobs.live import LiveRegistry

log = logging.getLogger("hub.jobs")


class EngineLoop:
    def __init__(self, engine: JobEngine, live: LiveRegistry) -> None:
        self._engine = engine
        self._live = live
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, *, fence: Fence | None = None, on_fenced: OnFenced | None = None) -> None:
        """Start a term as dispatcher (see `JobEngine.start`)."""
        await self._engine.start(fence=fence, on_fenced=on_fenced)
        self._tasks = [
            asyncio.create_task(self._deliver_forever(), name="job-delivery"),
            asyncio.create_task(self._reap_forever(), name="job-reaper"),
        ]

    async def stop(self) -> None:
        """Send what is ready, stop the tasks, then stop the engine (which writes the rest)."""
        with contextlib.suppress(Exception):
            await self.deliver()
        await self._stop_tasks()
        await self._engine.stop()

    async def abandon(self) -> None:
        """End the term at once, writing and sending nothing more (the lease is gone)."""
        await self._stop_tasks()
        await self._engine.abandon()

    async def _stop_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def deliver(self) -> None:
        """One round: flush the engine and send what it returns."""
        for out in await self._engine.flush():
            connection = self._live.get(out.connection_id)
            if connection is None or out.message is None:
                continue  # gone: the engine hears of it from the gateway
            try:
                await connection.send(out.message)
            except MessageTooLarge as too_large:
                self._engine.undeliverable(out, too_large)
            except Exception:
                # A socket gone is absorbed by the send itself: this is a bug, and the rest
                # of the round must still go out.
                log.exception(
                    "sending %s to connection %s failed", out.message.type, out.connection_id
                )

    async def _deliver_forever(self) -> None:
        while True:
            await self._engine.wait_for_work()
            try:
                await self.deliver()
            except Fenced:
                return  # the node is stepping down; the next term starts afresh
            except Exception:
                # A failed commit is retried by the committer; carry on with the next round.
                log.exception("job delivery round failed; carrying on")
                await asyncio.sleep(TICK)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                self._engine.reap()
            except Exception:
                log.exception("job reaper failed; carrying on")
