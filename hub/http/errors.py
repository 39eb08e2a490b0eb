"""How errors leave the hub over HTTP: a domain error's status; the REST API's error body
`{"error": {"code", "message"}}`, which the app's exception handlers answer every unhandled
error with; and a dashboard form's error (its status and the one line the form shows)."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from hub.http.responses import JSONResponse
from hub.jobs.committer import Fenced
from hub.services.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceError,
    TooManyRequests,
    Unauthenticated,
)

log = logging.getLogger("hub.http")

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
    """The HTTP status for a domain error."""
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


def _field(error: ErrorDetails, whole: str) -> str:
    """Where a validation error is: its dotted location, or `whole` when it is the whole
    body or form."""
    return ".".join(str(part) for part in error["loc"]) or whole


async def on_service_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return error_response(status_of(exc), exc.code, exc.message)


async def on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    problems = [
        {"field": _field(err, "(body)"), "message": err["msg"]}
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


async def on_fenced(_request: Request, exc: Exception) -> Response:
    """The node stopped dispatching during the request: nothing of it was written."""
    return error_response(
        503,
        "unavailable",
        "the job dispatcher moved to another hub node; nothing was changed; retry",
        headers={"Retry-After": "1"},
    )


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error; the hub's log has the details")


EXCEPTION_HANDLERS = {
    Fenced: on_fenced,
    ServiceError: on_service_error,
    ValidationError: on_validation_error,
    HTTPException: on_http_error,
    Exception: on_unexpected_error,
}


FORM_ERRORS = (ServiceError, ValidationError)
"""What a form handler shows on the form itself (with what was typed) rather than as an
error page."""


def form_error_status(exc: ServiceError | ValidationError) -> int:
    """The status of a page showing a form error: the domain error's, or 422 for a form
    that did not validate."""
    return status_of(exc) if isinstance(exc, ServiceError) else 422


def error_message(exc: Exception) -> str:
    """One line for a form's error banner."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{_field(e, 'form')}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)[:5]
        )
    if isinstance(exc, ServiceError):
        return exc.message
    return str(exc)
