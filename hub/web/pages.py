"""What every dashboard page needs: who is signed in, CSRF on every form, templates.

`page(...)` wraps a handler into a route. It resolves the session cookie (redirecting to
the sign-in page when there is none), refuses any POST whose CSRF token does not match,
and turns a service error into an HTML error page with the matching status, so page
handlers stay as thin as the REST routes: parse the form, call a service, render.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from hub.http.bodies import capped_request
from hub.http.context import hub_of
from hub.http.errors import FORM_ERRORS, error_message, form_error_status
from hub.services.rendering import render_markdown
from hub.services.sessions import SignedIn
from hub.web.csrf import CsrfTokens

SESSION_COOKIE = "hub_session"
ANON_COOKIE = "hub_anon"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["markdown"] = lambda text: Markup(render_markdown(text or ""))  # noqa: S704 (sanitized by nh3)
templates.env.filters["timestamp"] = lambda t: (
    datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S") if t else ""
)
templates.env.globals["static_version"] = secrets.token_hex(4)  # cache-busts on restart


def csrf_of(request: Request) -> CsrfTokens:
    tokens: CsrfTokens = request.app.state.csrf
    return tokens


def _seed(request: Request) -> str:
    """What the CSRF token is bound to: the session, or before sign-in the anonymous cookie
    (made on first sight and set on the response by `_with_anon_cookie`)."""
    session = request.cookies.get(SESSION_COOKIE)
    if session and getattr(request.state, "me", None) is not None:
        return session
    anon = request.cookies.get(ANON_COOKIE) or getattr(request.state, "new_anon", None)
    if not anon:
        anon = request.state.new_anon = secrets.token_urlsafe(24)
    return anon


def csrf_token(request: Request) -> str:
    return csrf_of(request).token_for(_seed(request))


def secure_cookies(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> Response:
    me: SignedIn | None = getattr(request.state, "me", None)
    response = templates.TemplateResponse(
        request,
        template,
        {"me": me, "csrf_token": csrf_token(request), **context},
        status_code=status_code,
        headers=SECURITY_HEADERS,
    )
    return _with_anon_cookie(request, response)


# Scripts only from our own files, so even markup that slipped past escaping could not run;
# images from anywhere (assets and banners live on other hosts); no framing (clickjacking).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src * data: blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render_once(request: Request, template: str, **context: Any) -> Response:
    """A page showing a secret (plugin secret, API key) this one time: never cached, never
    kept in the browser's history."""
    response = render(request, template, **context)
    response.headers["Cache-Control"] = "no-store"
    return response


def _with_anon_cookie(request: Request, response: Response) -> Response:
    new_anon = getattr(request.state, "new_anon", None)
    if new_anon:
        set_cookie(response, request, ANON_COOKIE, new_anon, max_age=7 * 24 * 3600)
    return response


def redirect(url: str) -> Response:
    """After a form: see-other, so a reload does not post it again."""
    return RedirectResponse(url, status_code=303)


def form_text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value.strip() if isinstance(value, str) else default


Handler = Callable[[Request, SignedIn], Awaitable[Response]]
AnonHandler = Callable[[Request], Awaitable[Response]]


async def signed_in(request: Request) -> SignedIn | None:
    token = request.cookies.get(SESSION_COOKIE)
    me = await hub_of(request).sessions.resolve(token) if token else None
    request.state.me = me
    return me


async def _csrf_ok(request: Request, *, header_only: bool) -> bool:
    """The token from the `X-CSRF-Token` header, or else the form's `csrf_token` field.
    Routes that read the body themselves (JSON, a raw file) take the header only: reading
    the body as a form here would leave nothing for them."""
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and not header_only:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    return csrf_of(request).is_valid(_seed(request), presented)


def _refused(request: Request) -> Response:
    return render(
        request,
        "error.html",
        status_code=403,
        title="Form refused",
        message="This form's security token is missing or stale. Reload the page and try again.",
    )


FORM_LIMIT = 1024 * 1024
"""The most a POST may send unless its route says more (text fields; file routes say more).
Counted as the body arrives, before the CSRF check parses it."""
Limit = int | Callable[[], int]


async def _guarded(
    request: Request,
    call: Callable[[Request], Awaitable[Response]],
    *,
    max_body: Limit,
    csrf_header_only: bool,
) -> Response:
    """Cap the body and check the CSRF token of an unsafe request, then `call` it; a
    service error or an oversized body becomes an HTML error page. Spooled upload files
    are closed however it ends."""
    try:
        if request.method in _UNSAFE:
            request = capped_request(request, max_body() if callable(max_body) else max_body)
            if not await _csrf_ok(request, header_only=csrf_header_only):
                return _refused(request)
        return await call(request)
    except FORM_ERRORS as exc:
        status = form_error_status(exc)
        return render(
            request,
            "error.html",
            status_code=status,
            title="Not found" if status == 404 else "Could not do that",
            message=error_message(exc),
        )
    except HTTPException as exc:
        if exc.status_code != 413:
            raise
        return render(request, "error.html", status_code=413, title="Too large", message=exc.detail)
    finally:
        await request.close()


def page(
    path: str,
    handler: Handler,
    *,
    methods: tuple[str, ...] = ("GET",),
    max_body: Limit = FORM_LIMIT,
    csrf_header_only: bool = False,
) -> Route:
    """A route for signed-in people only."""

    async def endpoint(request: Request) -> Response:
        me = await signed_in(request)
        if me is None:
            if request.method == "GET":
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return redirect(f"/signin?next={quote(target, safe='')}")
            return render(
                request,
                "error.html",
                status_code=401,
                title="Signed out",
                message="Your session ended. Sign in again.",
            )
        return await _guarded(
            request,
            lambda checked: handler(checked, me),
            max_body=max_body,
            csrf_header_only=csrf_header_only,
        )

    return Route(path, endpoint, methods=list(methods))


def public_page(path: str, handler: AnonHandler, *, methods: tuple[str, ...] = ("GET",)) -> Route:
    """A route anyone may open (sign-in); its forms are CSRF-checked all the same."""

    async def endpoint(request: Request) -> Response:
        await signed_in(request)
        return await _guarded(request, handler, max_body=FORM_LIMIT, csrf_header_only=False)

    return Route(path, endpoint, methods=list(methods))
