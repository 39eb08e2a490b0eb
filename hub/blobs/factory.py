"""Blob storage from `HUB_STORAGE_URL`.

- empty: a `blobs` directory inside the hub's data dir;
- `file:///absolute/path`: a local directory there;
- `s3://bucket` or `s3://bucket/prefix`: an S3 bucket (or an S3-compatible server through
  `AWS_ENDPOINT_URL`), with credentials from the usual AWS environment variables.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from hub.blobs.base import Storage
from hub.blobs.local import LocalStorage
from hub.blobs.s3 import S3Storage

FORMS = "empty (the data dir), file:///absolute/path or s3://bucket[/prefix]"


def parse_storage_url(url: str) -> Path | tuple[str, str] | None:
    """None for the default, a directory for `file://`, (bucket, prefix) for `s3://`.

    Raises ValueError saying what is wrong with the URL.
    """
    if not url:
        return None
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError("a storage URL takes no query (?…) or fragment (#…)")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(
                "a file:// URL needs an absolute path with three slashes: file:///srv/blobs"
            )
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise ValueError("a file:// URL needs an absolute path: file:///srv/blobs")
        return Path(path)
    if parts.scheme == "s3":
        if "@" in parts.netloc or ":" in parts.netloc:
            raise ValueError(
                "an s3:// URL holds no credentials or port: set AWS_ACCESS_KEY_ID, "
                "AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL instead"
            )
        if not parts.netloc:
            raise ValueError("an s3:// URL needs a bucket: s3://bucket/prefix")
        return parts.netloc, unquote(parts.path).strip("/")
    scheme = f"{parts.scheme}://" if parts.scheme else "a plain path"
    raise ValueError(f"{scheme} is not supported")


def storage_from_url(url: str, data_dir: Path) -> Storage:
    """The storage `url` names (see the module docstring); ValueError if it names none."""
    try:
        target = parse_storage_url(url)
    except ValueError as error:
        raise ValueError(f"invalid storage URL {url!r}: {error}; use {FORMS}") from None
    if target is None:
        return LocalStorage(data_dir / "blobs")
    if isinstance(target, Path):
        return LocalStorage(target)
    bucket, prefix = target
    return S3Storage(bucket, prefix)
