"""The ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute

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
from hub.job_types import KINDS, JobKind
from hub.runtime import Hub
from hub.settings import Settings
from hub.web import web_routes
from hub.web.csrf import CsrfTokens


async def healthz(request: Request) -> Response:
    hub = hub_of(request)
    return JSONResponse(
        {
            "status": "ok",
            "live_connections": len(hub.live.all_connections()),
            "active_jobs": hub.jobs.active_count(),
        }
    )


def create_app(
    settings: Settings | None = None, *, kinds: tuple[type[JobKind], ...] = KINDS
) -> Starlette:
    """The hub's ASGI app; `kinds` are the job types it knows (hub/job_types)."""
    hub = Hub(settings or Settings.from_env(), kinds=kinds)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            WebSocketRoute("/ws/plugin", plugin_socket),
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
