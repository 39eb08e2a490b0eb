"""Blobs in an S3 bucket (or an S3-compatible server) through boto3.

boto3 is synchronous, so every call runs in a worker thread. `put` streams: the first part is
buffered; a stream smaller than one part becomes a single `PutObject`, a larger one a multipart
upload with at most one part in memory at a time. A multipart upload that fails or is cancelled
is aborted, so a blob appears whole (on `CompleteMultipartUpload`) or not at all.

Credentials, region and endpoint come from the usual AWS sources (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, profiles, instance roles)
unless given explicitly.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from hub.blobs.base import CHUNK_SIZE, BlobNotFound, content_disposition

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import CompletedPartTypeDef

T = TypeVar("T")

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PART_SIZE = 5 * 1024 * MiB
DEFAULT_PART_SIZE = 8 * MiB
# S3 allows at most 10,000 parts. The stream's length is unknown up front, so the part size
# doubles every 1,000 parts: 8 MiB parts carry the first ~7.8 GiB, and 10,000 parts reach
# S3's 5 TiB object limit, while small uploads keep small parts (and small buffers).
PARTS_PER_SIZE = 1000

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code", "")) in _MISSING_CODES


_NOTHING = memoryview(b"")


class _PartBuffer:
    """One part's bytes, in a buffer that grows with the first part and is then refilled in
    place for every further part.

    A small upload holds only its own bytes. A large one holds one part (plus the caller's
    current chunk): a fresh buffer per part would, besides reallocating as it grows, let the
    previous part linger until the worker thread and botocore let go of it.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.data = bytearray()
        self.filled = 0

    @property
    def full(self) -> bool:
        return self.filled == self.size

    def fill(self, chunk: memoryview) -> memoryview:
        """Copy as much of `chunk` as fits; returns what did not."""
        count = min(len(chunk), self.size - self.filled)
        # Overwrites in place once the buffer has its full length; grows it before that.
        self.data[self.filled : self.filled + count] = chunk[:count]
        self.filled += count
        # An empty rest must not keep the caller's chunk alive while the next one is made.
        return chunk[count:] if count < len(chunk) else _NOTHING

    def take(self) -> bytearray:
        """The filled bytes, to send."""
        if len(self.data) > self.filled:  # the last, short part in a reused buffer
            del self.data[self.filled :]
        return self.data

    def reset(self, size: int) -> None:
        """Empty, ready for the next part: the same buffer unless the part size changed."""
        if size != self.size:
            self.size = size
            self.data = bytearray()
        self.filled = 0


class S3Storage:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if not bucket:
            raise ValueError("S3 storage needs a bucket name")
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(f"part_size must be between 5 MiB and 5 GiB, got {part_size}")
        # Imported here: boto3 takes a noticeable time to import, and most hubs never need it.
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size
        # A session per storage: boto3's default session is not thread-safe to create lazily
        # from several threads, its clients are safe to share.
        session = boto3.session.Session()
        self._client: S3Client = session.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            # Presigned URLs need SigV4 (the only scheme newer regions accept).
            config=Config(signature_version="s3v4", retries={"mode": "standard"}),
        )

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _key(self, key: str) -> str:
        # The same keys as LocalStorage accepts, and no `.`/`..` segments: an HTTP stack that
        # normalizes the path could otherwise move a key outside the prefix.
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"invalid storage key {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _call(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, **kwargs)

    async def put(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str = "") -> int:
        s3_key = self._key(key)
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        part = _PartBuffer(self._part_size(1))
        size = 0
        stream = aiter(chunks)
        rest = _NOTHING  # what did not fit in the part being filled

        async def fill() -> None:
            """Fill `part` from `rest` and then the stream, until full or the stream ends."""
            nonlocal rest, size
            rest = part.fill(rest)
            while not part.full:
                chunk = await anext(stream, None)
                if chunk is None:
                    return
                size += len(chunk)
                rest = part.fill(memoryview(chunk))
                del chunk  # held only through `rest` now, if at all

        await fill()
        if not part.full:
            # The whole stream fits in one part: a plain PutObject.
            await self._call(
                self._client.put_object, Bucket=self.bucket, Key=s3_key, Body=part.take(), **extra
            )
            return size

        created = await self._call(
            self._client.create_multipart_upload, Bucket=self.bucket, Key=s3_key, **extra
        )
        upload_id = created["UploadId"]
        loop = asyncio.get_running_loop()
        # The part upload running in a thread. Cancelling the task does not stop that thread,
        # so on failure we wait for it before aborting: a part landing after the abort would
        # leave storage behind.
        pending: asyncio.Future[Any] | None = None
        parts: list[CompletedPartTypeDef] = []

        async def upload_part() -> None:
            nonlocal pending
            number = len(parts) + 1
            pending = loop.run_in_executor(
                None,
                functools.partial(
                    self._client.upload_part,
                    Bucket=self.bucket,
                    Key=s3_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    # botocore takes a bytearray as a blob (its validator lists it); the stubs
                    # say only bytes, which would mean copying every part.
                    Body=part.take(),  # type: ignore[arg-type]
                ),
            )
            response = await asyncio.shield(pending)
            pending = None
            parts.append({"PartNumber": number, "ETag": response["ETag"]})
            part.reset(self._part_size(number + 1))

        try:
            while part.full:
                await upload_part()
                await fill()
            if part.filled:
                await upload_part()
            await self._call(
                self._client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=s3_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            if pending is not None:
                await asyncio.wait([pending])
            # The abort runs in its thread to the end even if this task is cancelled again.
            try:
                await self._call(
                    self._client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=s3_key,
                    UploadId=upload_id,
                )
            except Exception:
                # Raise what broke the upload, not this; a lifecycle rule reaps the leftover.
                logger.warning(
                    "could not abort multipart upload of %s/%s", self.bucket, s3_key, exc_info=True
                )
            raise
        return size

    def _part_size(self, number: int) -> int:
        """The size at which part `number` (1-based) is sent."""
        return min(self.part_size << ((number - 1) // PARTS_PER_SIZE), MAX_PART_SIZE)

    async def get(self, key: str) -> AsyncIterator[bytes]:
        s3_key = self._key(key)
        try:
            response = await self._call(self._client.get_object, Bucket=self.bucket, Key=s3_key)
        except ClientError as error:
            if _is_missing(error):
                raise BlobNotFound(key) from None
            raise
        body = response["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK_SIZE):
                yield chunk
        finally:
            body.close()

    async def size(self, key: str) -> int:
        s3_key = self._key(key)
        try:
            head = await self._call(self._client.head_object, Bucket=self.bucket, Key=s3_key)
        except ClientError as error:
            if _is_missing(error):
                raise BlobNotFound(key) from None
            raise
        return head["ContentLength"]

    async def delete(self, key: str) -> None:
        # S3 answers 204 for a key that is not there, so this is idempotent already.
        await self._call(self._client.delete_object, Bucket=self.bucket, Key=self._key(key))

    def presigned_get(
        self, key: str, expires_s: int, *, filename: str = "", content_type: str = ""
    ) -> str | None:
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        if filename:
            # S3 sends these headers back with the object, so the download keeps its name.
            params["ResponseContentDisposition"] = content_disposition(filename)
        if content_type:
            params["ResponseContentType"] = content_type
        return self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)

    def presigned_put(self, key: str, expires_s: int) -> str | None:
        """A URL for a single-part PUT of the whole blob (S3 caps those at 5 GiB)."""
        return self._client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=expires_s,
        )

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
