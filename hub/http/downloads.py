"""The streamed responses both layers serve: an export job's file, an uploaded asset's
bytes, and a project's tasks as NDJSON."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import RedirectResponse, Response, StreamingResponse

from hub.blobs.base import content_disposition
from hub.jobs.state import StoredOrActiveJob
from hub.runtime import Hub
from hub.services.errors import NotFound
from hub.workspace.export import ExportService
from hub.workspace.views import AssetFile

_NDJSON_BUFFER = 64 * 1024


def artifact_response(hub: Hub, job: StoredOrActiveJob) -> Response:
    """The export file of a succeeded export job: a redirect to storage, or streamed."""
    artifact = (job.result or {}).get("artifact") if isinstance(job.result, dict) else None
    if job.status != "succeeded" or not artifact:
        raise NotFound(f"job {job.id} has no file to download ({job.status})")
    filename = artifact["filename"]
    content_type = artifact.get("content_type") or "application/octet-stream"
    presigned = hub.storage.presigned_get(
        artifact["key"], 600, filename=filename, content_type=content_type
    )
    if presigned:
        return RedirectResponse(presigned, status_code=307)
    return StreamingResponse(
        hub.storage.get(artifact["key"]),
        media_type=content_type,
        headers={"Content-Disposition": content_disposition(filename)},
    )


def asset_file_response(stored: AssetFile) -> Response:
    """An uploaded file's bytes, made inert."""
    headers = {
        # Served as the type sniffed at upload, never one a client claimed, and never
        # rendered as a document: an upload cannot become script on the hub's origin.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if stored.size is not None:
        headers["Content-Length"] = str(stored.size)
    if stored.filename:
        headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(stored.filename)}"
    return StreamingResponse(stored.chunks, media_type=stored.content_type, headers=headers)


async def export_response(
    exports: ExportService,
    organization_id: str,
    project_id: str,
    *,
    stages: list[str] | None,
    batches: list[str] | None,
) -> Response:
    """The matching tasks as streamed NDJSON, with their count in `X-Task-Count`."""
    # Counting first turns a missing project or an unknown stage into a proper error
    # response; once the stream starts, the status is already sent.
    count = await exports.count(organization_id, project_id, stages=stages, batches=batches)
    lines = exports.ndjson(organization_id, project_id, stages=stages, batches=batches)
    return StreamingResponse(
        lines, media_type="application/x-ndjson", headers={"X-Task-Count": str(count)}
    )
