"""What every API route needs: the caller, the request body (capped), paging."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message

from hub.runtime import Hub
from hub.services.accounts import Principal
from hub.services.errors import Invalid, Unauthenticated

Model = TypeVar("Model", bound=BaseModel)


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def caller(request: Request) -> Principal:
    """The principal behind `Authorization: Bearer <api_key>`."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send an API key as 'Authorization: Bearer <api_key>'")
    return await hub_of(request).accounts.authenticate_api_key(token.strip())


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


async def json_body(request: Request, model: type[Model], *, max_bytes: int | None = None) -> Model:
    """The body validated into `model`; not JSON, or not an object, is a clear 422.

    Every JSON body is read through the cap (HUB_MAX_BODY_SIZE, or a route's own documented
    `max_bytes`): a JSON document is parsed whole, so an unbounded one is unbounded memory.
    """
    limit = hub_of(request).settings.max_body_size if max_bytes is None else max_bytes
    try:
        data: Any = await capped_request(request, limit).json()
    except (ValueError, RecursionError):
        raise Invalid(
            "request body must be JSON (and nested at most a few hundred levels)"
        ) from None
    if not isinstance(data, dict):
        raise Invalid("request body must be a JSON object")
    return model.model_validate(data)


def page_args(request: Request) -> tuple[str | None, int]:
    """(cursor, limit) from ?cursor=&limit=."""
    raw_limit = request.query_params.get("limit", "50")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise Invalid(f"limit must be an integer, got {raw_limit!r}") from None
    if not 1 <= limit <= 200:
        raise Invalid("limit must be between 1 and 200")
    return request.query_params.get("cursor") or None, limit
