"""Fixtures for the storage tests: moto's standalone S3 server as a real process, fake AWS
credentials in the environment, and a `storage` fixture that runs each contract test against
LocalStorage and S3Storage alike."""

from __future__ import annotations

import copy
import importlib.util
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

from hub.blobs import LocalStorage, S3Storage, Storage

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

BUCKET = "hub-test-blobs"
REGION = "us-east-1"
ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"


@dataclass(frozen=True)
class MotoServer:
    endpoint: str
    client: S3Client  # a raw client, to look behind the storage's back


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(process: subprocess.Popen[bytes], endpoint: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"moto server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return  # it answers, whatever it says
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"moto server did not answer within 30 s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        pytest.skip(
            "moto[server] is not installed (pip install -e '.[dev]'): no S3 to test against"
        )
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(process, endpoint, log)
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        client.create_bucket(Bucket=BUCKET)
        yield MotoServer(endpoint=endpoint, client=client)
        client.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials in the environment, and nothing from the developer's own AWS setup."""
    for variable in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_REGION",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws_env(aws_credentials: None, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fake credentials plus `AWS_ENDPOINT_URL` pointing at the moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    return moto_server.endpoint


@pytest.fixture
def s3_prefix() -> str:
    """A fresh prefix per test: the bucket is shared by the whole session."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def shared_s3_storage(
    moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Storage]:
    """One S3Storage (one boto3 client) for the session: building a client loads botocore's
    service models, ~0.4 s each time, which would be most of the suite's run time."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        empty = tmp_path_factory.mktemp("aws")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
        for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(variable, raising=False)
        storage = S3Storage(BUCKET, endpoint_url=moto_server.endpoint, region=REGION)
    yield storage
    storage._client.close()


@pytest.fixture
def s3_storage(shared_s3_storage: S3Storage, s3_prefix: str) -> S3Storage:
    """The shared storage under a fresh prefix (the client is shared, not closed per test)."""
    storage = copy.copy(shared_s3_storage)
    storage.prefix = s3_prefix
    return storage


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """Each contract test runs against both backends. (A plain fixture: an async one could not
    set up the async `s3_storage` from inside the running event loop.)"""
    if request.param == "local":
        return LocalStorage(tmp_path / "blobs")
    s3: S3Storage = request.getfixturevalue("s3_storage")
    return s3
