"""Files users upload for jobs to read. Streamed into storage, never held in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator

from hub.blobs import Storage
from hub.db import Store, StoredFile
from hub.security import new_id
from hub.services.accounts import Principal
from hub.services.errors import Invalid, NotFound

MAX_FILE_SIZE = 2 * 1024**3
MAX_CONTENT_TYPE_LENGTH = 200


class FileService:
    def __init__(self, store: Store, storage: Storage) -> None:
        self._store = store
        self._storage = storage

    async def upload(
        self, principal: Principal, filename: str, content_type: str, chunks: AsyncIterator[bytes]
    ) -> StoredFile:
        filename = filename.strip().replace("/", "_").replace("\\", "_")[:500]
        if not filename:
            raise Invalid("a file needs a name: send ?filename=...")
        if len(content_type) > MAX_CONTENT_TYPE_LENGTH:
            # Checked, not left to the database: PostgreSQL refuses a longer value (a 500,
            # after the upload), SQLite would keep it.
            raise Invalid(f"a Content-Type has at most {MAX_CONTENT_TYPE_LENGTH} characters")
        file_id = new_id()
        key = f"files/{principal.organization_id}/{file_id}"
        size = await self._storage.put(
            key, _capped(chunks, MAX_FILE_SIZE), content_type=content_type
        )
        stored = StoredFile(
            id=file_id,
            organization_id=principal.organization_id,
            filename=filename,
            content_type=content_type or "application/octet-stream",
            size=size,
            storage_key=key,
            created_by=principal.user_id,
        )
        async with self._store.write() as session:
            session.add(stored)
        return stored

    async def get(self, organization_id: str, file_id: str) -> StoredFile:
        async with self._store.read() as session:
            stored = await session.get(StoredFile, file_id)
        if stored is None or stored.organization_id != organization_id:
            raise NotFound(f"file {file_id} not found")
        return stored

    def read(self, stored: StoredFile) -> AsyncIterator[bytes]:
        return self._storage.get(stored.storage_key)


async def _capped(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise Invalid(f"file is larger than the limit of {limit} bytes")
        yield chunk
