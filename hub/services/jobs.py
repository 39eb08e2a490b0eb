"""The job engine's entry points from the gateway.

Jobs do not exist yet (they arrive with the job engine); until then every job
message names a job the hub does not know, which is what the protocol says to do.
"""

from __future__ import annotations

from ango_plugins_sdk.protocol import ErrorCode, JobRef, Message, ProtocolError
from hub.services.live import LiveConnection, LiveRegistry
from hub.settings import Settings
from hub.store import Store


class JobEngine:
    def __init__(self, store: Store, live: LiveRegistry, settings: Settings) -> None:
        self._store = store
        self._live = live
        self._settings = settings

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def connection_opened(self, connection: LiveConnection, held: list[JobRef]) -> None:
        pass

    async def connection_closed(self, connection: LiveConnection) -> None:
        pass

    async def heartbeat(self, connection: LiveConnection, jobs: list[JobRef]) -> None:
        pass

    async def handle(self, connection: LiveConnection, message: Message) -> None:
        job_id = getattr(message, "job_id", None)
        raise ProtocolError(
            ErrorCode.UNKNOWN_JOB, f"unknown job {job_id!r} for {message.type!r}", job_id=job_id
        )
