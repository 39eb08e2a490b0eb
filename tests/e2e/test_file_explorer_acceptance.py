"""Issue 5's acceptance for the file explorer: examples/file_explorer over a real moto
bucket of 2,500 objects in nested folders, through a real hub."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.harness import HubProcess, MotoServer, PluginProcess
from tests.e2e.test_export_markdown import iter_tasks, run_job

StartPlugin = Callable[..., PluginProcess]
BUCKET = "pictures"


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def layout() -> list[str]:
    """2,500 keys: cams/cam{0..4}/day{0..9}/ hold 48 images each (2,400), plus 100 notes."""
    keys = [
        f"cams/cam{c}/day{d}/frame{n:03}.png"
        for c in range(5)
        for d in range(10)
        for n in range(48)
    ]
    keys += [f"cams/cam{c}/notes{n:02}.txt" for c in range(5) for n in range(20)]
    assert len(keys) == 2500
    return keys


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    pytest.importorskip("moto", reason="moto is needed for the S3 tests")
    import boto3

    server = MotoServer().start()
    server.create_bucket(BUCKET)
    client = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    image = png(8, 6)
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda key: client.put_object(
                    Bucket=BUCKET, Key=key, Body=image if key.endswith(".png") else b"note"
                ),
                layout(),
            )
        )
    yield server
    server.stop()


def browse(
    hub: HubProcess, plugin_id: str, project_id: str, folder: str
) -> tuple[list[str], list[str]]:
    """(folders, files) of `folder`, through every page of listings run as jobs."""
    folders: list[str] = []
    files: list[str] = []
    token = None
    while True:
        job = run_job(
            hub,
            plugin_id,
            {
                "project_id": project_id,
                "operation": "list",
                "config": {"bucket": BUCKET},
                "input": {"folder": folder, "page_size": 100, "page_token": token},
            },
        )
        assert job["status"] == "succeeded", job["error"]
        page: dict[str, Any] = job["result"]
        folders += [f["key"] for f in page["folders"]]
        files += [f["key"] for f in page["files"]]
        token = page["next_page_token"]
        if token is None:
            return folders, files


def test_browse_every_object_and_import_a_folder_once(
    hub: HubProcess, start_plugin: StartPlugin, moto: MotoServer
) -> None:
    project = hub.api("POST", "/projects", json={"name": "cams", "categories": []}).json()
    plugin_id, secret = hub.create_plugin("bucket", "file_explorer")
    # The credentials and the endpoint live in the plugin's environment only.
    start_plugin("examples/file_explorer/plugin.py", plugin_id, secret, **moto.env)

    # Walk the whole tree, folder by folder, page by page.
    seen: list[str] = []
    pending = [""]
    while pending:
        folder = pending.pop()
        folders, files = browse(hub, plugin_id, project["id"], folder)
        seen += files
        pending += [f.rstrip("/") for f in folders]
    assert sorted(seen) == sorted(layout())

    # Import cam1 recursively: its 480 images, not its notes.
    body = {
        "project_id": project["id"],
        "operation": "import",
        "config": {"bucket": BUCKET},
        "input": {"folder": "cams/cam1", "recursive": True, "dedupe": True, "batch": "cam1"},
    }
    first = run_job(hub, plugin_id, body, timeout=120)
    assert first["status"] == "succeeded", first["error"]
    assert (first["result"]["created"], first["result"]["skipped"]) == (480, 0)
    tasks = list(iter_tasks(hub, project["id"]))
    assert len(tasks) == 480
    assert all(t["asset"]["external_id"].startswith("cams/cam1/day") for t in tasks)
    assert {(t["asset"]["width"], t["asset"]["height"]) for t in tasks} == {(8, 6)}
    second = run_job(hub, plugin_id, body, timeout=120)
    assert (second["result"]["created"], second["result"]["skipped"]) == (0, 480)
    assert len(list(iter_tasks(hub, project["id"]))) == 480
