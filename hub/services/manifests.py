"""Plugins pushed from a manifest: create or update the organization's plugin with its key.

A push is idempotent: the plugin the organization pushed with the same manifest key is
updated in place (its id and secret stay), and the manifest's predefined run configs are
saved as the organization's presets of the same names. The secret is returned only when the
plugin is created, or when the push asks to rotate it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.manifest import Manifest, first_problem
from hub.db import ConfigPreset, Plugin, Store
from hub.security import hash_token, new_plugin_secret
from hub.services.config_schema import check_config
from hub.services.errors import Conflict, Invalid
from hub.services.plugins import PluginCreate, PluginService
from hub.services.read_cache import Caches

MANIFEST_AUTHOR = "manifest"
"""`created_by` of the presets a push saves: no person made them."""


@dataclass(frozen=True)
class Pushed:
    plugin: Plugin
    created: bool
    secret: str | None
    """Only on creation or rotation: it is stored hashed and never shown again."""
    presets: list[str]


def pushed_view(pushed: Pushed) -> dict[str, Any]:
    """What a push answers, on the command line and over the API alike."""
    plugin = pushed.plugin
    answer: dict[str, Any] = {
        "id": plugin.id,
        "key": plugin.manifest_key,
        "name": plugin.name,
        "type": plugin.type,
        "version": plugin.version,
        "created": pushed.created,
        "presets": pushed.presets,
    }
    if pushed.secret is not None:
        answer["secret"] = pushed.secret
    return answer


class ManifestService:
    def __init__(self, store: Store, plugins: PluginService, caches: Caches) -> None:
        self._store = store
        self._plugins = plugins
        self._caches = caches

    async def push(
        self, organization_id: str, manifest: Manifest, *, rotate: bool = False
    ) -> Pushed:
        try:
            plugin, created, secret, names = await self._write(organization_id, manifest)
        except IntegrityError:
            # Only where writers are not serialized (not SQLite): the same key pushed twice
            # at once. One push won; the other would have made a second plugin.
            raise Conflict(
                f"a plugin with key {manifest.key!r} was pushed at the same moment; push again"
            ) from None
        if rotate and not created:
            plugin, secret = await self._plugins.rotate_secret(organization_id, plugin.id)
        return Pushed(plugin=plugin, created=created, secret=secret, presets=names)

    async def _write(
        self, organization_id: str, manifest: Manifest
    ) -> tuple[Plugin, bool, str | None, list[str]]:
        secret: str | None = None
        async with self._store.write() as session:
            plugin = await session.scalar(
                select(Plugin).where(
                    Plugin.organization_id == organization_id,
                    Plugin.manifest_key == manifest.key,
                )
            )
            spec = _spec(manifest, plugin)
            created = plugin is None
            if plugin is None:
                secret = new_plugin_secret()
                plugin = Plugin(
                    organization_id=organization_id,
                    secret_hash=hash_token(secret),
                    manifest_key=manifest.key,
                    **spec.model_dump(),
                )
                session.add(plugin)
            elif plugin.type != spec.type:
                raise manifest.error(
                    "type",
                    f"the plugin pushed with key {manifest.key!r} is a {plugin.type} plugin; "
                    "a plugin's type cannot change",
                    "give this manifest a new key to register a new plugin",
                )
            else:
                for name, value in spec.model_dump().items():
                    setattr(plugin, name, value)
            if "version" in manifest.model_fields_set:
                plugin.version = manifest.version
            await session.flush()
            await _save_presets(session, manifest, plugin)
            await self._caches.changed(session, "plugins")
        return plugin, created, secret, [preset.name for preset in manifest.presets]


async def _save_presets(session: AsyncSession, manifest: Manifest, plugin: Plugin) -> None:
    """The manifest's presets as the organization's, replacing those of the same names
    (others are left alone: people may have started to use them)."""
    for preset in manifest.presets:
        try:
            check_config(plugin.config_schema, preset.config, what=f"preset {preset.name!r}")
        except Invalid as exc:
            raise manifest.error("presets", exc.message) from None
    saved = {
        row.name: row
        for row in await session.scalars(
            select(ConfigPreset).where(
                ConfigPreset.organization_id == plugin.organization_id,
                ConfigPreset.plugin_id == plugin.id,
                ConfigPreset.name.in_([preset.name for preset in manifest.presets]),
            )
        )
    }
    for preset in manifest.presets:
        if preset.name in saved:
            saved[preset.name].config = preset.config
        else:
            session.add(
                ConfigPreset(
                    organization_id=plugin.organization_id,
                    plugin_id=plugin.id,
                    name=preset.name,
                    config=preset.config,
                    created_by=MANIFEST_AUTHOR,
                )
            )


_PLUGIN_FIELDS = tuple(PluginCreate.model_fields)


def _spec(manifest: Manifest, current: Plugin | None) -> PluginCreate:
    """The plugin's fields after the push, checked as the REST API checks them: what the
    manifest sets, and for a plugin that exists, what it had for the rest (a key left out
    of the manifest, such as `public` set in the dashboard, is not reset)."""
    given = manifest.model_fields_set
    values = {
        name: getattr(manifest, name)
        for name in _PLUGIN_FIELDS
        if current is None or name in given or name in ("name", "type")
    }
    if current is not None:
        values = {name: getattr(current, name) for name in _PLUGIN_FIELDS} | values
    try:
        return PluginCreate(**values)
    except ValidationError as exc:
        key, problem = first_problem(exc)
        raise manifest.error(key or "default_config", problem) from None
    except Invalid as exc:  # the default config does not fit the schema
        raise manifest.error("default_config", exc.message) from None
