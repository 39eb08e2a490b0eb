"""/io/jobs/{id}/...: a running job's data paths, for its plugin only.

Authenticated with the job token sent in the job's input (`Authorization: Bearer`), valid
only while that attempt is the job's current running attempt (the job service checks it).
Which paths a job has, and what they do, is its type's (hub/job_types): this module only
carries requests to them and their answers back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TypeVar

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from hub.api.common import bearer_token
from hub.http.bodies import json_body
from hub.http.context import hub_of
from hub.http.responses import JSONResponse
from hub.job_types.base import Answer, DataAnswer, DataPath, Redirect, Stream
from hub.jobs.state import ActiveJob
from hub.services.errors import Forbidden

M = TypeVar("M", bound=BaseModel)


class _DataRequest:
    """A `DataRequest` over a Starlette request."""

    def __init__(self, request: Request, job: ActiveJob, params: dict[str, str]) -> None:
        self._request = request
        self.job = job
        self.params: Mapping[str, str] = params
        self.query: Mapping[str, str] = request.query_params
        self.content_type = request.headers.get("content-type", "")

    async def json(self, model: type[M], *, max_bytes: int | None = None) -> M:
        return await json_body(self._request, model, max_bytes=max_bytes)

    def stream(self) -> AsyncIterator[bytes]:
        return self._request.stream()


async def data_path(request: Request) -> Response:
    hub = hub_of(request)
    token = bearer_token(request, missing="send the job token as 'Authorization: Bearer <token>'")
    job = await hub.job_service.running_attempt(token, request.path_params["job_id"])
    name = request.path_params["name"]
    path, params = _find(hub.job_types[job.type].paths, request.method, name)
    if path is None:
        if any(_find(kind.paths, request.method, name)[0] for kind in hub.job_types):
            raise Forbidden(f"this data path is not for {job.type} jobs")
        raise HTTPException(404, f"no data path {name!r}")
    return _response(await path.handle(_DataRequest(request, job, params)))


def _find(paths: list[DataPath], method: str, name: str) -> tuple[DataPath | None, dict[str, str]]:
    for path in paths:
        params = path.match(method, name)
        if params is not None:
            return path, params
    return None, {}


def _response(answer: DataAnswer) -> Response:
    if isinstance(answer, Stream):
        return StreamingResponse(answer.chunks, media_type=answer.media_type)
    if isinstance(answer, Redirect):
        return RedirectResponse(answer.url, status_code=307)
    assert isinstance(answer, Answer)
    return JSONResponse(answer.body, status_code=answer.status)


routes = [Route("/jobs/{job_id}/{name:path}", data_path, methods=["GET", "PUT", "POST"])]
