"""/io/jobs/{id}/...: a running job's data paths, for its plugin only.

Authenticated with the job token sent in the job's input (`Authorization: Bearer`),
valid only while that attempt is the job's current running attempt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ango_plugins_sdk.protocol.workspace import AssetIn
from hub.api.common import hub_of, json_body
from hub.jobs.state import ActiveJob
from hub.jobs.tokens import InvalidToken
from hub.services.errors import Forbidden, Invalid, Unauthenticated
from hub.services.job_types import artifact_key

MAX_DOCUMENTS_PER_REQUEST = 1000


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")

    markdown: Annotated[str, Field(max_length=1_000_000)]
    external_id: Annotated[str, Field(max_length=500)] | None = None
    batch: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class _Documents(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: Annotated[list[_Document], Field(max_length=MAX_DOCUMENTS_PER_REQUEST)]


def _running_job(request: Request, job_type: str) -> ActiveJob:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("send the job token as 'Authorization: Bearer <token>'")
    hub = hub_of(request)
    try:
        grant = hub.tokens.verify(token.strip())
    except InvalidToken as exc:
        raise Unauthenticated(str(exc)) from None
    job = hub.jobs.active(grant.job_id)
    if grant.job_id != request.path_params["job_id"]:
        raise Forbidden("this token is for another job")
    if job is None or not job.holds(grant.job_id, grant.attempt):
        raise Forbidden("this job attempt is no longer running")
    if job.type != job_type:
        raise Forbidden(f"a {job.type} job has no such data path")
    return job


async def export_tasks(request: Request) -> Response:
    job = _running_job(request, "export")
    lines = hub_of(request).workspace.export_tasks(
        job.organization_id,
        job.input["project_id"],
        stages=job.input.get("stages"),
        batches=job.input.get("batches"),
    )

    async def ndjson() -> AsyncIterator[bytes]:
        async for task in lines:
            yield task.model_dump_json(exclude_none=True).encode("utf-8") + b"\n"

    return StreamingResponse(ndjson(), media_type="application/x-ndjson")


async def upload_artifact(request: Request) -> Response:
    job = _running_job(request, "export")
    size = await hub_of(request).storage.put(
        artifact_key(job.id, job.attempt),
        request.stream(),
        content_type=request.headers.get("content-type", ""),
    )
    return JSONResponse({"size": size}, status_code=201)


async def job_csv(request: Request) -> Response:
    job = _running_job(request, "markdown")
    hub = hub_of(request)
    if "csv_text" in job.input:
        return Response(job.input["csv_text"].encode("utf-8"), media_type="text/csv")
    stored = await hub.files.get(job.organization_id, job.input["csv_file_id"])
    return StreamingResponse(hub.files.read(stored), media_type="text/csv")


async def post_documents(request: Request) -> Response:
    job = _running_job(request, "markdown")
    batch = await json_body(request, _Documents)
    try:
        assets = [
            AssetIn(markdown=d.markdown, external_id=d.external_id, batch=d.batch)
            for d in batch.documents
        ]
    except ValueError as exc:
        raise Invalid(f"invalid document: {exc}") from None
    hub = hub_of(request)
    tag = await hub.job_rules.documents_tag(job)
    workspace = hub.workspace
    created, skipped = await workspace.create_assets(
        job.organization_id,
        job.input["project_id"],
        assets,
        dedupe=bool(job.config.get("dedupe", False)),
        created_by_job=tag,
    )
    result: dict[str, Any] = {"created": created, "skipped": skipped}
    return JSONResponse(result)


routes = [
    Route("/jobs/{job_id}/tasks", export_tasks, methods=["GET"]),
    Route("/jobs/{job_id}/artifact", upload_artifact, methods=["PUT"]),
    Route("/jobs/{job_id}/csv", job_csv, methods=["GET"]),
    Route("/jobs/{job_id}/documents", post_documents, methods=["POST"]),
]
