"""What the hub needs from blob storage. Everything streams: nothing large is held in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol
from urllib.parse import quote

CHUNK_SIZE = 256 * 1024


class BlobNotFound(Exception):
    """No blob under that key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no stored file {key!r}")
        self.key = key


class Storage(Protocol):
    async def put(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str = "") -> int:
        """Store the stream under `key` (replacing any blob there); returns its size in bytes.

        The blob appears whole or not at all: a failed or interrupted upload leaves nothing.
        """
        ...

    def get(self, key: str) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks; raises `BlobNotFound` on first iteration if absent."""
        ...

    async def size(self, key: str) -> int:
        """The blob's size in bytes; raises `BlobNotFound`."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob if it exists."""
        ...

    def presigned_get(
        self, key: str, expires_s: int, *, filename: str = "", content_type: str = ""
    ) -> str | None:
        """A URL anyone may GET the blob from until it expires, or None if unsupported.
        With `filename`, the response names it as the download's file name."""
        ...

    def presigned_put(self, key: str, expires_s: int) -> str | None:
        """A URL to PUT the blob to directly, or None if uploads must go through the hub."""
        ...

    async def close(self) -> None: ...


def content_disposition(filename: str) -> str:
    """`attachment` with the name encoded per RFC 6266/5987, safe for any characters."""
    return f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
