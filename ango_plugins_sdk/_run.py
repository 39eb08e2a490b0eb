"""run(): connect a plugin to the hub and serve jobs until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any

from ango_plugins_sdk._connection import HubConnection, PluginStopped
from ango_plugins_sdk._errors import ConfigurationError
from ango_plugins_sdk._plugins import Plugin
from ango_plugins_sdk._runner import JobRunner
from ango_plugins_sdk._transport import Transport, WebsocketsTransport
from ango_plugins_sdk.protocol import Backoff

log = logging.getLogger("ango_plugins_sdk")

DEFAULT_HUB_URL = "http://127.0.0.1:8000"


def run(
    plugin: Plugin[Any, Any],
    host: str | None = None,
    *,
    transport: Transport | None = None,
    backoff: Backoff | None = None,
) -> None:
    """Connect `plugin` to the hub and serve jobs until SIGINT/SIGTERM.

    Reads `PLUGIN_ID`, `PLUGIN_SECRET` and `HUB_URL` for whatever is not given. Exits
    the process with status 1 and a one-line message if the hub refuses the credentials.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    try:
        asyncio.run(serve(plugin, host, transport=transport, backoff=backoff, handle_signals=True))
    except (PluginStopped, ConfigurationError) as exc:
        print(f"ango_plugins_sdk: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


async def serve(
    plugin: Plugin[Any, Any],
    host: str | None = None,
    *,
    transport: Transport | None = None,
    backoff: Backoff | None = None,
    stop: asyncio.Event | None = None,
    handle_signals: bool = False,
) -> None:
    """The async form of `run()`: returns when `stop` is set; raises `PluginStopped`."""
    plugin_id = plugin.id or os.environ.get("PLUGIN_ID")
    secret = plugin.secret or os.environ.get("PLUGIN_SECRET")
    host = host or os.environ.get("HUB_URL") or DEFAULT_HUB_URL
    if not plugin_id:
        raise ConfigurationError("no plugin id: pass id=... or set PLUGIN_ID")
    if not secret:
        raise ConfigurationError("no plugin secret: pass secret=... or set PLUGIN_SECRET")
    stop = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # not on Windows' default loop
                loop.add_signal_handler(signum, _request_stop, stop, signum)
    connection = HubConnection(
        plugin_id=plugin_id,
        secret=secret,
        host=host,
        plugin_version=plugin.version,
        job_type=plugin.job_type,
        capacity=plugin.concurrency,
        jobs=JobRunner(plugin, base_url=host),
        transport=transport or WebsocketsTransport(),
        backoff=backoff or _backoff_from_env(),
    )
    await connection.run(stop)


def _request_stop(stop: asyncio.Event, signum: int) -> None:
    log.info("received %s: finishing up", signal.Signals(signum).name)
    stop.set()


def _backoff_from_env() -> Backoff:
    """PLUGIN_RECONNECT_MAX_DELAY caps the reconnect delay (seconds, default 30)."""
    raw = os.environ.get("PLUGIN_RECONNECT_MAX_DELAY")
    if not raw:
        return Backoff()
    try:
        maximum = float(raw)
        return Backoff(initial=min(0.5, maximum), maximum=maximum)
    except ValueError:
        raise ConfigurationError(
            f"PLUGIN_RECONNECT_MAX_DELAY={raw!r} must be a positive, finite number of seconds"
        ) from None
