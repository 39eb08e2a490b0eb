"""What only S3Storage does: presigned URLs, where keys land in the bucket, content types,
part sizing, and aborting an upload cancelled while a part is on its way."""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hub.blobs import LocalStorage, S3Storage, storage_from_url
from hub.blobs.s3 import DEFAULT_PART_SIZE, MAX_PART_SIZE, MIN_PART_SIZE

from .conftest import BUCKET, MotoServer
from .helpers import MiB, StreamBroke, expected_digest, from_bytes, generated, read_all, read_digest


def http(method: str, url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) only
    if data is not None:
        # urllib's default `application/x-www-form-urlencoded` makes moto's server (werkzeug)
        # parse the body as a form and store an empty object; S3 itself would not care.
        request.add_header("Content-Type", "application/octet-stream")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, response.read()


async def test_presigned_put_then_get(s3_storage: S3Storage) -> None:
    url = s3_storage.presigned_put("uploads/report.csv", 60)
    assert url is not None
    assert url.startswith("http://127.0.0.1:")
    assert "X-Amz-Signature=" in url
    assert "X-Amz-Expires=60" in url
    payload = b"a,b\n1,2\n" * 1000
    status, _ = await asyncio.to_thread(http, "PUT", url, payload)
    assert status == 200
    assert await read_all(s3_storage, "uploads/report.csv") == payload
    assert await s3_storage.size("uploads/report.csv") == len(payload)


async def test_presigned_get(s3_storage: S3Storage) -> None:
    await s3_storage.put("exports/coco.json", from_bytes(b'{"images": []}'))
    url = s3_storage.presigned_get("exports/coco.json", 300)
    assert url is not None
    status, body = await asyncio.to_thread(http, "GET", url)
    assert (status, body) == (200, b'{"images": []}')


async def test_local_storage_has_no_presigned_urls(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("k", from_bytes(b"v"))
    assert storage.presigned_get("k", 60) is None
    assert storage.presigned_put("k", 60) is None


@pytest.mark.parametrize("total", [MiB, 9 * MiB], ids=["single", "multipart"])
async def test_keys_land_under_the_prefix_with_their_content_type(
    s3_storage: S3Storage, moto_server: MotoServer, s3_prefix: str, total: int
) -> None:
    await s3_storage.put("a/b.csv", generated(total, MiB), content_type="text/csv")
    head = moto_server.client.head_object(Bucket=BUCKET, Key=f"{s3_prefix}/a/b.csv")
    assert head["ContentLength"] == total
    assert head["ContentType"] == "text/csv"
    listing = moto_server.client.list_objects_v2(Bucket=BUCKET, Prefix=f"{s3_prefix}/")
    assert [item["Key"] for item in listing.get("Contents", [])] == [f"{s3_prefix}/a/b.csv"]


@pytest.mark.usefixtures("aws_credentials")
def test_part_sizes() -> None:
    storage = S3Storage(BUCKET, region="us-east-1")
    assert storage.part_size == DEFAULT_PART_SIZE >= MIN_PART_SIZE
    assert storage._part_size(1) == storage._part_size(1000) == DEFAULT_PART_SIZE
    assert storage._part_size(1001) == 2 * DEFAULT_PART_SIZE
    assert storage._part_size(10_000) <= MAX_PART_SIZE
    # 10,000 parts (S3's limit) reach S3's 5 TiB object limit.
    assert sum(storage._part_size(n) for n in range(1, 10_001)) >= 5 * 1024 * 1024 * MiB
    with pytest.raises(ValueError, match="part_size"):
        S3Storage(BUCKET, part_size=MIN_PART_SIZE - 1)
    with pytest.raises(ValueError, match="bucket"):
        S3Storage("")


@pytest.mark.parametrize(
    ("total", "parts_per_size", "expected"),
    [
        pytest.param(12 * MiB, 1000, [8, 4], id="same-size-then-short"),
        pytest.param(16 * MiB, 1000, [8, 8], id="exact-multiple"),
        pytest.param(29 * MiB, 1, [8, 16, 5], id="doubling"),
    ],
)
async def test_parts_are_cut_at_the_part_size(
    s3_storage: S3Storage,
    monkeypatch: pytest.MonkeyPatch,
    total: int,
    parts_per_size: int,
    expected: list[int],
) -> None:
    monkeypatch.setattr("hub.blobs.s3.PARTS_PER_SIZE", parts_per_size)
    client: Any = s3_storage._client
    real_upload_part = client.upload_part
    sent: list[int] = []

    def recording_upload_part(**kwargs: Any) -> Any:
        sent.append(len(kwargs["Body"]))
        return real_upload_part(**kwargs)

    monkeypatch.setattr(client, "upload_part", recording_upload_part)
    # Odd chunk sizes, so part boundaries fall inside chunks.
    assert await s3_storage.put("parts", generated(total, 777_777)) == total
    assert sent == [n * MiB for n in expected]
    assert await read_digest(s3_storage, "parts") == (total, expected_digest(total, 777_777))


async def test_cancelled_while_a_part_uploads_waits_for_it_then_aborts(
    s3_storage: S3Storage, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelling the task cannot stop the thread sending a part; the abort must come after
    that part lands, or the part would outlive the upload."""
    client: Any = s3_storage._client
    real_upload_part = client.upload_part
    started, release = threading.Event(), threading.Event()

    def slow_upload_part(**kwargs: Any) -> Any:
        started.set()
        release.wait(10)
        return real_upload_part(**kwargs)

    monkeypatch.setattr(client, "upload_part", slow_upload_part)
    upload = asyncio.create_task(s3_storage.put("slow", generated(24 * MiB, MiB)))
    assert await asyncio.to_thread(started.wait, 10)
    upload.cancel()
    await asyncio.sleep(0.05)
    assert not upload.done()  # still waiting for the part in flight
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await upload
    listing = moto_server.client.list_multipart_uploads(Bucket=BUCKET, Prefix=s3_storage.prefix)
    assert listing.get("Uploads", []) == []
    with pytest.raises(ClientError, match=r"404|Not Found"):
        moto_server.client.head_object(Bucket=BUCKET, Key=f"{s3_storage.prefix}/slow")


async def test_a_failed_abort_still_raises_what_broke_the_upload(
    s3_storage: S3Storage, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client: Any = s3_storage._client

    def failing_abort(**kwargs: Any) -> Any:
        raise ConnectionError("network down")

    monkeypatch.setattr(client, "abort_multipart_upload", failing_abort)
    with pytest.raises(StreamBroke):
        await s3_storage.put("k", generated(12 * MiB, MiB, fail_after=9 * MiB))
    assert "could not abort multipart upload" in caplog.text
    assert "network down" in caplog.text


async def test_factory_storage_reads_the_endpoint_from_the_environment(
    aws_env: str, moto_server: MotoServer, s3_prefix: str, tmp_path: Path
) -> None:
    storage = storage_from_url(f"s3://{BUCKET}/{s3_prefix}/nested/", tmp_path)
    assert isinstance(storage, S3Storage)
    try:
        assert await storage.put("k.txt", from_bytes(b"through AWS_ENDPOINT_URL")) == 24
        body = moto_server.client.get_object(Bucket=BUCKET, Key=f"{s3_prefix}/nested/k.txt")
        assert body["Body"].read() == b"through AWS_ENDPOINT_URL"
        assert await read_all(storage, "k.txt") == b"through AWS_ENDPOINT_URL"
    finally:
        await storage.close()


async def test_other_s3_errors_are_not_blob_not_found(aws_env: str) -> None:
    storage = S3Storage("no-such-bucket-here")
    try:
        with pytest.raises(ClientError, match="NoSuchBucket"):
            await read_all(storage, "k")
        with pytest.raises(ClientError, match="NoSuchBucket"):
            await storage.put("k", from_bytes(b"v"))
    finally:
        await storage.close()
