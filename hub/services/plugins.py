"""Plugins: registration, settings, secrets, and who may use them with which version pin.

An organization may *use* (submit jobs to) its own plugins and the public plugins of
others that it installed (see hub.services.directory); everything else about a plugin —
editing, secrets, deleting — is for its owner only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import CompoundSelect, select
from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.protocol import CloseCode, JobType
from hub.cluster.commands import Dispatcher
from hub.db import Plugin, PluginInstall, Store, utcnow
from hub.db.paging import newest_first
from hub.security import hash_token, new_plugin_secret, token_matches
from hub.services.config_schema import check_config, validate_schema
from hub.services.errors import Invalid, NotFound
from hub.services.read_cache import Caches, ReadCache


def _http_url(value: str) -> str:
    if value and not value.startswith(("https://", "http://")):
        raise ValueError("banner_url must be an http(s) URL")
    return value


def _unique(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("class_names must be unique")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=2_000)]
Details = Annotated[str, Field(max_length=100_000)]
BannerUrl = Annotated[str, Field(max_length=2_000), AfterValidator(_http_url)]
ClassNames = Annotated[list[Name], AfterValidator(_unique)]
ConfigSchema = Annotated[dict[str, Any], AfterValidator(validate_schema)]
Timeout = Annotated[float, Field(gt=0, le=7 * 24 * 3600)]
MAX_PINNED_VERSION = 100


class PluginCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    type: JobType
    description: Description = ""
    details: Details = ""
    banner_url: BannerUrl = ""
    class_names: ClassNames = []
    public: bool = False
    listed: bool = False
    default_config: dict[str, Any] = {}
    config_schema: ConfigSchema | None = None
    job_timeout_s: Timeout | None = None

    @model_validator(mode="after")
    def _default_config_fits_schema(self) -> PluginCreate:
        check_config(self.config_schema, self.default_config, what="default_config")
        return self


class PluginUpdate(BaseModel):
    """A partial update: only the fields given change. The type is fixed at creation."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name | None = None
    description: Description | None = None
    details: Details | None = None
    banner_url: BannerUrl | None = None
    class_names: ClassNames | None = None
    public: bool | None = None
    listed: bool | None = None
    default_config: dict[str, Any] | None = None
    config_schema: ConfigSchema | None = None
    job_timeout_s: Timeout | None = None


class PluginService:
    def __init__(self, store: Store, dispatcher: Dispatcher, caches: Caches) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._caches = caches
        self._usable: ReadCache[tuple[str, str], tuple[Plugin, str | None]] = caches.new("plugins")
        """(organization, plugin) -> the plugin and the organization's pin: every submit
        reads it. Shared between requests: read, never changed (a write reads its own copy
        in its session)."""
        self._secrets: ReadCache[str, PluginCredentials] = caches.new("plugins")
        """plugin id -> what a handshake checks: a fleet reconnecting after a restart
        costs no read per process (`warm` fills it at start-up)."""

    async def create(self, organization_id: str, spec: PluginCreate) -> tuple[Plugin, str]:
        """A new plugin and its secret. The secret is returned once and stored only hashed."""
        secret = new_plugin_secret()
        plugin = Plugin(
            organization_id=organization_id, secret_hash=hash_token(secret), **spec.model_dump()
        )
        async with self._store.write() as session:
            session.add(plugin)
        return plugin, secret

    async def page(
        self, organization_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[Plugin], str | None]:
        """One page of the organization's plugins, newest first, and the next page's cursor."""
        query = select(Plugin).where(Plugin.organization_id == organization_id)
        return await newest_first(self._store, query, Plugin.id, cursor=cursor, limit=limit)

    async def usable_plugins(self, organization_id: str, *, limit: int = 500) -> list[Plugin]:
        """The plugins the organization may run (its own and those it installed), by name:
        for the pages that offer a choice of plugin or name the plugin of a job."""
        query = (
            select(Plugin)
            .where(Plugin.id.in_(_usable_ids(organization_id)))
            .order_by(Plugin.name, Plugin.id)
            .limit(limit)
        )
        async with self._store.read() as session:
            return list(await session.scalars(query))

    async def usable(self, organization_id: str, plugin_id: str) -> Plugin:
        """The plugin, if the organization may submit jobs to it: its own, or one it
        installed while the owner keeps it public. Anything else is as good as absent."""
        plugin, _ = await self.usable_with_pin(organization_id, plugin_id)
        return plugin

    async def usable_with_pin(
        self, organization_id: str, plugin_id: str
    ) -> tuple[Plugin, str | None]:
        """`usable`, and the plugin version the organization's new jobs are pinned to."""

        async def read() -> tuple[Plugin, str | None]:
            async with self._store.read() as session:
                plugin, install = await _usable(session, organization_id, plugin_id)
            return plugin, (plugin.pinned_version if install is None else install.pinned_version)

        found = await self._usable.through((organization_id, plugin_id), read)
        assert found is not None  # `_usable` raises NotFound instead
        return found

    async def set_pin(self, organization_id: str, plugin_id: str, version: str | None) -> None:
        """Pin the organization's jobs on a plugin it may use to one plugin version (None or
        blank: any). The owner's pin is the plugin's, an installer's is its install's; it
        applies to jobs submitted from now on (a job keeps the pin it was submitted with)."""
        version = (version or "").strip() or None
        if version is not None and len(version) > MAX_PINNED_VERSION:
            raise Invalid(f"a pinned version has at most {MAX_PINNED_VERSION} characters")
        async with self._store.write() as session:
            plugin, install = await _usable(session, organization_id, plugin_id)
            if install is None:
                plugin.pinned_version = version
            else:
                install.pinned_version = version
            await self._caches.changed(session, "plugins")

    async def get(self, organization_id: str, plugin_id: str) -> Plugin:
        """The plugin, if it belongs to the organization; another's is as good as absent."""
        async with self._store.read() as session:
            plugin = await session.get(Plugin, plugin_id)
        if plugin is None or plugin.organization_id != organization_id:
            raise NotFound(f"plugin {plugin_id} not found")
        return plugin

    async def update(self, organization_id: str, plugin_id: str, change: PluginUpdate) -> Plugin:
        values = change.model_dump(exclude_unset=True)
        nullable = {"config_schema", "job_timeout_s"}
        for name, value in values.items():
            if value is None and name not in nullable:
                raise Invalid(f"{name} cannot be null")
        async with self._store.write() as session:
            plugin = await session.get(Plugin, plugin_id)
            if plugin is None or plugin.organization_id != organization_id:
                raise NotFound(f"plugin {plugin_id} not found")
            for name, value in values.items():
                setattr(plugin, name, value)
            await self._caches.changed(session, "plugins")
            check_config(plugin.config_schema, plugin.default_config or {}, what="default_config")
        return plugin

    async def delete(self, organization_id: str, plugin_id: str) -> None:
        """Delete the plugin, close its connections and cancel its unfinished jobs."""
        async with self._store.write() as session:
            plugin = await session.get(Plugin, plugin_id)
            if plugin is None or plugin.organization_id != organization_id:
                raise NotFound(f"plugin {plugin_id} not found")
            await session.delete(plugin)
            await self._caches.changed(session, "plugins")
        await self._dispatcher.disconnect(plugin_id, CloseCode.PLUGIN_DELETED, "plugin deleted")
        # No process of it can ever connect again: its unfinished jobs (the installers'
        # too) end now, as cancelled, instead of waiting forever.
        await self._dispatcher.end_plugin_jobs(plugin_id)

    async def rotate_secret(self, organization_id: str, plugin_id: str) -> tuple[Plugin, str]:
        """A new secret; the old one stops working and its live sessions are closed."""
        secret = new_plugin_secret()
        async with self._store.write() as session:
            plugin = await session.get(Plugin, plugin_id)
            if plugin is None or plugin.organization_id != organization_id:
                raise NotFound(f"plugin {plugin_id} not found")
            plugin.secret_hash = hash_token(secret)
            plugin.secret_rotated_at = utcnow()
            await self._caches.changed(session, "plugins")
        await self._dispatcher.disconnect(
            plugin_id, CloseCode.CREDENTIALS_REVOKED, "secret rotated"
        )
        return plugin, secret

    async def authenticate(self, plugin_id: str, secret: str) -> PluginCredentials | None:
        """The plugin if `secret` is its current secret, else None. Constant-time compare."""

        async def read() -> PluginCredentials | None:
            async with self._store.read() as session:
                row = (await session.execute(_CREDENTIALS.where(Plugin.id == plugin_id))).first()
            return None if row is None else PluginCredentials(*row)

        plugin = await self._secrets.through(plugin_id, read)
        if plugin is None:
            # Still hash, so an unknown id costs the same as a wrong secret.
            token_matches(secret, "0" * 64)
            return None
        return plugin if token_matches(secret, plugin.secret_hash) else None

    async def warm(self) -> None:
        """Read every plugin's credentials at once (start-up), as many as the cache holds:
        the plugin processes that reconnect after a restart are then checked from memory."""
        generation = self._secrets.generation
        async with self._store.read() as session:
            rows = await session.execute(_CREDENTIALS.limit(self._secrets.max_entries))
            for row in rows:
                self._secrets.put(row.id, PluginCredentials(*row), generation)


@dataclass(frozen=True, slots=True)
class PluginCredentials:
    """What a plugin handshake checks and needs."""

    id: str
    type: str
    secret_hash: str


_CREDENTIALS = select(Plugin.id, Plugin.type, Plugin.secret_hash)


def _usable_ids(organization_id: str) -> CompoundSelect[str]:
    """The ids of the organization's own plugins and of those it installed that are still
    public (one statement, usable as a subquery)."""
    installed = (
        select(Plugin.id)
        .join(PluginInstall, PluginInstall.plugin_id == Plugin.id)
        .where(PluginInstall.organization_id == organization_id, Plugin.public.is_(True))
    )
    own = select(Plugin.id).where(Plugin.organization_id == organization_id)
    return own.union(installed)


async def _usable(
    session: AsyncSession, organization_id: str, plugin_id: str
) -> tuple[Plugin, PluginInstall | None]:
    """The plugin the organization may use, and its install (None for its own plugin)."""
    plugin = await session.get(Plugin, plugin_id)
    if plugin is not None and plugin.organization_id == organization_id:
        return plugin, None
    if plugin is not None and plugin.public:
        install = await session.get(PluginInstall, (organization_id, plugin_id))
        if install is not None:
            return plugin, install
    raise NotFound(f"plugin {plugin_id} not found")
