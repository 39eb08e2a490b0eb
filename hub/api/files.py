"""/api/v1/files: upload a file (the raw request body) for jobs to use."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api.common import caller
from hub.http.bodies import body_as_file
from hub.http.responses import JSONResponse
from hub.http.views import file_view


async def upload_file(request: Request) -> Response:
    stored = await body_as_file(request, await caller(request))
    return JSONResponse(file_view(stored), status_code=201)


routes = [Route("/files", upload_file, methods=["POST"])]
