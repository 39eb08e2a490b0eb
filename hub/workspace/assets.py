"""Assets: images by URL and markdown created in bulk, images uploaded one at a time (each
with its task), an upload's bytes read back, and the assets a job created removed again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ango_plugins_sdk.protocol.images import ImageSniffer
from ango_plugins_sdk.protocol.workspace import AssetIn, AssetType
from hub.blobs import Storage
from hub.db import Store, utcnow
from hub.db.workspace_tables import AssetRow
from hub.security import new_id
from hub.services.errors import Invalid, NotFound
from hub.workspace import queries, rows, task_rows
from hub.workspace.ids import sequential_ids
from hub.workspace.views import AssetFile, UploadedAsset

MAX_IMAGE_BYTES = 200 * 1024 * 1024
UNKNOWN_TYPE = "application/octet-stream"


class AssetService:
    def __init__(self, store: Store, storage: Storage, asset_url: rows.AssetUrl) -> None:
        self._store = store
        self._storage = storage
        self._asset_url = asset_url

    async def create_many(
        self,
        organization_id: str,
        project_id: str,
        assets: Sequence[AssetIn],
        *,
        dedupe: bool = False,
        created_by_job: str | None = None,
    ) -> tuple[int, int]:
        """Create the assets, one task each in stage "todo", in bulk; returns (created, skipped).

        With `dedupe`, an asset whose external_id is already in the project, or earlier in
        `assets`, is skipped. Assets without an external_id are never skipped. The check and
        the inserts share one write transaction holding the project's row lock, so concurrent
        calls cannot both create the same external_id.
        """
        async with self._store.write() as session:
            await queries.project_row(session, organization_id, project_id, lock=dedupe)
            wanted = list(assets)
            if dedupe:
                wanted = await _without_duplicates(session, project_id, wanted)
            now = utcnow()
            asset_ids = sequential_ids(len(wanted))
            if wanted:
                await session.execute(
                    insert(AssetRow),
                    [
                        {
                            "id": asset_id,
                            "project_id": project_id,
                            "organization_id": organization_id,
                            "type": (
                                AssetType.MARKDOWN if a.markdown is not None else AssetType.IMAGE
                            ).value,
                            "url": a.url,
                            "external_id": a.external_id,
                            "width": a.width,
                            "height": a.height,
                            "markdown": a.markdown,
                            "metadata_": a.metadata,
                            "created_by_job": created_by_job,
                            "created_at": now,
                        }
                        for a, asset_id in zip(wanted, asset_ids, strict=True)
                    ],
                )
            await task_rows.insert_tasks(
                session, project_id, asset_ids, [a.batch for a in wanted], now
            )
        return len(wanted), len(assets) - len(wanted)

    async def upload_image(
        self,
        organization_id: str,
        project_id: str,
        filename: str | None,
        chunks: AsyncIterator[bytes],
        *,
        external_id: str | None = None,
        batch: str | None = None,
        created_by_job: str | None = None,
    ) -> UploadedAsset:
        """Store an uploaded image (streamed to storage, never whole in memory) as a new asset
        with its task. Width and height come from the PNG or JPEG header when there is one."""
        if external_id is not None and not 0 < len(external_id) <= 500:
            raise Invalid("external_id must be 1 to 500 characters")
        if batch is not None and not 0 < len(batch) <= 200:
            raise Invalid("batch must be 1 to 200 characters")
        async with self._store.read() as session:
            await queries.project_row(session, organization_id, project_id)
        asset_id = new_id()
        key = f"assets/{project_id}/{asset_id}"
        sniffer = ImageSniffer()
        first = await anext(chunks, b"")
        sniffer.feed(first)  # the type is known from the first bytes; storage may record it
        size = await self._storage.put(
            key, _sniffed(first, chunks, sniffer), content_type=sniffer.content_type or UNKNOWN_TYPE
        )
        try:
            if size == 0:
                raise Invalid("the uploaded file is empty")
            now = utcnow()
            metadata: dict[str, Any] = {"filename": filename} if filename else {}
            row = AssetRow(
                id=asset_id,
                project_id=project_id,
                organization_id=organization_id,
                type=AssetType.IMAGE.value,
                storage_key=key,
                content_type=sniffer.content_type or UNKNOWN_TYPE,  # the header has streamed by
                size=size,
                external_id=external_id,
                width=sniffer.width,
                height=sniffer.height,
                metadata_=metadata,
                created_by_job=created_by_job,
                created_at=now,
            )
            async with self._store.write() as session:
                await queries.project_row(session, organization_id, project_id)
                session.add(row)
                await session.flush()
                (task_id,) = await task_rows.insert_tasks(
                    session, project_id, [asset_id], [batch], now
                )
        except BaseException:
            await self._storage.delete(key)
            raise
        return UploadedAsset(asset=rows.asset(row, self._asset_url), task_id=task_id)

    async def file(self, organization_id: str, asset_id: str) -> AssetFile:
        """An uploaded asset's bytes; NotFound for another organization's or a URL asset."""
        async with self._store.read() as session:
            row = await session.get(AssetRow, asset_id)
        if row is None or row.organization_id != organization_id:
            raise NotFound(f"asset {asset_id} not found")
        if row.storage_key is None:
            raise NotFound(f"asset {asset_id} has no uploaded file; fetch it from its url")
        return AssetFile(
            asset_id=row.id,
            content_type=row.content_type or UNKNOWN_TYPE,
            size=row.size,
            filename=row.metadata_.get("filename") if row.metadata_ else None,
            chunks=self._storage.get(row.storage_key),
        )

    async def has_external_id(
        self, organization_id: str, project_id: str, external_id: str
    ) -> bool:
        async with self._store.read() as session:
            found = await session.scalar(
                select(AssetRow.id).where(
                    AssetRow.organization_id == organization_id,
                    AssetRow.project_id == project_id,
                    AssetRow.external_id == external_id,
                )
            )
        return found is not None

    async def delete_created_by(
        self, organization_id: str, project_id: str, job_id: str, *, attempts: range
    ) -> int:
        """Remove the assets (and their tasks) that the given attempts of a job created, so
        a re-run does not duplicate them. Returns how many went."""
        doomed = select(AssetRow.id).where(
            AssetRow.organization_id == organization_id,
            AssetRow.project_id == project_id,
            AssetRow.created_by_job.in_([f"{job_id}:{attempt}" for attempt in attempts]),
        )
        async with self._store.write() as session:
            asset_ids = list(await session.scalars(doomed))
            for start in range(0, len(asset_ids), queries.LOOKUP_CHUNK):
                chunk = asset_ids[start : start + queries.LOOKUP_CHUNK]
                await task_rows.delete_tasks_of(session, chunk)
                await session.execute(delete(AssetRow).where(AssetRow.id.in_(chunk)))
        return len(asset_ids)


async def _sniffed(
    first: bytes, rest: AsyncIterator[bytes], sniffer: ImageSniffer
) -> AsyncIterator[bytes]:
    """The upload's chunks, fed to `sniffer` on their way, refused past `MAX_IMAGE_BYTES`."""
    size = len(first)
    yield first
    async for chunk in rest:
        size += len(chunk)
        if size > MAX_IMAGE_BYTES:
            raise Invalid(f"file too large; the limit is {MAX_IMAGE_BYTES} bytes")
        sniffer.feed(chunk)
        yield chunk


async def _without_duplicates(
    session: AsyncSession, project_id: str, assets: list[AssetIn]
) -> list[AssetIn]:
    """`assets` less those whose external_id is already in the project or earlier in the list."""
    ids = list({a.external_id for a in assets if a.external_id is not None})
    seen: set[str] = set()
    for start in range(0, len(ids), queries.LOOKUP_CHUNK):
        chunk = ids[start : start + queries.LOOKUP_CHUNK]
        found = await session.scalars(
            select(AssetRow.external_id)
            .where(AssetRow.project_id == project_id, AssetRow.external_id.in_(chunk))
            .distinct()
        )
        seen.update(external_id for external_id in found if external_id is not None)
    kept = []
    for asset in assets:
        if asset.external_id is not None:
            if asset.external_id in seen:
                continue
            seen.add(asset.external_id)
        kept.append(asset)
    return kept
