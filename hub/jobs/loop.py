"""The engine's I/O: in the running hub, two tasks drive `JobEngine`, which does none itself.

- delivery: whenever the engine has work, `flush()` it (dispatch rounds and a group commit)
  and send the frames that come back to their connections;
- the reaper: `reap()` every `TICK`, for leases, deadlines, grace periods and retry delays.

A send never raises for a socket that is gone (the gateway absorbs that and reports the
close); it returns the messages too large for their process, and the engine fails those jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ango_plugins_sdk.protocol import HubMessage
from hub.jobs.committer import Fence, Fenced
from hub.jobs.engine import JobEngine
from hub.jobs.leases import TICK
from hub.jobs.ledger import OnFenced, Outgoing
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
        """One round: flush the engine and send what it returns, each connection's messages
        in one call (so in as few frames as its protocol allows), in order."""
        rounds: dict[str, list[tuple[Outgoing, HubMessage]]] = {}
        for out in await self._engine.flush():
            if out.message is not None:
                rounds.setdefault(out.connection_id, []).append((out, out.message))
        for connection_id, outs in rounds.items():
            connection = self._live.get(connection_id)
            if connection is None:
                continue  # gone: the engine hears of it from the gateway
            try:
                refused = await connection.send([message for _, message in outs])
            except Exception:
                # A socket gone is absorbed by the send itself: this is a bug, and the rest
                # of the round must still go out.
                log.exception(
                    "sending %d messages to connection %s failed", len(outs), connection_id
                )
                continue
            for index, too_large in refused.items():
                self._engine.undeliverable(outs[index][0], too_large)

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
