"""Settings pages: the organization's members and their roles, and one's own API keys.

Handlers stay thin: the role rules live in AccountService, and a refused change comes back
as the same page with the service's message and its status (403, 409 or 422)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hub.http.context import hub_of
from hub.http.errors import error_message, form_error_status
from hub.services.accounts import grantable_roles, may_manage
from hub.services.errors import Conflict, Forbidden, Invalid, ServiceError
from hub.services.sessions import SignedIn
from hub.web.pages import form_text, page, redirect, render, render_once

# Errors shown on the form that caused them; NotFound goes to the plain error page (404).
_FORM_ERRORS = (Conflict, Forbidden, Invalid)


async def settings_home(_request: Request, _me: SignedIn) -> Response:
    return redirect("/settings/members")


async def _members_page(
    request: Request,
    me: SignedIn,
    *,
    error: ServiceError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    members = await hub_of(request).accounts.members(me.principal)
    return render(
        request,
        "settings/members.html",
        status_code=form_error_status(error) if error else 200,
        section="settings",
        tab="members",
        members=members,
        manageable={m.id for m in members if may_manage(me.principal, m.role)},
        roles=grantable_roles(me.principal),
        error=error_message(error) if error else None,
        values=values or {"role": "member"},
    )


async def show_members(request: Request, me: SignedIn) -> Response:
    return await _members_page(request, me)


async def add_member(request: Request, me: SignedIn) -> Response:
    form = await request.form()
    email, role, password = form_text(form, "email"), form_text(form, "role"), form.get("password")
    try:
        await hub_of(request).accounts.add_member(
            me.principal,
            email=email,
            # Not stripped: spaces are as much part of a password as any other character.
            password=password if isinstance(password, str) else "",
            role=role,
        )
    except _FORM_ERRORS as exc:
        # The password is not sent back: it would sit in the page's HTML.
        return await _members_page(request, me, error=exc, values={"email": email, "role": role})
    return redirect("/settings/members")


async def change_role(request: Request, me: SignedIn) -> Response:
    form = await request.form()
    try:
        await hub_of(request).accounts.set_role(
            me.principal, request.path_params["user_id"], form_text(form, "role")
        )
    except _FORM_ERRORS as exc:
        return await _members_page(request, me, error=exc)
    return redirect("/settings/members")


async def remove_member(request: Request, me: SignedIn) -> Response:
    try:
        await hub_of(request).accounts.remove_member(me.principal, request.path_params["user_id"])
    except _FORM_ERRORS as exc:
        return await _members_page(request, me, error=exc)
    return redirect("/settings/members")


async def _api_keys_page(
    request: Request, me: SignedIn, *, error: ServiceError | None = None, name: str = ""
) -> Response:
    keys = await hub_of(request).accounts.api_keys(me.principal)
    return render(
        request,
        "settings/api_keys.html",
        status_code=form_error_status(error) if error else 200,
        section="settings",
        tab="api-keys",
        keys=keys,
        error=error_message(error) if error else None,
        name=name,
    )


async def show_api_keys(request: Request, me: SignedIn) -> Response:
    return await _api_keys_page(request, me)


async def create_api_key(request: Request, me: SignedIn) -> Response:
    name = form_text(await request.form(), "name")
    try:
        key = await hub_of(request).accounts.create_api_key(me.principal, name=name)
    except _FORM_ERRORS as exc:
        return await _api_keys_page(request, me, error=exc, name=name)
    return render_once(
        request,
        "settings/api_key_created.html",
        section="settings",
        tab="api-keys",
        name=name,
        api_key=key,
        hub_url=str(request.base_url).rstrip("/"),
    )


async def revoke_api_key(request: Request, me: SignedIn) -> Response:
    await hub_of(request).accounts.revoke_api_key(me.principal, request.path_params["key_id"])
    return redirect("/settings/api-keys")


routes = [
    page("/settings", settings_home),
    page("/settings/members", show_members),
    page("/settings/members", add_member, methods=("POST",)),
    page("/settings/members/{user_id}/role", change_role, methods=("POST",)),
    page("/settings/members/{user_id}/remove", remove_member, methods=("POST",)),
    page("/settings/api-keys", show_api_keys),
    page("/settings/api-keys", create_api_key, methods=("POST",)),
    page("/settings/api-keys/{key_id}/revoke", revoke_api_key, methods=("POST",)),
]
