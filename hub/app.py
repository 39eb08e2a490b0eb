"""The ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from hub.api import files as file_routes
from hub.api import job_io
from hub.api import jobs as job_routes
from hub.api import plugins as plugin_routes
from hub.api import projects as project_routes
from hub.api import workflow as workflow_routes
from hub.api.metrics import metrics
from hub.gateway.endpoint import plugin_socket
from hub.http.context import hub_of
from hub.http.errors import EXCEPTION_HANDLERS
from hub.http.responses import JSONResponse
from hub.job_types import KINDS, JobKind
from hub.runtime import Hub
from hub.settings import Settings
from hub.web import web_routes
from hub.web.csrf import CsrfTokens


async def healthz(request: Request) -> Response:
    """Up, and in what role: "single" (one hub), "dispatcher" or "node" (several nodes);
    "degraded" while this node cannot reach its database (it keeps what it holds)."""
    hub = hub_of(request)
    cluster = hub.cluster
    body: dict[str, object] = {
        "status": "ok" if cluster is None or cluster.database_ok else "degraded",
        "role": "single" if cluster is None else "dispatcher" if hub.jobs.dispatching else "node",
        "live_connections": len(hub.presence.all_connections()),
        "active_jobs": hub.jobs.active_count(),
    }
    if cluster is not None:
        body.update(node_id=cluster.node_id, epoch=cluster.epoch, database=cluster.database_ok)
    return JSONResponse(body)


async def healthz_dispatcher(request: Request) -> Response:
    """200 on the node that takes plugin connections, 503 on the others: a load balancer
    checking it sends plugin WebSockets straight to the dispatcher (docs/scaling.md). A
    dispatcher that cannot reach the database says 503 too: new sockets had better wait
    for whichever node holds the lease once it is back."""
    hub = hub_of(request)
    reachable = hub.cluster is None or hub.cluster.database_ok
    dispatching = hub.jobs.dispatching and reachable
    return JSONResponse({"dispatcher": dispatching}, status_code=200 if dispatching else 503)


PLUGIN_SOCKET = "/ws/plugin"


class HubApp(Starlette):
    """Starlette, with the plugin socket served ahead of the middleware stack and router.

    Plugin frames are the hub's hottest path, and every layer wraps each frame's send and
    receive in its own closure: a third of the hub's CPU in a reconnect storm. The socket
    needs none of them (it answers its own errors, and uvicorn logs and closes with 1011 on
    a bug). The same endpoint stays routed for a hub served under a path prefix."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == PLUGIN_SOCKET:
            scope["app"] = self
            await plugin_socket(WebSocket(scope, receive, send))
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None, *, kinds: tuple[type[JobKind], ...] = KINDS
) -> HubApp:
    """The hub's ASGI app; `kinds` are the job types it knows (hub/job_types)."""
    hub = Hub(settings or Settings.from_env(), kinds=kinds)

    @asynccontextmanager
    async def lifespan(started: Starlette) -> AsyncIterator[None]:
        await hub.start()
        started.state.csrf = CsrfTokens(hub.signing_key)  # the key is final once started
        try:
            yield
        finally:
            await hub.stop()

    app = HubApp(
        routes=[
            Route("/healthz", healthz),
            Route("/healthz/dispatcher", healthz_dispatcher),
            Route("/metrics", metrics),
            WebSocketRoute(PLUGIN_SOCKET, plugin_socket),
            Mount("/io", routes=job_io.routes),
            Mount(
                "/api/v1",
                routes=[
                    *plugin_routes.routes,
                    *job_routes.routes,
                    *project_routes.routes,
                    *file_routes.routes,
                    *workflow_routes.routes,
                ],
            ),
            *web_routes(),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.csrf = CsrfTokens(hub.signing_key)
    return app
