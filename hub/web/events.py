"""Server-sent events for the parts of a page that change without a reload.

Each stream lives at most `STREAM_LIFETIME` seconds and then ends; the browser's
EventSource reconnects after `retry` ms and gets a fresh snapshot, so nothing is missed
and no connection outlives a deploy for long. Streams also end at once when the hub
starts shutting down (`Hub.closing`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hub.http.context import hub_of
from hub.http.views import connection_view
from hub.runtime import Hub
from hub.services.sessions import SignedIn
from hub.web.pages import page

STREAM_LIFETIME = 30.0
RECONNECT_MS = 300
KEEPALIVE = 15.0


def frame(event: str, data: Any, *, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


Frames = AsyncIterator[str]


def stream(hub: Hub, frames: Frames) -> Response:
    """An event-stream response that ends after the lifetime or when the hub closes."""

    async def body() -> Frames:
        yield f"retry: {RECONNECT_MS}\n\n"
        deadline = time.monotonic() + STREAM_LIFETIME
        async for chunk in frames:
            yield chunk
            if hub.closing.is_set() or time.monotonic() > deadline:
                return

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _live_snapshot(hub: Hub, own: set[str], installed: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Who is connected. The organization's own plugins show their processes (without the
    heartbeat time, which would make every beat news); a plugin installed from another
    organization shows only which versions are live: its hosts, pids and load are the
    owner's business."""
    snapshot: dict[str, list[dict[str, Any]]] = {}
    for plugin_id in own | installed:
        connections = hub.presence.connections(plugin_id)
        if not connections:
            continue
        if plugin_id in own:
            snapshot[plugin_id] = [
                {k: v for k, v in connection_view(c).items() if k != "last_heartbeat_at"}
                for c in connections
            ]
        else:
            versions = sorted({c.plugin_version for c in connections})
            snapshot[plugin_id] = [{"plugin_version": v} for v in versions]
    return snapshot


async def plugin_events(request: Request, me: SignedIn) -> Response:
    """The live processes of the organization's plugins (and whether those it installed are
    live): a snapshot now, then one whenever a process connects, leaves or its load changes."""
    hub = hub_of(request)
    organization_id = me.principal.organization_id
    usable = await hub.plugins.usable_plugins(organization_id)
    own = {p.id for p in usable if p.organization_id == organization_id}
    installed = {p.id for p in usable} - own

    async def frames() -> Frames:
        last: dict[str, Any] | None = None
        quiet_since = time.monotonic()
        while not hub.closing.is_set():
            snapshot = _live_snapshot(hub, own, installed)
            if snapshot != last:
                last, quiet_since = snapshot, time.monotonic()
                yield frame("live", {"plugins": snapshot})
            elif time.monotonic() - quiet_since > KEEPALIVE:
                quiet_since = time.monotonic()
                yield ": keepalive\n\n"
            else:
                yield ""
            # Connects and disconnects wake us at once; load changes show within a second.
            await hub.until_closing(hub.presence.wait_changed(1.0))

    return stream(hub, frames())


routes = [page("/events/plugins", plugin_events)]
