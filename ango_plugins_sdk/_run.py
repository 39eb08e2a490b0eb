"""run(): connect a plugin to the hub and serve jobs until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from typing import Any

from ango_plugins_sdk._connection import HubConnection, PluginStopped
from ango_plugins_sdk._errors import ConfigurationError
from ango_plugins_sdk._health import (
    Health,
    HealthServer,
    host_from_env,
    parse_port,
    port_from_argv,
    port_from_env,
)
from ango_plugins_sdk._plugins import Plugin
from ango_plugins_sdk._runner import JobRunner
from ango_plugins_sdk._transport import Transport, WebsocketsTransport
from ango_plugins_sdk._version import __version__
from ango_plugins_sdk.protocol import Backoff

log = logging.getLogger("ango_plugins_sdk")

DEFAULT_HUB_URL = "http://127.0.0.1:8000"


def run(
    plugin: Plugin[Any, Any],
    host: str | None = None,
    *,
    transport: Transport | None = None,
    backoff: Backoff | None = None,
    health_port: int | None = None,
) -> None:
    """Connect `plugin` to the hub and serve jobs until SIGINT/SIGTERM.

    Reads `PLUGIN_ID`, `PLUGIN_SECRET` and `HUB_URL` for whatever is not given. Exits
    the process with status 1 and a one-line message if the hub refuses the credentials
    or the configuration is wrong.

    `health_port` serves the process's `/livez` and `/readyz` on that port (0: any free
    one, logged). When it is None, `--health-port N` (or `--health-port=N`) on the
    command line gives it, else `PLUGIN_HEALTH_PORT`; `run()` reads that one flag and
    leaves the rest of `sys.argv` alone.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    try:
        if health_port is None:
            health_port = port_from_argv(sys.argv[1:])
        asyncio.run(
            serve(
                plugin,
                host,
                transport=transport,
                backoff=backoff,
                handle_signals=True,
                health_port=health_port,
            )
        )
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
    health_port: int | None = None,
) -> None:
    """The async form of `run()`: returns when `stop` is set; raises `PluginStopped`.

    `health_port` (else `PLUGIN_HEALTH_PORT`; unset: none) serves `/livez` and `/readyz`
    on `PLUGIN_HEALTH_HOST` (default 0.0.0.0) for as long as this runs. It does not look
    at the command line: that is `run()`'s business.
    """
    port = _checked_port(health_port) if health_port is not None else port_from_env()
    health_host = host_from_env()
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
    runner = JobRunner(plugin, base_url=host)
    connection = HubConnection(
        plugin_id=plugin_id,
        secret=secret,
        host=host,
        plugin_version=plugin.version,
        job_type=plugin.job_type,
        capacity=plugin.concurrency,
        jobs=runner,
        transport=transport or WebsocketsTransport(),
        backoff=backoff or _backoff_from_env(),
    )
    running: asyncio.Task[None] | None = None

    def probe() -> Health:
        state = connection.state
        return Health(
            live=running is None or not running.done(),
            ready=state == "ready",
            details={
                "state": state,
                "seconds_in_state": round(time.monotonic() - connection.state_since, 3),
                "plugin_version": plugin.version,
                "sdk_version": __version__,
                "pid": os.getpid(),
                "jobs": len(runner.held_jobs()),
            },
        )

    health: HealthServer | None = None
    if port is not None:
        health = HealthServer(probe)
        await health.start(health_host, port)
    try:
        running = asyncio.create_task(connection.run(stop), name="plugin-connection")
        await running
    finally:
        if health is not None:
            await health.close()


def _checked_port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise ConfigurationError(f"health_port={port!r} must be an int port number")
    return parse_port(str(port), "health_port")


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
