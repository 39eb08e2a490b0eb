"""Adding assets to a project (image uploads, images by URL, a markdown document) and
serving uploaded images to the signed-in browser."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from ango_plugins_sdk.protocol import JobType
from ango_plugins_sdk.protocol.workspace import Asset, AssetIn
from hub.http.bodies import MAX_FILES_PER_UPLOAD, MAX_UPLOAD_BYTES, upload_chunks
from hub.http.context import hub_of
from hub.http.downloads import asset_file_response
from hub.http.errors import error_message, form_error_status
from hub.paths import asset_file_path
from hub.services.errors import Invalid, ServiceError
from hub.services.sessions import SignedIn
from hub.web.pages import form_text, page, redirect, render
from hub.workspace.requests import MAX_ASSETS_PER_REQUEST


def image_src(asset: Asset) -> str | None:
    """Where the browser loads an image from: the dashboard's copy of the API's file route
    for uploads (the API's needs an API key), else the image's own URL."""
    if asset.url == asset_file_path(asset.id):
        return f"/assets/{asset.id}/file"
    return asset.url


async def _assets_page(
    request: Request,
    me: SignedIn,
    *,
    form: FormData | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    hub = hub_of(request)
    project = await hub.workspace.projects.get(me.principal, request.path_params["project_id"])
    plugins = await hub.plugins.usable_plugins(me.principal.organization_id)
    values: dict[str, Any] = {k: form_text(form, k) for k in form} if form is not None else {}
    return render(
        request,
        "projects/assets.html",
        status_code=status_code,
        section="projects",
        project=project,
        values=values,
        error=error,
        max_files=MAX_FILES_PER_UPLOAD,
        max_urls=MAX_ASSETS_PER_REQUEST,
        explorers=[p for p in plugins if p.type == JobType.FILE_EXPLORER],
    )


async def new_assets(request: Request, me: SignedIn) -> Response:
    return await _assets_page(request, me)


async def upload_images(request: Request, me: SignedIn) -> Response:
    workspace = hub_of(request).workspace
    project_id = request.path_params["project_id"]
    await workspace.projects.get(me.principal, project_id)  # another organization's: 404
    form = await request.form()
    added = 0
    try:
        # A file input left empty still sends one part, with no file name.
        uploads = [
            part for part in form.getlist("file") if isinstance(part, UploadFile) and part.filename
        ]
        if not uploads:
            raise Invalid("choose one or more images to upload")
        if len(uploads) > MAX_FILES_PER_UPLOAD:
            raise Invalid(f"upload at most {MAX_FILES_PER_UPLOAD} files at a time")
        batch = form_text(form, "batch") or None
        for upload in uploads:
            try:
                await workspace.assets.upload_image(
                    me.principal.organization_id,
                    project_id,
                    upload.filename,
                    upload_chunks(upload),
                    batch=batch,
                )
            except ServiceError as exc:
                kept = f" ({added} earlier file(s) were added)" if added else ""
                raise Invalid(f"{upload.filename}: {exc.message}{kept}") from None
            added += 1
    except Invalid as exc:
        return await _assets_page(
            request, me, form=form, error=exc.message, status_code=form_error_status(exc)
        )
    return redirect(f"/projects/{project_id}?added={added}")


async def add_image_urls(request: Request, me: SignedIn) -> Response:
    form = await request.form()
    batch = form_text(form, "batch") or None
    urls = [line.strip() for line in form_text(form, "urls").splitlines() if line.strip()]
    return await _create(request, me, form, [{"url": url, "batch": batch} for url in urls])


async def add_markdown(request: Request, me: SignedIn) -> Response:
    form = await request.form()
    markdown = str(form.get("markdown") or "")  # as typed: markdown is stored verbatim
    asset = {
        "markdown": markdown,
        "external_id": form_text(form, "external_id") or None,
        "batch": form_text(form, "batch") or None,
    }
    return await _create(request, me, form, [asset] if markdown.strip() else [])


async def _create(
    request: Request, me: SignedIn, form: FormData, assets: list[dict[str, Any]]
) -> Response:
    project_id = request.path_params["project_id"]
    try:
        if not assets:
            raise Invalid("nothing to add: the form is empty")
        if len(assets) > MAX_ASSETS_PER_REQUEST:
            raise Invalid(f"add at most {MAX_ASSETS_PER_REQUEST} assets at a time")
        checked = [AssetIn.model_validate(a) for a in assets]
        created, _ = await hub_of(request).workspace.assets.create_many(
            me.principal.organization_id, project_id, checked
        )
    except (Invalid, ValidationError) as exc:
        return await _assets_page(
            request, me, form=form, error=error_message(exc), status_code=form_error_status(exc)
        )
    return redirect(f"/projects/{project_id}?added={created}")


async def asset_file(request: Request, me: SignedIn) -> Response:
    stored = await hub_of(request).workspace.assets.file(
        me.principal.organization_id, request.path_params["asset_id"]
    )
    return asset_file_response(stored)


routes = [
    page("/projects/{project_id}/assets/new", new_assets),
    # Read at request time: tests lower the cap.
    page(
        "/projects/{project_id}/assets/upload",
        upload_images,
        methods=("POST",),
        max_body=lambda: MAX_UPLOAD_BYTES,
    ),
    page("/projects/{project_id}/assets/urls", add_image_urls, methods=("POST",)),
    page("/projects/{project_id}/assets/markdown", add_markdown, methods=("POST",)),
    page("/assets/{asset_id}/file", asset_file),
]
