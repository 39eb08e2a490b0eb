"""`storage_from_url` and the `HUB_STORAGE_URL` setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.blobs import LocalStorage, S3Storage, storage_from_url
from hub.settings import Settings, SettingsError

pytestmark = pytest.mark.usefixtures("aws_credentials")


def test_empty_means_blobs_in_the_data_dir(tmp_path: Path) -> None:
    storage = storage_from_url("", tmp_path)
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path / "blobs"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("file:///srv/plugin-hub/blobs", "/srv/plugin-hub/blobs"),
        ("file://localhost/srv/blobs", "/srv/blobs"),
        ("file:///srv/with%20space", "/srv/with space"),
    ],
)
def test_file_url_is_a_local_directory(tmp_path: Path, url: str, path: str) -> None:
    storage = storage_from_url(url, tmp_path)
    assert isinstance(storage, LocalStorage)
    assert storage.root == Path(path)


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://hub-blobs", "hub-blobs", ""),
        ("s3://hub-blobs/", "hub-blobs", ""),
        ("s3://hub-blobs/a/b", "hub-blobs", "a/b"),
        ("s3://hub-blobs/a/b/", "hub-blobs", "a/b"),
    ],
)
async def test_s3_url_is_a_bucket_and_prefix(
    tmp_path: Path, url: str, bucket: str, prefix: str
) -> None:
    storage = storage_from_url(url, tmp_path)
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == (bucket, prefix)
    await storage.close()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://host/blobs", "ftp:// is not supported"),
        ("gs://bucket", "gs:// is not supported"),
        ("/srv/blobs", "a plain path is not supported"),
        ("relative/blobs", "a plain path is not supported"),
        ("s3://", "needs a bucket"),
        ("s3:///prefix", "needs a bucket"),
        ("s3://AKIA:secret@bucket/p", "no credentials"),
        ("file://relative/path", "absolute path"),
        ("file:relative", "absolute path"),
        ("s3://bucket/p?region=eu", "no query"),
    ],
)
def test_bad_urls_say_what_is_wrong(tmp_path: Path, url: str, says: str) -> None:
    with pytest.raises(ValueError, match="invalid storage URL") as raised:
        storage_from_url(url, tmp_path)
    message = str(raised.value)
    assert says in message
    assert "s3://bucket[/prefix]" in message


@pytest.mark.parametrize("url", ["", "file:///srv/blobs", "s3://bucket", "s3://bucket/a/b"])
def test_setting_accepts_the_supported_urls(url: str) -> None:
    assert Settings.from_env({"HUB_STORAGE_URL": url}).storage_url == url


@pytest.mark.parametrize("url", ["ftp://x", "s3://", "/srv/blobs", "file://rel/x"])
def test_setting_refuses_other_urls(url: str) -> None:
    with pytest.raises(SettingsError, match="HUB_STORAGE_URL must be"):
        Settings.from_env({"HUB_STORAGE_URL": url})
