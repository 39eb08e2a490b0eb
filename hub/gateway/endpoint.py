"""GET /ws/plugin: credentials are checked before the upgrade."""

from __future__ import annotations

import logging
import re

from starlette.websockets import WebSocket

from hub.gateway.auth import parse_basic_auth
from hub.gateway.session import PluginSession
from hub.http.context import hub_of
from hub.http.responses import JSONResponse

log = logging.getLogger("hub.gateway")

_ID_SHAPE = re.compile(r"[0-9a-f]{24}")


async def plugin_socket(websocket: WebSocket) -> None:
    hub = hub_of(websocket)
    if not hub.dispatcher.here:
        # Plugin connections belong with the dispatcher; the SDK retries (through the load
        # balancer, which may route it there: docs/scaling.md).
        response = JSONResponse(
            {
                "error": {
                    "code": "not_dispatcher",
                    "message": "this hub node does not hold plugin connections now; retry",
                }
            },
            status_code=503,
            headers={"Retry-After": "1"},
        )
        await websocket.send_denial_response(response)
        return
    credentials = parse_basic_auth(websocket.headers.get("authorization"))
    if credentials is None:
        await _deny(websocket, "send 'Authorization: Basic base64(plugin_id:secret)'")
        return
    plugin_id, secret = credentials
    plugin = await hub.plugins.authenticate(plugin_id, secret)
    if plugin is None:
        log.warning(
            "refused plugin %s from %s: wrong id or secret", _loggable(plugin_id), _peer(websocket)
        )
        await _deny(websocket, "unknown plugin id or wrong secret")
        return
    await PluginSession(websocket, hub, plugin.id, plugin.type).run()


async def _deny(websocket: WebSocket, message: str) -> None:
    response = JSONResponse(
        {"error": {"code": "unauthenticated", "message": message}},
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="plugin-hub"'},
    )
    await websocket.send_denial_response(response)


def _loggable(plugin_id: str) -> str:
    """The id as sent, if it looks like an id. It may be anything, even a secret pasted into
    the wrong variable, or text with newlines that would forge log lines."""
    return plugin_id if _ID_SHAPE.fullmatch(plugin_id) else "(malformed plugin id)"


def _peer(websocket: WebSocket) -> str:
    client = websocket.client
    return f"{client.host}:{client.port}" if client else "unknown"
