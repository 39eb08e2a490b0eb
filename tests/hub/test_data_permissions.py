"""The data directory, the database (with its -wal and -shm files) and the signing key hold
password hashes, job data and the key that signs job tokens: only the hub's user may read
them, whatever the umask, and a directory left readable by others is tightened, not refused."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hub import cli
from hub.app import create_app
from hub.settings import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    """The common 022: left alone, new files would be 0644 and directories 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def settings_for(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir, database_url=database_url, heartbeat_interval=0.2, hello_timeout=1.0
    )


def database_files(database_url: str) -> list[str]:
    """The files of the database in the data dir: SQLite's, or none on PostgreSQL."""
    return [] if database_url else ["hub.db", "hub.db-wal", "hub.db-shm"]


def key_files(database_url: str) -> list[str]:
    """The signing key's file: none on PostgreSQL, where the nodes share one kept in the
    database (hub/cluster/shared_key.py)."""
    return [] if database_url else ["secret_key"]


def test_a_new_data_dir_and_everything_in_it_are_private(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    with TestClient(create_app(settings_for(data_dir, database_url))) as client:
        assert client.get("/healthz").status_code == 200
        files = [*database_files(database_url), *key_files(database_url)]
        # While the hub runs: the write-ahead log and shared memory exist then.
        assert {name: mode(data_dir / name) for name in files} == dict.fromkeys(files, 0o600)
    assert mode(data_dir) == 0o700
    assert sorted(p.name for p in data_dir.iterdir() if p.name in ("secret_key",)) == sorted(
        key_files(database_url)
    )


def test_a_loose_data_dir_is_tightened_and_the_log_says_so(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    with TestClient(create_app(settings_for(data_dir, database_url))):
        pass
    loosened = [
        data_dir / name for name in (*database_files(database_url)[:1], *key_files(database_url))
    ]
    data_dir.chmod(0o755)
    for path in loosened:
        path.chmod(0o644)
    caplog.set_level(logging.INFO)

    with TestClient(create_app(settings_for(data_dir, database_url))) as client:
        assert client.get("/healthz").status_code == 200
        for name in database_files(database_url)[1:]:
            assert mode(data_dir / name) == 0o600

    assert mode(data_dir) == 0o700
    assert [mode(path) for path in loosened] == [0o600] * len(loosened)
    tightened = [r.getMessage() for r in caplog.records if "tightened" in r.getMessage()]
    for path in [data_dir, *loosened]:
        assert any(str(path) in message for message in tightened), (path, tightened)


def test_the_cli_creates_a_private_data_dir_too(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir = tmp_path / "cli-data"
    monkeypatch.setenv("HUB_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    args = ["admin", "create", "--email", "o@acme.example", "--password", "pw-12345678"]
    assert cli.main([*args, "--org", "acme"]) == 0
    assert "api_key" in capsys.readouterr().out
    assert mode(data_dir) == 0o700
    for name in [*database_files(database_url)[:1], *key_files(database_url)]:
        assert mode(data_dir / name) == 0o600
