"""Streams to store and ways to read blobs back, shared by the storage tests."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator

from hub.blobs import Storage

MiB = 1024 * 1024


class StreamBroke(Exception):
    """Raised by a test stream halfway through."""


def chunk_bytes(index: int, size: int) -> bytes:
    """Chunk `index` of a test stream: pseudo-random, so parts stored out of order show."""
    return random.Random(index).randbytes(size)


def sizes(total: int, chunk: int) -> list[int]:
    return [min(chunk, total - start) for start in range(0, total, chunk)]


async def generated(
    total: int,
    chunk: int,
    *,
    fail_after: int | None = None,
    hang_after: int | None = None,
    stuck: asyncio.Event | None = None,
) -> AsyncIterator[bytes]:
    """`total` bytes in chunks of `chunk`, made as they are consumed (never all in memory).

    `fail_after`: raise StreamBroke once that many bytes went out; `hang_after`: set `stuck`
    and wait forever once that many went out.
    """
    sent = 0
    for index, size in enumerate(sizes(total, chunk)):
        if fail_after is not None and sent >= fail_after:
            raise StreamBroke(f"broke after {sent} bytes")
        if hang_after is not None and sent >= hang_after:
            if stuck is not None:
                stuck.set()
            await asyncio.Event().wait()
        yield chunk_bytes(index, size)
        sent += size
        await asyncio.sleep(0)


def expected_digest(total: int, chunk: int) -> str:
    digest = hashlib.sha256()
    for index, size in enumerate(sizes(total, chunk)):
        digest.update(chunk_bytes(index, size))
    return digest.hexdigest()


async def from_bytes(data: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


async def read_all(storage: Storage, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.get(key)])


async def read_digest(storage: Storage, key: str) -> tuple[int, str]:
    """(size, sha256) of a blob, read as a stream."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in storage.get(key):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()
