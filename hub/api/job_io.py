"""/io/jobs/{id}/...: a running job's data paths, for its plugin only.

Authenticated with the job token sent in the job's input (`Authorization: Bearer`),
valid only while that attempt is the job's current running attempt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from ango_plugins_sdk.protocol.workspace import AssetIn
from hub.api.common import hub_of, json_body
from hub.api.projects import MAX_JSON_ASSETS_BYTES
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
        raise Forbidden(f"this data path is not for {job.type} jobs")
    return job


async def export_tasks(request: Request) -> Response:
    job = _running_job(request, "export")
    lines = hub_of(request).workspace.exports.stream(
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
    # Documents are an asset list: the SDK sends up to 500 per request (markdown, often KiBs).
    batch = await json_body(request, _Documents, max_bytes=MAX_JSON_ASSETS_BYTES)
    try:
        assets = [
            AssetIn(markdown=d.markdown, external_id=d.external_id, batch=d.batch)
            for d in batch.documents
        ]
    except ValueError as exc:
        raise Invalid(f"invalid document: {exc}") from None
    hub = hub_of(request)
    tag = await hub.job_rules.creation_tag(job)
    created, skipped = await hub.workspace.assets.create_many(
        job.organization_id,
        job.input["project_id"],
        assets,
        dedupe=bool(job.config.get("dedupe", False)),
        created_by_job=tag,
    )
    result: dict[str, Any] = {"created": created, "skipped": skipped}
    return JSONResponse(result)


async def job_asset(request: Request) -> Response:
    """A model job's image: streamed if it was uploaded, else a redirect to its URL."""
    job = _running_job(request, "model")
    return await _asset_response(request, job, job.input["task"]["asset"])


async def chunk_asset(request: Request) -> Response:
    """An image of one of a batch chunk's tasks."""
    job = _running_job(request, "batch_model")
    wanted = request.path_params["asset_id"]
    for task in job.input.get("tasks", []):
        if task["asset"]["id"] == wanted:
            return await _asset_response(request, job, task["asset"])
    raise Forbidden("that asset is not one of this chunk's tasks")


async def _asset_response(request: Request, job: ActiveJob, asset: dict[str, Any]) -> Response:
    hub = hub_of(request)
    url = asset.get("url") or ""
    if url.startswith(("http://", "https://")):
        return RedirectResponse(url, status_code=307)
    stored = await hub.workspace.assets.file(job.organization_id, asset["id"])
    return StreamingResponse(stored.chunks, media_type="application/octet-stream")


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(max_length=4_000)]
    external_id: Annotated[str, Field(max_length=500)] | None = None
    width: Annotated[int, Field(gt=0)] | None = None
    height: Annotated[int, Field(gt=0)] | None = None


class _Items(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[_Item], Field(max_length=MAX_DOCUMENTS_PER_REQUEST)]


async def post_items(request: Request) -> Response:
    """Files a file explorer import found, by URL: assets in the job's project."""
    job = _running_job(request, "file_explorer")
    batch = await json_body(request, _Items)
    try:
        assets = [
            AssetIn(
                url=item.url,
                external_id=item.external_id,
                width=item.width,
                height=item.height,
                batch=job.input.get("batch"),
            )
            for item in batch.items
        ]
    except ValueError as exc:
        raise Invalid(f"invalid import item: {exc}") from None
    hub = hub_of(request)
    tag = await hub.job_rules.creation_tag(job)
    created, skipped = await hub.workspace.assets.create_many(
        job.organization_id,
        job.input["project_id"],
        assets,
        dedupe=bool(job.input.get("dedupe")),
        created_by_job=tag,
    )
    return JSONResponse({"created": created, "skipped": skipped})


async def upload_item(request: Request) -> Response:
    """One file a file explorer import copied: streamed into storage as an uploaded image."""
    job = _running_job(request, "file_explorer")
    hub = hub_of(request)
    external_id = request.query_params.get("external_id") or None
    if (
        job.input.get("dedupe")
        and external_id is not None
        and await hub.workspace.assets.has_external_id(
            job.organization_id, job.input["project_id"], external_id
        )
    ):
        return JSONResponse({"created": 0, "skipped": 1})
    tag = await hub.job_rules.creation_tag(job)
    await hub.workspace.assets.upload_image(
        job.organization_id,
        job.input["project_id"],
        request.query_params.get("filename") or external_id or "file",
        request.stream(),
        external_id=external_id,
        batch=job.input.get("batch"),
        created_by_job=tag,
    )
    return JSONResponse({"created": 1, "skipped": 0}, status_code=201)


routes = [
    Route("/jobs/{job_id}/tasks", export_tasks, methods=["GET"]),
    Route("/jobs/{job_id}/artifact", upload_artifact, methods=["PUT"]),
    Route("/jobs/{job_id}/csv", job_csv, methods=["GET"]),
    Route("/jobs/{job_id}/documents", post_documents, methods=["POST"]),
    Route("/jobs/{job_id}/asset", job_asset, methods=["GET"]),
    Route("/jobs/{job_id}/assets/{asset_id}", chunk_asset, methods=["GET"]),
    Route("/jobs/{job_id}/items", post_items, methods=["POST"]),
    Route("/jobs/{job_id}/upload", upload_item, methods=["PUT"]),
]
