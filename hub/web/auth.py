"""Sign in and sign out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hub.http.context import hub_of
from hub.services.errors import TooManyRequests, Unauthenticated
from hub.services.sessions import SESSION_LIFETIME, SignedIn
from hub.web.pages import SESSION_COOKIE, form_text, page, public_page, redirect, render, set_cookie


def _safe_next(target: str) -> str:
    """Only a path on this hub: never an open redirect to another site."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def signin_form(request: Request) -> Response:
    if getattr(request.state, "me", None) is not None:
        return redirect(_safe_next(request.query_params.get("next", "/")))
    return render(request, "signin.html", next=request.query_params.get("next", "/"))


async def signin(request: Request) -> Response:
    form = await request.form()
    email, password = form_text(form, "email"), str(form.get("password") or "")
    target = _safe_next(form_text(form, "next", "/"))
    hub = hub_of(request)
    try:
        principal = await hub.accounts.authenticate_password(email, password)
    except (Unauthenticated, TooManyRequests) as exc:
        status = 429 if isinstance(exc, TooManyRequests) else 401
        return render(
            request, "signin.html", status_code=status, error=exc.message, email=email, next=target
        )
    token = await hub.sessions.start(principal)
    response = redirect(target)
    set_cookie(
        response, request, SESSION_COOKIE, token, max_age=int(SESSION_LIFETIME.total_seconds())
    )
    return response


async def signout(request: Request, _me: SignedIn) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await hub_of(request).sessions.end(token)
    response = redirect("/signin")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


routes = [
    public_page("/signin", signin_form),
    public_page("/signin", signin, methods=("POST",)),
    page("/signout", signout, methods=("POST",)),
]
