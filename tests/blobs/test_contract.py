"""The Storage contract, run against LocalStorage and S3Storage (moto server) alike."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from hub.blobs import BlobNotFound, S3Storage, Storage

from .conftest import BUCKET, MotoServer
from .helpers import (
    MiB,
    StreamBroke,
    expected_digest,
    from_bytes,
    generated,
    read_all,
    read_digest,
)


@pytest.fixture
def open_uploads(storage: Storage, request: pytest.FixtureRequest) -> Callable[[], list[Any]]:
    """The storage's multipart uploads in progress (none for a local directory)."""
    if not isinstance(storage, S3Storage):
        return list
    server: MotoServer = request.getfixturevalue("moto_server")

    def listing() -> list[Any]:
        response = server.client.list_multipart_uploads(Bucket=BUCKET, Prefix=storage.prefix)
        return list(response.get("Uploads", []))

    return listing


@pytest.mark.parametrize("size", [0, 1, 1000, 256 * 1024 + 1], ids=lambda n: f"{n}B")
async def test_small_blobs_round_trip(storage: Storage, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert await storage.put("small/blob.bin", from_bytes(data)) == size
    assert await read_all(storage, "small/blob.bin") == data
    assert await storage.size("small/blob.bin") == size


@pytest.mark.parametrize(
    ("total", "chunk"),
    [
        pytest.param(12 * MiB, MiB, id="12MiB-in-1MiB-chunks"),
        pytest.param(12 * MiB + 7, 1_000_003, id="odd-sizes"),
        pytest.param(9 * MiB, 9 * MiB, id="one-big-chunk"),
    ],
)
async def test_multipart_sizes_round_trip(storage: Storage, total: int, chunk: int) -> None:
    assert await storage.put("big.bin", generated(total, chunk)) == total
    assert await storage.size("big.bin") == total
    assert await read_digest(storage, "big.bin") == (total, expected_digest(total, chunk))


async def test_get_streams_in_chunks(storage: Storage) -> None:
    await storage.put("big.bin", generated(3 * MiB, MiB))
    chunks = [len(chunk) async for chunk in storage.get("big.bin")]
    assert sum(chunks) == 3 * MiB
    assert len(chunks) > 1
    assert max(chunks) <= MiB


async def test_overwrite_replaces_the_blob(storage: Storage) -> None:
    await storage.put("k", from_bytes(b"first version, longer"))
    assert await storage.put("k", from_bytes(b"second")) == 6
    assert await read_all(storage, "k") == b"second"
    assert await storage.size("k") == 6


async def test_missing_blob_raises_blob_not_found(storage: Storage) -> None:
    stream = storage.get("no/such/blob")
    with pytest.raises(BlobNotFound) as raised:
        await anext(aiter(stream))
    assert raised.value.key == "no/such/blob"
    with pytest.raises(BlobNotFound):
        await storage.size("no/such/blob")


async def test_delete_is_idempotent(storage: Storage) -> None:
    await storage.delete("never-stored")
    await storage.put("doomed", from_bytes(b"bye"))
    await storage.delete("doomed")
    with pytest.raises(BlobNotFound):
        await storage.size("doomed")
    with pytest.raises(BlobNotFound):
        await read_all(storage, "doomed")
    await storage.delete("doomed")


async def test_nested_keys_are_separate_blobs(storage: Storage) -> None:
    await storage.put("a/b/c.txt", from_bytes(b"deep"))
    await storage.put("a/b.txt", from_bytes(b"shallow"))
    assert await read_all(storage, "a/b/c.txt") == b"deep"
    assert await read_all(storage, "a/b.txt") == b"shallow"


@pytest.mark.parametrize(
    "fail_after",
    [pytest.param(100 * 1024, id="before-one-part"), pytest.param(12 * MiB, id="halfway")],
)
async def test_a_failing_stream_leaves_no_blob(
    storage: Storage, open_uploads: Callable[[], list[Any]], fail_after: int
) -> None:
    with pytest.raises(StreamBroke):
        await storage.put("broken", generated(24 * MiB, MiB, fail_after=fail_after))
    with pytest.raises(BlobNotFound):
        await storage.size("broken")
    with pytest.raises(BlobNotFound):
        await read_all(storage, "broken")
    assert open_uploads() == []


async def test_a_failing_overwrite_keeps_the_old_blob(
    storage: Storage, open_uploads: Callable[[], list[Any]]
) -> None:
    await storage.put("kept", from_bytes(b"old and whole"))
    with pytest.raises(StreamBroke):
        await storage.put("kept", generated(24 * MiB, MiB, fail_after=10 * MiB))
    assert await read_all(storage, "kept") == b"old and whole"
    assert open_uploads() == []


@pytest.mark.parametrize(
    "hang_after",
    [pytest.param(MiB, id="before-one-part"), pytest.param(10 * MiB, id="after-a-part")],
)
async def test_a_cancelled_upload_leaves_no_blob(
    storage: Storage, open_uploads: Callable[[], list[Any]], hang_after: int
) -> None:
    stuck = asyncio.Event()
    upload = asyncio.create_task(
        storage.put("cancelled", generated(24 * MiB, MiB, hang_after=hang_after, stuck=stuck))
    )
    # Parts upload before the next chunk is read, so once the stream is stuck every full part
    # before that point is stored (after-a-part: one multipart upload with one part open).
    await asyncio.wait_for(stuck.wait(), timeout=10)
    if isinstance(storage, S3Storage) and hang_after > storage.part_size:
        assert len(open_uploads()) == 1
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload
    with pytest.raises(BlobNotFound):
        await storage.size("cancelled")
    assert open_uploads() == []


async def test_put_streams_without_holding_the_blob(
    storage: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    """64 MiB from a generator: the peak of Python allocations stays far below the size."""
    total = 64 * MiB
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        assert await storage.put("huge.bin", generated(total, MiB)) == total
        put_peak = tracemalloc.get_traced_memory()[1] - baseline
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        size, digest = await read_digest(storage, "huge.bin")
        get_peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    with capsys.disabled():
        name = type(storage).__name__
        print(f"\n{name}: 64 MiB put peak {put_peak / MiB:.1f} MiB, get {get_peak / MiB:.1f} MiB")
    assert (size, digest) == (total, expected_digest(total, MiB))
    assert put_peak < 16 * MiB
    assert get_peak < 4 * MiB


async def test_a_small_put_holds_only_its_own_bytes(storage: Storage) -> None:
    """Uploaded images are mostly small and many at once: no part-sized buffer for them."""
    await storage.put("warm-up", from_bytes(b"x"))  # first-use allocations are not the blob's
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        assert await storage.put("small", generated(256 * 1024, 64 * 1024)) == 256 * 1024
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert peak < 2 * MiB


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/abs", "", "../../etc/passwd"])
async def test_keys_escaping_the_root_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        await storage.put(key, from_bytes(b"nope"))
    with pytest.raises(ValueError, match="invalid storage key"):
        await storage.size(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        await storage.delete(key)
