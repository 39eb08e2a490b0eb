"""The web dashboard: server-rendered pages over the same services as the REST API."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from hub.services.sessions import SignedIn
from hub.web import auth, directory, events, jobs, plugins, projects, run, settings
from hub.web.pages import page, redirect


async def home(_request: Request, _me: SignedIn) -> Response:
    return redirect("/plugins")


def web_routes() -> list[BaseRoute]:
    return [
        page("/", home),
        *auth.routes,
        *plugins.routes,
        *run.routes,
        *events.routes,
        *jobs.routes,
        *projects.routes,
        *directory.routes,
        *settings.routes,
        Mount(
            "/static", app=StaticFiles(directory=Path(__file__).parent / "static"), name="static"
        ),
    ]
