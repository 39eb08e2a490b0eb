"""One cap on every JSON request body (HUB_MAX_BODY_SIZE), enforced before the body is
buffered: a declared length over it is refused unread, a chunked body as it arrives."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient

from tests.hub.conftest import Owner

CAP = 4096
CHUNK = 1024
NO_SUCH_ID = "0" * 24

capped = pytest.mark.parametrize("settings_overrides", [{"max_body_size": CAP}])

# Every API route that parses a JSON body. Ids need not exist: the body is read first.
JSON_ROUTES = [
    ("POST", "/api/v1/plugins"),
    ("PATCH", f"/api/v1/plugins/{NO_SUCH_ID}"),
    ("POST", f"/api/v1/plugins/{NO_SUCH_ID}/jobs"),
    ("POST", f"/api/v1/plugins/{NO_SUCH_ID}/jobs/batch"),
    ("POST", "/api/v1/projects"),
    ("PUT", f"/api/v1/tasks/{NO_SUCH_ID}/annotations"),
    ("PATCH", f"/api/v1/tasks/{NO_SUCH_ID}"),
    ("PUT", f"/api/v1/projects/{NO_SUCH_ID}/stages/review/plugin"),
]


def too_large(response: Any) -> str:
    """The 413's message, after checking its status and error shape."""
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "too_large"
    message: str = error["message"]
    return message


def oversized_json(size: int) -> bytes:
    return json.dumps({"name": "x", "description": "d" * size}).encode()


@capped
@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_every_json_route_refuses_a_body_over_the_cap(
    client: TestClient, acme: Owner, method: str, path: str
) -> None:
    response = client.request(
        method,
        path,
        headers={**acme.headers, "Content-Type": "application/json"},
        content=oversized_json(CAP),
    )
    assert str(CAP) in too_large(response)


@capped
def test_a_body_at_the_cap_is_accepted(client: TestClient, acme: Owner) -> None:
    body = json.dumps({"name": "fits", "type": "custom"}).encode()
    body += b" " * (CAP - len(body))  # JSON allows trailing whitespace
    assert len(body) == CAP
    response = client.post("/api/v1/plugins", headers=acme.headers, content=body)
    assert response.status_code == 201, response.text


async def _post_raw(
    app: Any, path: str, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, dict[str, Any], int]:
    """POST straight to the ASGI app: (status, JSON body, body bytes the app pulled)."""
    pending = list(chunks)
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if not pending:
            await anyio.sleep_forever()
        chunk = pending.pop(0)
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    with anyio.fail_after(10):
        await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), pulled


Call = Callable[..., Any]


@capped
def test_a_declared_length_over_the_cap_is_refused_before_any_of_the_body_is_read(
    client: TestClient, call: Call, acme: Owner
) -> None:
    body = oversized_json(10 * CAP)
    chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
    headers = {**acme.headers, "content-length": str(len(body))}
    status, answer, pulled = call(_post_raw, client.app, "/api/v1/plugins", headers, chunks)
    assert (status, answer["error"]["code"]) == (413, "too_large")
    assert pulled == 0


@capped
def test_a_body_without_a_length_is_counted_as_it_arrives(
    client: TestClient, call: Call, acme: Owner
) -> None:
    body = oversized_json(100 * CAP)
    chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
    status, answer, pulled = call(_post_raw, client.app, "/api/v1/plugins", acme.headers, chunks)
    assert (status, answer["error"]["code"]) == (413, "too_large")
    assert str(CAP) in answer["error"]["message"]
    # Refused as soon as the count passed the cap: at most one chunk past it was read.
    assert pulled <= CAP + CHUNK


@capped
def test_streamed_uploads_keep_their_own_larger_limit(client: TestClient, acme: Owner) -> None:
    content = b"a,b\n" + b"1,2\n" * (4 * CAP)
    response = client.post(
        "/api/v1/files", params={"filename": "big.csv"}, headers=acme.headers, content=content
    )
    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(content)


def test_the_default_cap_admits_a_full_batch_of_jobs(
    client: TestClient, acme: Owner, make_plugin: Callable[..., dict[str, Any]]
) -> None:
    """The biggest body a client legitimately sends: 1000 jobs, each with a few KiB of
    config (real configs are a few hundred bytes)."""
    plugin = make_plugin(acme)
    config = {"prompt": "p" * 3000, "threshold": 0.5, "classes": ["car", "person"]}
    jobs = [{"config": config, "input": {"n": n}} for n in range(1000)]
    body = json.dumps({"jobs": jobs}).encode()
    assert len(body) > 3_000_000
    response = client.post(
        f"/api/v1/plugins/{plugin['id']}/jobs/batch", headers=acme.headers, content=body
    )
    assert response.status_code == 202, response.text[:300]
    assert len(response.json()["items"]) == 1000
