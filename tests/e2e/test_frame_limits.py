"""Frames over the hub's limit, against a real `plugin-hub serve`: what docs/protocol.md's
"Size limits" promises, in both of its bands."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.harness import HubProcess

LIMIT = 64 * 1024


@pytest.fixture
def hub(tmp_path: Path, database_url: str) -> Iterator[HubProcess]:
    process = HubProcess(
        tmp_path / "hub", database_url=database_url, env={"HUB_MAX_MESSAGE_SIZE": str(LIMIT)}
    )
    process.data_dir.mkdir(parents=True)
    process.create_admin()
    process.start()
    yield process
    process.stop()


async def _send_oversized(hub: HubProcess, size: int) -> tuple[list[dict[str, object]], int]:
    """Say hello, send one `log` frame of about `size` bytes; what came back, and the close."""
    plugin_id, secret = hub.create_plugin()
    token = base64.b64encode(f"{plugin_id}:{secret}".encode()).decode()
    frames: list[dict[str, object]] = []
    async with connect(
        hub.url.replace("http://", "ws://") + "/ws/plugin",
        additional_headers={"Authorization": f"Basic {token}"},
        max_size=None,
    ) as ws:
        await ws.recv()  # welcome
        hello = {"type": "hello", "sdk_version": "raw", "plugin_version": "1", "hostname": "h"}
        await ws.send(json.dumps({**hello, "pid": 1, "capacity": 1}))
        record = {"level": "INFO", "message": "x" * size, "time": 0}
        await ws.send(json.dumps({"type": "log", "job_id": "j", "attempt": 1, "records": [record]}))
        try:
            async for frame in ws:
                frames.append(json.loads(frame))
        except ConnectionClosed:
            pass
        assert ws.close_code is not None
        return frames, ws.close_code


def test_a_frame_over_the_limit_gets_an_error_then_1009(hub: HubProcess) -> None:
    frames, code = asyncio.run(_send_oversized(hub, 2 * LIMIT))
    assert code == 1009
    assert [(f["type"], f["code"]) for f in frames] == [("error", "message_too_big")]


def test_a_frame_over_four_times_the_limit_is_closed_with_1009_unread(hub: HubProcess) -> None:
    frames, code = asyncio.run(_send_oversized(hub, 5 * LIMIT))
    assert code == 1009
    assert frames == []  # the server's WebSocket layer stops reading: no `error` message
