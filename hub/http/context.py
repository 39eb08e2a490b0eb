"""The hub a request (or a plugin's WebSocket) is served by."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from hub.runtime import Hub


def hub_of(connection: HTTPConnection) -> Hub:
    hub: Hub = connection.app.state.hub
    return hub
