"""/api/v1/files: upload a file (the raw request body) for jobs to use."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api.common import caller, hub_of


async def upload_file(request: Request) -> Response:
    principal = await caller(request)
    stored = await hub_of(request).files.upload(
        principal,
        request.query_params.get("filename", ""),
        request.headers.get("content-type", ""),
        request.stream(),
    )
    return JSONResponse(
        {"id": stored.id, "filename": stored.filename, "size": stored.size}, status_code=201
    )


routes = [Route("/files", upload_file, methods=["POST"])]
