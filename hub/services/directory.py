"""The directory: the plugins an organization can find, install or clone.

An organization finds its own listed plugins and the plugins other organizations made
both public and listed; private or unlisted plugins of others are as good as absent. It
also still finds the ones it installed while they stay public, so it can manage them.

Installing makes another organization's plugin usable here: the installer's jobs run on
the owner's processes and belong to the installer (see `PluginService.usable`). Cloning
copies the definition into a new plugin of the organization's own, with its own secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, or_, select

from hub.db import Organization, Plugin, PluginInstall, Store
from hub.db.paging import newest_first
from hub.services.accounts import Principal
from hub.services.errors import Conflict, NotFound
from hub.services.plugins import PluginCreate, PluginService
from hub.services.read_cache import Caches


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    plugin: Plugin
    owner_name: str
    own: bool
    """The plugin belongs to the organization looking."""
    installed: bool
    pinned_version: str | None
    """The looking organization's version pin: the plugin's own for its owner, the
    install's for an installer, None when neither."""


class DirectoryService:
    def __init__(self, store: Store, plugins: PluginService, caches: Caches) -> None:
        self._store = store
        self._plugins = plugins
        self._caches = caches

    async def page(
        self, organization_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[DirectoryEntry], str | None]:
        """One page of what the organization finds in the directory, newest first."""
        query = select(Plugin).where(_findable(organization_id))
        plugins, next_cursor = await newest_first(
            self._store, query, Plugin.id, cursor=cursor, limit=limit
        )
        return await self._entries(organization_id, plugins), next_cursor

    async def entry(self, organization_id: str, plugin_id: str) -> DirectoryEntry:
        """One plugin as the directory shows it to the organization."""
        async with self._store.read() as session:
            plugin = await session.scalar(
                select(Plugin).where(Plugin.id == plugin_id, _findable(organization_id))
            )
        if plugin is None:
            raise NotFound(f"plugin {plugin_id} not found")
        [entry] = await self._entries(organization_id, [plugin])
        return entry

    async def install(self, principal: Principal, plugin_id: str) -> DirectoryEntry:
        """Make another organization's public plugin usable here (again: no error)."""
        entry = await self.entry(principal.organization_id, plugin_id)
        if entry.own:
            raise Conflict("this plugin is your organization's own: there is nothing to install")
        if not entry.installed:
            key = (principal.organization_id, plugin_id)
            async with self._store.write() as session:
                # Checked again under the write lock: two clicks at once install once. The
                # plugin's row lock is that lock where writers do not take turns (PostgreSQL).
                await session.execute(
                    select(Plugin.id).where(Plugin.id == plugin_id).with_for_update()
                )
                if await session.get(PluginInstall, key) is None:
                    session.add(
                        PluginInstall(
                            organization_id=principal.organization_id,
                            plugin_id=plugin_id,
                            installed_by=principal.user_id,
                        )
                    )
                    await self._caches.changed(session, "plugins")
        return await self.entry(principal.organization_id, plugin_id)

    async def uninstall(self, organization_id: str, plugin_id: str) -> None:
        """Stop using an installed plugin; jobs already submitted run to their end."""
        async with self._store.write() as session:
            install = await session.get(PluginInstall, (organization_id, plugin_id))
            if install is None:
                raise NotFound(f"plugin {plugin_id} is not installed")
            await session.delete(install)
            await self._caches.changed(session, "plugins")

    async def clone(self, organization_id: str, plugin_id: str) -> tuple[Plugin, str]:
        """A new plugin of the organization's own with the definition of one it finds in
        the directory, and the new plugin's secret (returned once). It starts private and
        unlisted; it has no processes until someone runs the code under the new ID."""
        source = (await self.entry(organization_id, plugin_id)).plugin
        spec = PluginCreate.model_validate(
            {
                "name": source.name,
                "type": source.type,
                "description": source.description,
                "details": source.details,
                "banner_url": source.banner_url,
                "class_names": source.class_names,
                "default_config": source.default_config,
                "config_schema": source.config_schema,
                "job_timeout_s": source.job_timeout_s,
            }
        )
        return await self._plugins.create(organization_id, spec)

    async def _entries(self, organization_id: str, plugins: list[Plugin]) -> list[DirectoryEntry]:
        ids = [p.id for p in plugins]
        owner_ids = {p.organization_id for p in plugins}
        async with self._store.read() as session:
            owners = await session.execute(
                select(Organization.id, Organization.name).where(Organization.id.in_(owner_ids))
            )
            owner_names = {organization_id: name for organization_id, name in owners}
            installs = {
                install.plugin_id: install
                for install in await session.scalars(
                    select(PluginInstall).where(
                        PluginInstall.organization_id == organization_id,
                        PluginInstall.plugin_id.in_(ids),
                    )
                )
            }
        entries = []
        for plugin in plugins:
            own = plugin.organization_id == organization_id
            install = installs.get(plugin.id)
            if own:
                pinned = plugin.pinned_version
            else:
                pinned = install.pinned_version if install is not None else None
            entries.append(
                DirectoryEntry(
                    plugin=plugin,
                    owner_name=owner_names.get(plugin.organization_id, ""),
                    own=own,
                    installed=install is not None,
                    pinned_version=pinned,
                )
            )
        return entries


def _findable(organization_id: str) -> ColumnElement[bool]:
    """What the organization finds: its own listed plugins; others' public and listed
    ones, or public ones it installed."""
    installed_here = exists().where(
        PluginInstall.organization_id == organization_id, PluginInstall.plugin_id == Plugin.id
    )
    return or_(
        and_(Plugin.organization_id == organization_id, Plugin.listed.is_(True)),
        and_(
            Plugin.organization_id != organization_id,
            Plugin.public.is_(True),
            or_(Plugin.listed.is_(True), installed_here),
        ),
    )
