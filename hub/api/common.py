"""What every API route needs besides the shared HTTP layer (hub/http): the caller, paging."""

from __future__ import annotations

from starlette.requests import Request

from hub.http.context import hub_of
from hub.services.accounts import Principal
from hub.services.errors import Invalid, Unauthenticated


def bearer_token(request: Request, *, missing: str) -> str:
    """The token of `Authorization: Bearer <token>`; `missing` says what to send without one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(missing)
    return token.strip()


async def caller(request: Request) -> Principal:
    """The principal behind `Authorization: Bearer <api_key>`."""
    token = bearer_token(request, missing="send an API key as 'Authorization: Bearer <api_key>'")
    return await hub_of(request).accounts.authenticate_api_key(token)


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
