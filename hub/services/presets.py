"""Config presets: named configs an organization keeps for a plugin, to start runs from.

A preset belongs to one organization: another organization never sees it, even for the
same plugin. Its config is checked against the plugin's config schema when it is saved,
so picking a preset never fills the run form with a config the hub would refuse (a schema
changed later can still make an old preset fail at submit, with the usual 422).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from hub.db import ConfigPreset, Plugin, Store
from hub.services.accounts import Principal
from hub.services.config_schema import check_config
from hub.services.errors import Conflict, Invalid, NotFound
from hub.services.plugins import PluginService

MAX_NAME_LENGTH = 200


class PresetService:
    def __init__(self, store: Store, plugins: PluginService) -> None:
        self._store = store
        self._plugins = plugins

    async def runnable_plugin(self, principal: Principal, plugin_id: str) -> Plugin:
        """The plugin the organization may run and keep presets for: its own, or one it
        installed from the directory. The one place the run pages decide it."""
        return await self._plugins.usable(principal.organization_id, plugin_id)

    async def list_presets(self, principal: Principal, plugin_id: str) -> list[ConfigPreset]:
        """The organization's presets for the plugin, by name."""
        plugin = await self.runnable_plugin(principal, plugin_id)
        async with self._store.read() as session:
            rows = await session.scalars(
                select(ConfigPreset)
                .where(
                    ConfigPreset.organization_id == principal.organization_id,
                    ConfigPreset.plugin_id == plugin.id,
                )
                .order_by(ConfigPreset.name)
            )
            return list(rows)

    async def find(self, principal: Principal, plugin_id: str, name: str) -> ConfigPreset:
        """The organization's preset of that name for the plugin."""
        plugin = await self.runnable_plugin(principal, plugin_id)
        async with self._store.read() as session:
            preset = await session.scalar(_named(principal, plugin, name.strip()))
        if preset is None:
            raise NotFound(f"there is no preset named {name.strip()!r}")
        return preset

    async def save(
        self, principal: Principal, plugin_id: str, name: str, config: dict[str, Any]
    ) -> ConfigPreset:
        """Create the preset, or replace the config of the organization's preset of that name."""
        plugin = await self.runnable_plugin(principal, plugin_id)
        name = name.strip()
        if not name:
            raise Invalid("a preset needs a name")
        if len(name) > MAX_NAME_LENGTH:
            raise Invalid(f"a preset name is at most {MAX_NAME_LENGTH} characters")
        check_config(plugin.config_schema, config, what="the preset's config")
        try:
            async with self._store.write() as session:
                preset = await session.scalar(_named(principal, plugin, name))
                if preset is None:
                    preset = ConfigPreset(
                        organization_id=principal.organization_id,
                        plugin_id=plugin.id,
                        name=name,
                        config=config,
                        created_by=principal.user_id,
                    )
                    session.add(preset)
                else:
                    preset.config = config
        except IntegrityError:
            # Only where writers are not serialized (not SQLite): the same name saved twice
            # at once. The other save won; saying so beats silently overwriting it.
            raise Conflict(f"preset {name!r} was saved at the same moment; try again") from None
        return preset

    async def delete(self, principal: Principal, plugin_id: str, preset_id: str) -> None:
        plugin = await self.runnable_plugin(principal, plugin_id)
        async with self._store.write() as session:
            preset = await session.get(ConfigPreset, preset_id)
            if (
                preset is None
                or preset.organization_id != principal.organization_id
                or preset.plugin_id != plugin.id
            ):
                raise NotFound(f"preset {preset_id} not found")
            await session.delete(preset)


def _named(principal: Principal, plugin: Plugin, name: str) -> Select[ConfigPreset]:
    return select(ConfigPreset).where(
        ConfigPreset.organization_id == principal.organization_id,
        ConfigPreset.plugin_id == plugin.id,
        ConfigPreset.name == name,
    )
