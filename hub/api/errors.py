"""Every error leaves the API as {"error": {"code", "message"}} with a fitting status."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.services.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceError,
    TooManyRequests,
    Unauthenticated,
)

log = logging.getLogger("hub.api")

_STATUS = {
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Unauthenticated: 401,
    Forbidden: 403,
    TooManyRequests: 429,
}
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def status_of(exc: ServiceError) -> int:
    """The HTTP status for a domain error (the dashboard uses it too)."""
    return _STATUS.get(type(exc), 400)


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


async def on_service_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return error_response(status_of(exc), exc.code, exc.message)


async def on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    problems = [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    return error_response(422, "invalid", f"invalid request: {summary}", problems=problems)


async def on_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(
        exc.status_code,
        _HTTP_CODES.get(exc.status_code, "http_error"),
        str(exc.detail),
        headers=dict(exc.headers or {}),  # e.g. Allow on a 405
    )


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error; the hub's log has the details")


EXCEPTION_HANDLERS = {
    ServiceError: on_service_error,
    ValidationError: on_validation_error,
    HTTPException: on_http_error,
    Exception: on_unexpected_error,
}
