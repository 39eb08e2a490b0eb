"""Reading a request's body: capped as it arrives (413 past the cap, declared or not), as a
JSON model, as an uploaded file part's chunks, or stored whole as a job file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message

from hub.blobs.base import CHUNK_SIZE
from hub.db import StoredFile
from hub.http.context import hub_of
from hub.services.accounts import Principal
from hub.services.errors import Invalid

Model = TypeVar("Model", bound=BaseModel)

MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
"""A whole multipart image upload (REST or dashboard); each file is also capped at
`MAX_IMAGE_BYTES`."""
MAX_FILES_PER_UPLOAD = 100


def capped_request(request: Request, max_bytes: int) -> Request:
    """The request with its body refused (413) past `max_bytes`, declared or not."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, f"request body too large; the limit is {max_bytes} bytes")
    receive = request.receive
    received = 0

    async def capped_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise HTTPException(413, f"request body too large; the limit is {max_bytes} bytes")
        return message

    return Request(request.scope, capped_receive)


async def json_body(
    request: Request,
    model: type[Model],
    *,
    max_bytes: int | None = None,
    if_empty: Model | None = None,
) -> Model:
    """The body validated into `model`; not JSON, or not an object, is a clear 422. With
    `if_empty`, an empty body (or only whitespace) is that instead.

    Every JSON body is read through the cap (HUB_MAX_BODY_SIZE, or a route's own documented
    `max_bytes`): a JSON document is parsed whole, so an unbounded one is unbounded memory.
    """
    limit = hub_of(request).settings.max_body_size if max_bytes is None else max_bytes
    try:
        raw = await capped_request(request, limit).body()
        if if_empty is not None and not raw.strip():
            return if_empty
        data: Any = json.loads(raw)
    except (ValueError, RecursionError):
        raise Invalid(
            "request body must be JSON (and nested at most a few hundred levels)"
        ) from None
    if not isinstance(data, dict):
        raise Invalid("request body must be a JSON object")
    return model.model_validate(data)


async def upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    """A spooled file part, read in storage-sized chunks rather than whole."""
    while chunk := await upload.read(CHUNK_SIZE):
        yield chunk


async def body_as_file(request: Request, principal: Principal) -> StoredFile:
    """The raw body stored as a file for jobs to read, named by `?filename=`, typed by its
    Content-Type (`POST /api/v1/files`, and the run page's CSV upload)."""
    return await hub_of(request).files.upload(
        principal,
        request.query_params.get("filename", ""),
        request.headers.get("content-type", ""),
        request.stream(),
    )
