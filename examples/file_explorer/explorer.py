"""Browse and import from an S3-compatible bucket: the plugin's logic, without the SDK's runner.

Everything here takes a boto3 S3 client, so it runs the same against AWS, MinIO, Ceph, R2 or
moto. Credentials and the endpoint are never in the config: boto3 reads them from the plugin
process's environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL`, ...).

Paths the hub sends (`folder`, `files`) are relative to the configured `prefix`, and every key
this module asks the storage for is `prefix + path`, so a user can only ever see and import
what lies under the prefix. `..` segments and absolute paths are refused outright: S3 itself
treats them literally, but proxies and some S3-compatible servers normalise them.
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ango_plugins_sdk import FileEntry, FolderEntry, ImportItem, ListingPage

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

log = logging.getLogger("file_explorer")

DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
"""What an import takes when the job names no extensions: images a browser can show."""
S3_MAX_KEYS = 1000
"""The most keys one `list_objects_v2` call returns; also the largest listing page."""
PROBE_BYTES = 64 * 1024
"""How much of an image a dimension probe reads first (one ranged GET): enough for nearly all."""
PROBE_NEXT_BYTES = 16 * 1024
"""Further reads, for a JPEG whose frame header sits behind large EXIF/ICC segments: the probe
jumps from segment header to segment header instead of downloading what lies between."""
PROBE_MAX_READS = 6
"""Ranged GETs one probe may make before it gives up (the item then has no dimensions)."""
EXPLICIT_BATCH = 100
"""Explicitly listed files are handled this many at a time (bounded work in flight)."""
MAX_DIMENSION = 1_000_000
"""Probed sizes above this (the hub's limit for an asset) are dropped: a damaged header."""
MAX_LOGGED_SKIPS = 50
"""Skipped objects logged one by one; past this only the counts in the summary say more."""


class ExplorerError(ValueError):
    """A request this plugin refuses (bad config, path, token, ...); the message says why."""


class StorageError(RuntimeError):
    """The storage refused or could not be reached; the message says what to check."""


# --- config ----------------------------------------------------------------------------------


class ExplorerConfig(BaseModel):
    """The plugin's config. Strict: `"3600"` is not a number and unknown keys are refused.

    The plugin declares it as its `config_model`: the SDK validates each job's config into it
    and fails a bad one with every problem named, before the callback runs."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    bucket: str = Field(min_length=1, max_length=255)
    prefix: str = ""
    """Only keys under this prefix are visible; `photos` and `photos/` both mean the folder."""
    import_mode: Literal["presigned", "copy"] = "presigned"
    """`presigned`: assets are presigned GET URLs; `copy`: the plugin uploads the bytes."""
    url_expiry_s: int = Field(default=3600, ge=1, le=604_800)
    """Lifetime of presigned URLs (SigV4 allows at most 7 days)."""
    max_page_size: int = Field(default=S3_MAX_KEYS, ge=1, le=S3_MAX_KEYS)
    """Listing pages are cut to this many entries whatever page size the job asks for."""
    max_object_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    """Copy mode: larger objects are skipped (and logged) instead of uploaded."""
    probe_dimensions: bool = True
    """Give width/height with each item: presigned mode reads each image's header with a
    ranged GET (64 KiB, more only for JPEGs with huge metadata); copy mode parses the bytes it
    has anyway. PNG, JPEG (EXIF orientation applied), GIF, BMP and WebP."""
    probe_workers: int = Field(default=8, ge=1, le=64)
    """Presigned mode: header reads in flight at once."""

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if value != value.strip() or "/" in value:
            raise ValueError("must be a bare bucket name (no slashes, no surrounding spaces)")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix_folder(cls, value: str) -> str:
        value = value.lstrip("/")
        _check_relative(value, "prefix")
        return value if not value or value.endswith("/") else value + "/"


_ADDRESSING_STYLES: dict[str, Literal["auto", "path", "virtual"]] = {
    "auto": "auto",
    "path": "path",
    "virtual": "virtual",
}


def make_client(**kwargs: Any) -> S3Client:
    """An S3 client configured from the environment only (credentials, region, endpoint).

    `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`) points it at any S3-compatible storage;
    `S3_ADDRESSING_STYLE` (`auto`, `path`, `virtual`) is for servers that need one style.
    One client serves every job of the process: boto3 clients are thread-safe.
    """
    import boto3
    from botocore.config import Config

    raw = os.environ.get("S3_ADDRESSING_STYLE", "auto")
    style = _ADDRESSING_STYLES.get(raw)
    if style is None:
        raise ExplorerError(f"S3_ADDRESSING_STYLE must be auto, path or virtual, not {raw!r}")
    config = Config(
        signature_version="s3v4",  # presigned URLs up to 7 days, and what S3-compatibles speak
        s3={"addressing_style": style},
        max_pool_connections=32,
        connect_timeout=10,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": 5},
    )
    return boto3.session.Session().client("s3", config=config, **kwargs)


# --- paths -----------------------------------------------------------------------------------


def _check_relative(value: str, what: str) -> None:
    if value.startswith(("/", "\\")):
        raise ExplorerError(
            f"{what} {value!r} is an absolute path; paths are relative to the configured prefix"
            ' ("" is its root)'
        )
    if ".." in value.replace("\\", "/").split("/"):
        raise ExplorerError(
            f"{what} {value!r} contains '..'; it cannot leave the configured prefix"
        )
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in value):
        raise ExplorerError(f"{what} {value!r} contains control characters")


def folder_prefix(config: ExplorerConfig, folder: str | None) -> str:
    """The S3 prefix of `folder` (relative to the configured prefix; "" is its root)."""
    folder = folder or ""
    if not isinstance(folder, str):
        raise ExplorerError(f"folder must be a string, got {type(folder).__name__}")
    _check_relative(folder, "folder")
    if folder and not folder.endswith("/"):
        folder += "/"
    return config.prefix + folder


def object_key(config: ExplorerConfig, path: str) -> str:
    """The S3 key of a file path relative to the configured prefix."""
    if not isinstance(path, str):
        raise ExplorerError(f"file must be a string, got {type(path).__name__}")
    _check_relative(path, "file")
    if not path or path.endswith("/"):
        raise ExplorerError(f"file {path!r} is a folder, not a file")
    return config.prefix + path


def normalize_extensions(extensions: Iterable[str] | None) -> tuple[str, ...]:
    """`["JPG", "*.png", ".Tif"]` -> `(".jpg", ".png", ".tif")`; none -> `DEFAULT_EXTENSIONS`."""
    out: list[str] = []
    for raw in extensions or ():
        if not isinstance(raw, str):
            raise ExplorerError(f"extensions must be strings, got {raw!r}")
        ext = raw.strip().lower().removeprefix("*")
        ext = ext if ext.startswith(".") else "." + ext
        if ext == "." or "/" in ext or "\\" in ext:
            raise ExplorerError(f"{raw!r} is not a file extension (expected e.g. '.jpg')")
        if ext not in out:
            out.append(ext)
    return tuple(out) or DEFAULT_EXTENSIONS


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


# --- storage calls ---------------------------------------------------------------------------


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _is_missing(exc: BaseException) -> bool:
    return _code(exc) in {"NoSuchKey", "404", "NotFound"}


def _storage_error(exc: Exception, action: str, bucket: str) -> StorageError:
    code = _code(exc)
    if code == "NoSuchBucket":
        hint = f"bucket {bucket!r} does not exist (check the config and AWS_ENDPOINT_URL)"
    elif code in {"AccessDenied", "403", "AllAccessDisabled"}:
        hint = (
            f"access denied on bucket {bucket!r}: the plugin's credentials need s3:ListBucket"
            " on the bucket and s3:GetObject on its objects"
        )
    elif code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}:
        hint = "the storage rejected the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
    elif type(exc).__name__ == "NoCredentialsError":
        hint = "no credentials in the plugin's environment (set AWS_ACCESS_KEY_ID and friends)"
    elif type(exc).__name__ in {"EndpointConnectionError", "ConnectTimeoutError"}:
        hint = "cannot reach the storage (check AWS_ENDPOINT_URL and the network)"
    else:
        hint = code or type(exc).__name__
    return StorageError(f"{action} failed: {hint}: {exc}")


def _storage_call(action: str, bucket: str, call: Callable[..., Any], **params: Any) -> Any:
    try:
        return call(**params)
    except (ClientError, BotoCoreError) as exc:
        raise _storage_error(exc, action, bucket) from exc


# --- list ------------------------------------------------------------------------------------


def list_page(
    client: S3Client,
    config: ExplorerConfig,
    folder: str | None = "",
    page_token: str | None = None,
    page_size: int = 100,
) -> ListingPage:
    """One page of `folder`: its subfolders and files, and the token of the next page.

    One `list_objects_v2` call with `Delimiter="/"`: at most `page_size` entries (folders and
    files together, as S3 counts them), the folder's own directory marker left out.
    """
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ExplorerError(f"page_size must be a positive integer, got {page_size!r}")
    prefix = folder_prefix(config, folder)
    params: dict[str, Any] = {
        "Bucket": config.bucket,
        "Prefix": prefix,
        "Delimiter": "/",
        "MaxKeys": min(page_size, config.max_page_size),
    }
    if page_token:
        params["ContinuationToken"] = page_token
    try:
        response = _storage_call(
            f"listing {prefix or '/'!r}", config.bucket, client.list_objects_v2, **params
        )
    except StorageError as exc:
        if page_token and _code(exc.__cause__ or exc) == "InvalidArgument":
            raise ExplorerError(
                "the page token is not valid for this folder (expired or from another listing);"
                " list again from the first page"
            ) from None
        raise
    cut = len(config.prefix)
    folders = [
        FolderEntry(name=entry["Prefix"][len(prefix) : -1], key=entry["Prefix"][cut:])
        for entry in response.get("CommonPrefixes", [])
    ]
    files = [
        FileEntry(
            name=obj["Key"][len(prefix) :],
            key=obj["Key"][cut:],
            size=obj.get("Size"),
            modified=_iso(obj.get("LastModified")),
        )
        for obj in response.get("Contents", [])
        if obj["Key"] != prefix  # the folder's own directory marker
    ]
    token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
    return ListingPage(folders=folders, files=files, next_page_token=token)


# --- import ----------------------------------------------------------------------------------


@dataclass
class ImportStats:
    """What an import did, counted as it goes (the plugin logs it at the end)."""

    seen: int = 0
    imported: int = 0
    directory_markers: int = 0
    wrong_extension: int = 0
    duplicates: int = 0
    empty: int = 0
    too_large: int = 0
    missing: int = 0
    unusable: int = 0
    skipped_keys: list[str] = field(default_factory=list)
    """The first `MAX_LOGGED_SKIPS` keys skipped for size, absence or an invalid item."""

    def summary(self) -> str:
        parts = [
            f"{f.name.replace('_', ' ')}={getattr(self, f.name)}"
            for f in fields(self)
            if f.name != "skipped_keys" and getattr(self, f.name)
        ]
        return ", ".join(parts) or "nothing"


@dataclass(frozen=True)
class _Candidate:
    key: str
    size: int | None  # None: named explicitly, not seen in a listing


def iter_import(
    client: S3Client,
    config: ExplorerConfig,
    *,
    folder: str | None = "",
    recursive: bool = False,
    files: Sequence[str] | None = None,
    extensions: Iterable[str] | None = None,
    stats: ImportStats | None = None,
    logger: logging.Logger | None = None,
) -> Iterator[ImportItem]:
    """The items to import, produced lazily, one listing page (or `EXPLICIT_BATCH` files) at a
    time: never the whole bucket in memory.

    `files` (paths relative to the prefix, as listed) wins over `folder`; otherwise `folder` is
    walked, with `recursive` every key below it, else only its direct children. Only keys with
    one of `extensions` (case-insensitive; none given = `DEFAULT_EXTENSIONS`) are taken; the
    external id of an item is its full object key in the bucket. Arguments are checked here,
    before the first item is asked for.
    """
    exts = normalize_extensions(extensions)
    stats = stats if stats is not None else ImportStats()
    logger = logger or log
    batches: Iterator[list[_Candidate]]
    if files:
        keys = [object_key(config, path) for path in files]
        batches = _explicit(keys, exts, stats)
    else:
        batches = _walk(client, config, folder_prefix(config, folder), recursive, exts, stats)
    return _items(client, config, batches, stats, logger)


def _walk(
    client: S3Client,
    config: ExplorerConfig,
    prefix: str,
    recursive: bool,
    exts: tuple[str, ...],
    stats: ImportStats,
) -> Iterator[list[_Candidate]]:
    params: dict[str, Any] = {"Bucket": config.bucket, "Prefix": prefix, "MaxKeys": S3_MAX_KEYS}
    if not recursive:
        params["Delimiter"] = "/"
    while True:
        response = _storage_call(
            f"listing {prefix or '/'!r}", config.bucket, client.list_objects_v2, **params
        )
        contents = response.get("Contents", [])
        token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
        del response  # one page in memory at a time: not this one while the next is read
        batch = []
        for obj in contents:
            key = obj["Key"]
            stats.seen += 1
            if key.endswith("/"):
                stats.directory_markers += 1
            elif not key.lower().endswith(exts):
                stats.wrong_extension += 1
            elif obj.get("Size") == 0:
                stats.empty += 1
            else:
                batch.append(_Candidate(key, obj.get("Size")))
        del contents
        if batch:
            yield batch
            del batch
        if token is None:
            return
        params["ContinuationToken"] = token


def _explicit(
    keys: list[str], exts: tuple[str, ...], stats: ImportStats
) -> Iterator[list[_Candidate]]:
    taken: set[str] = set()
    batch: list[_Candidate] = []
    for key in keys:
        stats.seen += 1
        if key in taken:
            stats.duplicates += 1
        elif not key.lower().endswith(exts):
            stats.wrong_extension += 1
        else:
            taken.add(key)
            batch.append(_Candidate(key, None))
            if len(batch) == EXPLICIT_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


_Outcome = tuple[ImportItem | None, str | None]  # the item, or why there is none


def _items(
    client: S3Client,
    config: ExplorerConfig,
    batches: Iterator[list[_Candidate]],
    stats: ImportStats,
    logger: logging.Logger,
) -> Iterator[ImportItem]:
    outcomes: Iterator[tuple[_Candidate, _Outcome]]
    if config.import_mode == "copy":
        # One object in memory at a time: they can be large, and the hub uploads them in turn.
        outcomes = ((c, _copy_one(client, config, c)) for batch in batches for c in batch)
        yield from _counted(outcomes, stats, logger)
        return

    def presign(candidate: _Candidate) -> _Outcome:
        return _presign_one(client, config, candidate)

    pool = ThreadPoolExecutor(config.probe_workers, thread_name_prefix="s3-probe")

    def per_batch() -> Iterator[tuple[_Candidate, _Outcome]]:
        for batch in batches:
            if config.probe_dimensions or any(c.size is None for c in batch):
                results: Iterable[_Outcome] = pool.map(presign, batch)  # reads: in parallel
            else:
                results = map(presign, batch)  # nothing to read: signing is local
            yield from zip(batch, results, strict=True)
            del batch, results  # not kept while the next page is listed

    try:
        yield from _counted(per_batch(), stats, logger)
    finally:  # also when the consumer stops early: drop what is queued
        pool.shutdown(wait=True, cancel_futures=True)


def _counted(
    outcomes: Iterator[tuple[_Candidate, _Outcome]], stats: ImportStats, logger: logging.Logger
) -> Iterator[ImportItem]:
    for candidate, (item, reason) in outcomes:
        if item is not None:
            stats.imported += 1
            yield item
            continue
        assert reason is not None
        kind, _, detail = reason.partition(":")
        setattr(stats, kind, getattr(stats, kind) + 1)
        if len(stats.skipped_keys) < MAX_LOGGED_SKIPS:
            stats.skipped_keys.append(candidate.key)
            logger.warning("skipped %r: %s", candidate.key, detail.strip() or kind)


def _item(config: ExplorerConfig, key: str, **values: Any) -> _Outcome:
    try:
        return ImportItem(external_id=key, **values), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return None, f"unusable: not a valid import item ({where}: {first['msg']})"


def _presign_one(client: S3Client, config: ExplorerConfig, candidate: _Candidate) -> _Outcome:
    key = candidate.key
    dims: tuple[int, int] | None = None
    try:
        if config.probe_dimensions:
            dims = probe_dimensions(client, config.bucket, key)
        elif candidate.size is None:  # named explicitly: make sure it is there
            head = client.head_object(Bucket=config.bucket, Key=key)
            if head.get("ContentLength") == 0:
                return None, "empty: the object is empty"
    except _EmptyObject:
        return None, "empty: the object is empty"
    except (ClientError, BotoCoreError) as exc:
        if _is_missing(exc):
            return None, "missing: no such object"
        raise _storage_error(exc, f"reading {key!r}", config.bucket) from exc
    url = client.generate_presigned_url(
        "get_object",
        Params={"Bucket": config.bucket, "Key": key},
        ExpiresIn=config.url_expiry_s,
    )
    width, height = dims or (None, None)
    return _item(config, key, url=url, width=width, height=height)


def _copy_one(client: S3Client, config: ExplorerConfig, candidate: _Candidate) -> _Outcome:
    key, cap = candidate.key, config.max_object_bytes
    too_large = f"too_large: larger than max_object_bytes ({cap})"
    if candidate.size is not None and candidate.size > cap:
        return None, too_large
    try:
        response = client.get_object(Bucket=config.bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        if _is_missing(exc):
            return None, "missing: no such object"
        raise _storage_error(exc, f"reading {key!r}", config.bucket) from exc
    body = response["Body"]
    try:
        if response.get("ContentLength", 0) > cap:
            return None, too_large
        data = body.read(cap + 1)
    finally:
        body.close()
    if len(data) > cap:
        return None, too_large
    if not data:
        return None, "empty: the object is empty"
    width, height = (image_size(data) if config.probe_dimensions else None) or (None, None)
    return _item(
        config, key, data=data, filename=posixpath.basename(key), width=width, height=height
    )


# --- image dimensions ------------------------------------------------------------------------


class _EmptyObject(Exception):
    pass


class _Reader:
    """Bytes of an image by offset: from memory, or fetched window by window with ranged GETs."""

    def __init__(
        self, data: bytes, fetch: Callable[[int, int], bytes] | None = None, max_reads: int = 0
    ) -> None:
        self._base, self._buf = 0, data
        self._fetch, self._reads_left = fetch, max_reads
        self._eof = fetch is None or len(data) < PROBE_BYTES
        self._window = PROBE_NEXT_BYTES

    def get(self, offset: int, n: int) -> bytes:
        start = offset - self._base
        if start >= 0 and start + n <= len(self._buf):
            return self._buf[start : start + n]
        if self._fetch is not None and self._reads_left > 0 and not self._eof:
            self._reads_left -= 1
            size = max(n, self._window)
            self._base, self._buf = offset, self._fetch(offset, size)
            self._eof = len(self._buf) < size
            return self._buf[:n]
        return self._buf[start : start + n] if start >= 0 else b""


def probe_dimensions(client: S3Client, bucket: str, key: str) -> tuple[int, int] | None:
    """(width, height) of an image from its first 64 KiB (ranged GET), None if not known.

    Raises the client's error if the object is missing, `_EmptyObject` if it has no bytes.
    """

    def fetch(offset: int, n: int) -> bytes:
        try:
            response = client.get_object(
                Bucket=bucket, Key=key, Range=f"bytes={offset}-{offset + n - 1}"
            )
        except ClientError as exc:
            if _code(exc) == "InvalidRange":  # past the end (or an empty object)
                return b""
            raise
        body = response["Body"]
        try:
            return body.read()
        finally:
            body.close()

    head = fetch(0, PROBE_BYTES)
    if not head:
        raise _EmptyObject(key)
    return _dimensions(_Reader(head, fetch, PROBE_MAX_READS - 1))


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as displayed, from an image's bytes (its start is enough), or None.

    PNG, GIF, BMP and WebP from their fixed headers; JPEG by walking its segments to the frame
    header, with EXIF orientations 5-8 (rotated a quarter turn) swapping the two.
    """
    return _dimensions(_Reader(data))


def _dimensions(reader: _Reader) -> tuple[int, int] | None:
    head = reader.get(0, 32)
    size: tuple[int, int] | None = None
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        size = _be(head[16:20]), _be(head[20:24])
    elif head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        size = _le(head[6:8]), _le(head[8:10])
    elif head.startswith(b"BM") and len(head) >= 26:
        if _le(head[14:18]) == 12:  # OS/2 BITMAPCOREHEADER
            size = _le(head[18:20]), _le(head[20:22])
        else:  # negative height: stored top-down
            size = _le(head[18:22]), abs(int.from_bytes(head[22:26], "little", signed=True))
    elif head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        size = _webp_size(head)
    elif head.startswith(b"\xff\xd8"):
        size = _jpeg_size(reader)
    if size is None or not (0 < size[0] <= MAX_DIMENSION and 0 < size[1] <= MAX_DIMENSION):
        return None
    return size


def _be(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _le(data: bytes) -> int:
    return int.from_bytes(data, "little")


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        return _le(head[26:28]) & 0x3FFF, _le(head[28:30]) & 0x3FFF
    if chunk == b"VP8L" and head[20:21] == b"\x2f":
        bits = _le(head[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return _le(head[24:27]) + 1, _le(head[27:30]) + 1
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, 0xD8, *range(0xD0, 0xD8)}


def _jpeg_size(reader: _Reader) -> tuple[int, int] | None:
    offset, orientation = 2, 1
    for _ in range(10_000):  # segments; a real file reaches its frame header in a few dozen
        marker = reader.get(offset, 4)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        if marker[1] == 0xFF:  # fill byte
            offset += 1
            continue
        if marker[1] in _STANDALONE:
            offset += 2
            continue
        if marker[1] in (0xD9, 0xDA) or len(marker) < 4:  # image data before any frame header
            return None
        length = _be(marker[2:4])
        if length < 2:
            return None
        if marker[1] in _SOF:
            frame = reader.get(offset + 4, 5)
            if len(frame) < 5:
                return None
            height, width = _be(frame[1:3]), _be(frame[3:5])
            return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
        if marker[1] == 0xE1:
            segment = reader.get(offset + 4, min(length - 2, 4096))
            if segment.startswith(b"Exif\x00\x00"):
                orientation = _exif_orientation(segment[6:]) or orientation
        offset += 2 + length
    return None


def _exif_orientation(tiff: bytes) -> int | None:
    """The Orientation tag (0x0112) of IFD0 in an EXIF TIFF block, if there."""
    if tiff[:4] == b"II*\x00":
        order: Literal["little", "big"] = "little"
    elif tiff[:4] == b"MM\x00*":
        order = "big"
    else:
        return None
    ifd = int.from_bytes(tiff[4:8], order)
    count = int.from_bytes(tiff[ifd : ifd + 2], order) if ifd + 2 <= len(tiff) else 0
    for n in range(count):
        entry = tiff[ifd + 2 + 12 * n : ifd + 14 + 12 * n]
        if len(entry) < 12:
            break
        if int.from_bytes(entry[0:2], order) == 0x0112:
            value = int.from_bytes(entry[8:10], order)
            return value if 1 <= value <= 8 else None
    return None
