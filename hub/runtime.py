"""The hub's long-lived parts, built once per process and shared by every route."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import Awaitable
from typing import TypeVar

from ango_plugins_sdk.protocol import CloseCode
from hub.blobs import LocalStorage, Storage, storage_from_url
from hub.cluster import notify
from hub.cluster.commands import Dispatcher
from hub.cluster.node import ClusterNode
from hub.cluster.notify import Listener
from hub.cluster.presence import Presence
from hub.cluster.shared_key import shared_signing_key
from hub.db import Store
from hub.job_types import KINDS, JobKind, JobTypes
from hub.jobs.engine import JobEngine
from hub.jobs.live import LiveRegistry
from hub.jobs.loop import EngineLoop
from hub.jobs.tokens import JobTokens, load_or_create_key
from hub.paths import asset_file_path
from hub.private_files import private_dir
from hub.security import new_id
from hub.services import read_cache
from hub.services.accounts import AccountService
from hub.services.directory import DirectoryService
from hub.services.files import FileService
from hub.services.job_history import JobHistory
from hub.services.jobs import JobService
from hub.services.manifests import ManifestService
from hub.services.plugins import PluginService
from hub.services.presets import PresetService
from hub.services.read_cache import Caches
from hub.services.sessions import SessionService
from hub.services.workflow import WorkflowService
from hub.settings import Settings
from hub.workspace import Workspace

log = logging.getLogger("hub")

T = TypeVar("T")

WARM_WAIT = 2.0
"""Seconds a new dispatcher waits for its listener before it fills the caches."""


class Hub:
    def __init__(self, settings: Settings, *, kinds: tuple[type[JobKind], ...] = KINDS) -> None:
        self.settings = settings
        private_dir(settings.data_dir)
        self.closing = asyncio.Event()
        """Set when the server starts shutting down: long-lived page streams end on it."""
        self.store = Store(
            settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        self.storage: Storage = storage_from_url(settings.storage_url, settings.data_dir)
        self.live = LiveRegistry()
        # Several nodes: a node clears its caches when another one announces a change.
        self.caches = Caches(broadcast=not self.store.is_sqlite)
        self.accounts = AccountService(self.store, self.caches)
        self.sessions = SessionService(self.store)
        self.workspace = Workspace.build(self.store, self.storage, asset_url=asset_file_path)
        self.files = FileService(self.store, self.storage)
        # Several nodes must share the key: without HUB_SECRET_KEY, the one in the database
        # (read at start); a single SQLite hub keeps its own in the data dir.
        self._key_from_database = not self.store.is_sqlite and not settings.secret_key
        self.signing_key = (
            secrets.token_bytes(32)  # replaced at start, before any request is served
            if self._key_from_database
            else load_or_create_key(settings.data_dir, settings.secret_key)
        )
        self.tokens = JobTokens(self.signing_key)
        self.job_types = JobTypes.build(
            self.workspace, self.files, self.storage, self.tokens, kinds=kinds
        )
        self.jobs = JobEngine(self.store, self.live, settings, rules=self.job_types)
        self.engine_loop = EngineLoop(self.jobs, self.live)
        self.cluster = self._cluster_node() if not self.store.is_sqlite else None
        """This node's part in a hub of several nodes (PostgreSQL); None for one SQLite hub."""
        self.dispatcher = Dispatcher(
            self.store, self.jobs, self.live, clustered=self.cluster is not None
        )
        self.presence = Presence(
            self.live,
            self.cluster.view if self.cluster else None,
            dispatching=lambda: self.jobs.dispatching,
        )
        self.plugins = PluginService(self.store, self.dispatcher, self.caches)
        self.directory = DirectoryService(self.store, self.plugins, self.caches)
        self.presets = PresetService(self.store, self.plugins)
        self.manifests = ManifestService(self.store, self.plugins, self.caches)
        self.job_service = JobService(
            self.store,
            self.jobs,
            self.dispatcher,
            self.plugins,
            self.job_types,
            self.tokens,
            max_job_size=settings.max_message_size // 2,
        )
        self.job_history = JobHistory(self.store, self.jobs, self.plugins)
        self.workflow = WorkflowService(self.store, self.workspace, self.plugins, self.job_service)

    async def until_closing(self, work: Awaitable[T]) -> T | None:
        """`work`'s result, or None if the hub starts shutting down first (`work` is then
        cancelled): requests that hold a response open must not hold up a deploy."""
        closing = asyncio.ensure_future(self.closing.wait())
        working = asyncio.ensure_future(work)
        try:
            await asyncio.wait({closing, working}, return_when=asyncio.FIRST_COMPLETED)
            return working.result() if working.done() else None
        finally:
            for task in (closing, working):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _warm_caches(self, listener: Listener) -> None:
        """Fill the handshake cache as a term begins. With several nodes the caches hold
        nothing while the listener is not connected (they could miss a change): give it a
        moment, or the reconnecting processes would all be checked against the database."""
        if await listener.wait_connected(WARM_WAIT):
            await self.plugins.warm()

    def _cluster_node(self) -> ClusterNode:
        settings = self.settings
        listener = Listener(
            settings.resolved_database_url,
            [notify.COMMANDS, notify.PRESENCE, notify.LEASE],
            readers={read_cache.CHANNEL: self.caches.heard},
        )
        self.caches.trust_while(lambda: listener.connected)
        return ClusterNode(
            self.store,
            self.jobs,
            self.engine_loop,
            self.live,
            node_id=f"{socket.gethostname()[:40]}-{new_id()[-12:]}",
            address=settings.node_address,
            storage_kind=(
                f"local:{socket.gethostname()}:{self.storage.root}"
                if isinstance(self.storage, LocalStorage)
                else "s3"
            ),
            lease_ttl=settings.dispatcher_lease_ttl,
            listener=listener,
            before_term=lambda: self._warm_caches(listener),
        )

    async def start(self) -> None:
        private_dir(self.settings.data_dir)
        try:
            await self.store.create_schema()
            if self._key_from_database:
                self.signing_key = await shared_signing_key(self.store)
                self.tokens.use_key(self.signing_key)
            if self.cluster is not None:
                await self.cluster.start()
            else:
                await self.plugins.warm()
                await self.engine_loop.start()
        except BaseException:
            await self.store.close()  # refused to start: leave no connection behind
            raise

    async def stop(self) -> None:
        """Stop taking work, tell plugins the hub is restarting, close the database."""
        self.closing.set()
        if self.cluster is not None:
            await self.cluster.stop()  # hands the dispatcher lease to another node
        else:
            # Sockets first, so no outcome arrives after the engine's last commit.
            await self.live.disconnect_all(CloseCode.SERVICE_RESTART, "hub restarting")
            await self.engine_loop.stop()
        await self.store.close()
        await self.storage.close()
