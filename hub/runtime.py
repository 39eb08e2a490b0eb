"""The hub's long-lived parts, built once per process and shared by every route."""

from __future__ import annotations

import logging

from ango_plugins_sdk.protocol import CloseCode
from hub.jobs.engine import JobEngine
from hub.services.accounts import AccountService
from hub.services.jobs import JobService
from hub.services.live import LiveRegistry
from hub.services.plugins import PluginService
from hub.settings import Settings
from hub.storage import LocalStorage, Storage
from hub.store import Store

log = logging.getLogger("hub")


class Hub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(
            settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        self.storage: Storage = LocalStorage(settings.data_dir / "blobs")
        self.live = LiveRegistry()
        self.accounts = AccountService(self.store)
        self.plugins = PluginService(self.store, self.live)
        self.jobs = JobEngine(self.store, self.live, settings)
        self.job_service = JobService(self.store, self.jobs, self.plugins)

    async def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await self.store.create_schema()
        await self.jobs.start()

    async def stop(self) -> None:
        """Stop taking work, tell plugins the hub is restarting, close the database."""
        await self.jobs.stop()
        await self.live.disconnect_all(CloseCode.SERVICE_RESTART, "hub restarting")
        await self.store.close()
        await self.storage.close()
