"""The hub's JSON responses: what Starlette's would say, rendered by pydantic-core."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.responses import JSONResponse as StarletteJSONResponse  # noqa: TID251

from hub.http.responses import JSONResponse

CONTENTS: list[Any] = [
    {"items": [{"id": "0192ab", "status": "queued", "progress": None}], "next": None},
    {"name": "Ünïcødé ✓ 日本", "quote": 'say "hi"\n', "nested": {"a": [1, 2.5, -3, True]}},
    [1e20, 0.1, 123456789012345678, -0.0],
    "plain",
    None,
]


@pytest.mark.parametrize("content", CONTENTS)
def test_the_same_json_as_starlette_and_compact_utf8(content: Any) -> None:
    ours = JSONResponse(content).body
    theirs = StarletteJSONResponse(content).body
    assert json.loads(ours) == json.loads(theirs)
    assert b": " not in ours
    assert b", " not in ours
    if isinstance(content, dict) and "name" in content:
        assert "Ünïcødé ✓ 日本".encode() in ours  # not \\u-escaped


def test_headers_and_status_are_starlettes() -> None:
    response = JSONResponse({"a": 1}, status_code=202, headers={"X-A": "b"})
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-a"] == "b"
    assert response.headers["content-length"] == str(len(response.body))
