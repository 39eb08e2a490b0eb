"""Helpers for the workspace tests: constants, API shortcuts, small real images."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from tests.hub.conftest import Owner

API = "/api/v1"

CATEGORIES = [
    {"name": "car", "tool": "bbox", "color": "#ff0000"},
    {"name": "road", "tool": "polygon"},
    {"name": "pin", "tool": "point"},
    {"name": "weather", "tool": "classification"},
]

MakeProject = Callable[..., dict[str, Any]]


def category_ids(project: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["id"] for c in project["categories"]}


def add_assets(
    client: TestClient, owner: Owner, project_id: str, assets: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    response = client.post(
        f"{API}/projects/{project_id}/assets",
        headers=owner.headers,
        json={"assets": assets, **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def all_tasks(client: TestClient, owner: Owner, project_id: str, **params: Any) -> list[Any]:
    """Every task of the project, following the cursor."""
    items: list[Any] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(
            f"{API}/projects/{project_id}/tasks", headers=owner.headers, params=query
        )
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        cursor = body["next"]
        if cursor is None:
            return items


def png_bytes(width: int, height: int) -> bytes:
    """A real, decodable 8-bit RGB PNG: a red rectangle."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg_header(width: int, height: int, *, app_payload: int = 16) -> bytes:
    """The start of a baseline JPEG: SOI, a JFIF APP0, a large APP1 (as EXIF would be),
    fill bytes, then the SOF0 frame header that carries the size, and an SOS."""
    jfif = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    app1 = b"Exif\x00\x00" + b"\xab" * app_payload
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    sos = b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00"

    def segment(marker: int, data: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(data) + 2) + data

    return (
        b"\xff\xd8"
        + segment(0xE0, jfif)
        + segment(0xE1, app1)
        + b"\xff\xff"
        + segment(0xC0, sof)
        + segment(0xDA, sos)
        + b"\x00" * 64
    )
