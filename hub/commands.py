"""What the `plugin-hub` commands that need the hub do: serve, migrate, admin, plugins.

Imported only when one of them runs (hub/cli.py), so that an SDK-only install, without the
hub's dependencies, still has a working `plugin-hub init`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from hub.runtime import Hub
from hub.services.errors import ServiceError
from hub.services.manifests import pushed_view
from hub.services.plugins import PluginCreate
from hub.settings import Settings


def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from hub.app import create_app
    from hub.server_guard import (
        ConnectionLimits,
        connection_budget,
        guarded_protocol,
        raise_fd_limit,
    )

    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("uvicorn.error").addFilter(_DropDenialNoise())
    # Alembic narrates every step at INFO; the hub logs one line about the schema instead.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    fd_limit = raise_fd_limit()
    limits = ConnectionLimits(
        header_timeout=settings.header_timeout,
        max_connections=settings.max_connections or connection_budget(fd_limit),
    )
    logging.getLogger("hub").info(
        "accepting at most %d connections (open-file limit %d)", limits.max_connections, fd_limit
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        # httptools, with a request-head timeout and a connection bound (hub.server_guard).
        http=guarded_protocol(limits),
        # Frames between max_message_size and this get a clear `error` before the 1009 close.
        ws_max_size=settings.max_message_size * 4,
        # Frames are small JSON; compressing them costs more CPU than it saves bytes.
        ws_per_message_deflate=False,
        log_level=settings.log_level.lower(),
        lifespan="on",
        # Dashboard event streams end on `hub.closing`; this bounds anything else.
        timeout_graceful_shutdown=10,
    )
    hub = app.state.hub

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            settle_garbage_collector()

        async def shutdown(self, sockets: Any = None) -> None:
            # uvicorn waits for open responses before the lifespan's shutdown runs, so
            # the dashboard's event streams must hear about it first.
            hub.closing.set()
            await super().shutdown(sockets)

    _Server(config).run()
    return 0


GC_THRESHOLDS = (20_000, 20, 50)
"""Python's defaults are (700, 10, 10)."""


def settle_garbage_collector() -> None:
    """Once the hub is up: what exists now (modules, the ORM's metadata, compiled
    statements, settings) lives as long as the process, so it moves out of the collector's
    sight (gc.freeze) and no full collection walks it again; and young collections run less
    often, as a job's dicts and frames are short-lived and mostly freed by reference
    counting. Measured in docs/performance.md."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from hub.db import Store
    from hub.db.migrations import current_revision
    from hub.private_files import private_dir

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)

    async def go() -> dict[str, Any]:
        if not settings.database_url:
            private_dir(settings.data_dir)  # SQLite's file lives there, private as serve keeps it
        store = Store(
            settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        try:
            await store.create_schema()
            async with store.engine.connect() as connection:
                revision = await connection.run_sync(current_revision)
        finally:
            await store.close()
        return {"revision": revision, "database": store.engine.dialect.name}

    try:
        result = asyncio.run(go())
    except (OSError, SQLAlchemyError) as exc:
        # Not the URL: it may hold credentials.
        print(f"plugin-hub: cannot migrate the database: {_first_line(exc)}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


class _DropDenialNoise(logging.Filter):
    """uvicorn's sans-IO WebSocket protocol logs this error after every denial response
    (our 401 before the upgrade), although the handshake was refused on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


Action = Callable[[argparse.Namespace, Hub], Awaitable[dict[str, Any]]]


def with_hub(action: Action) -> Callable[[argparse.Namespace, Settings], int]:
    """Run `action` against the hub's database and print its result as JSON."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        async def go() -> dict[str, Any]:
            hub = Hub(settings)  # creates the data dir, private
            await hub.store.create_schema()
            try:
                return await action(args, hub)
            finally:
                await hub.store.close()

        try:
            result = asyncio.run(go())
        except (ServiceError, ValueError) as exc:  # ManifestError is a ValueError
            print(f"plugin-hub: {_message(exc)}", file=sys.stderr)
            return 1
        print(json.dumps(result, indent=2))
        return 0

    return run


def _message(exc: Exception) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
    return str(exc)


async def create_admin(args: argparse.Namespace, hub: Hub) -> dict[str, Any]:
    created = await hub.accounts.create_user(
        email=args.email, password=args.password, organization=args.org, role="owner"
    )
    return {
        "user_id": created.principal.user_id,
        "organization_id": created.principal.organization_id,
        "api_key": created.api_key,
    }


async def create_plugin(args: argparse.Namespace, hub: Hub) -> dict[str, Any]:
    try:
        default_config = json.loads(args.default_config)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--default-config is not valid JSON: {exc}") from None
    spec = PluginCreate(
        name=args.name,
        type=args.type,
        description=args.description,
        class_names=[n.strip() for n in args.class_names.split(",") if n.strip()],
        default_config=default_config,
    )
    org_id = await hub.accounts.organization_id(args.org)
    plugin, secret = await hub.plugins.create(org_id, spec)
    return {"id": plugin.id, "secret": secret, "name": plugin.name, "type": plugin.type}


async def push_plugin(args: argparse.Namespace, hub: Hub) -> dict[str, Any]:
    org_id = await hub.accounts.organization_id(args.org)
    pushed = await hub.manifests.push(org_id, args.manifest, rotate=args.rotate)
    if not pushed.created and hub.store.engine.dialect.name == "sqlite":
        # Hubs on PostgreSQL hear of the change; one running on this SQLite file keeps its
        # cached copy of the plugin (and of its secret) until it restarts.
        print(
            "plugin-hub: note: a hub already running on this database sees this update "
            "after a restart; push to a running hub with --hub URL instead",
            file=sys.stderr,
        )
    return pushed_view(pushed)
