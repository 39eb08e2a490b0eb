"""The hub's `/io` job data paths for one local job, on a loopback HTTP server.

`ango_plugins_sdk.testing` runs a callback with no hub; the job's bulk data still travels
over HTTP, exactly as in production, to this stand-in. It answers like hub/api/job_io.py
and the job types' data paths (hub/job_types/): the same paths, token rule, answers and
error shapes, from plain data given up front, and it records what the callback sends back
(the export file, markdown documents, imported items and uploaded bytes).

Standard library only: a `ThreadingHTTPServer` on 127.0.0.1, port 0, in a daemon thread.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from ango_plugins_sdk._markdown import MarkdownDocument
from ango_plugins_sdk.protocol import JobType
from ango_plugins_sdk.protocol.listing import ImportItem
from ango_plugins_sdk.protocol.workspace import AssetIn

MAX_ASSETS_PER_REQUEST = 1000
"""The hub's cap on documents or items in one request (hub/job_types/markdown.py)."""


class _Refused(Exception):
    """An error answer: `{"error": {"code", "message"}}`, as the hub's handlers give."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    location: str | None = None


def _json(body: dict[str, Any], status: int = 200) -> _Answer:
    return _Answer(status, json.dumps(body).encode("utf-8"))


@dataclass(frozen=True)
class _Request:
    param: str
    """The `{asset_id}` of `assets/{asset_id}`; "" for the other paths."""
    query: dict[str, str]
    body: bytes
    content_type: str


Route = Callable[[_Request], _Answer]


@dataclass
class Uploaded:
    """The export file the callback uploaded (`PUT .../artifact`)."""

    data: bytes
    content_type: str


@dataclass
class LocalIO:
    """One job's data: what its paths serve, and what the callback sent to them."""

    job_type: JobType
    job_id: str
    attempt: int
    token: str
    operation: str | None = None
    tasks: bytes = b""
    """Export: the NDJSON the tasks path streams."""
    assets: dict[str, bytes | str] = field(default_factory=dict)
    """Model: "" -> the task's image; batch model: asset id -> its image. Bytes are served,
    a URL (str) is a 307 redirect to it, as the hub does for an asset by URL."""
    csv: bytes = b""
    dedupe: bool = False
    """Markdown (the job's config) and import (its input): skip a repeated external id."""
    batch: str | None = None
    # What the callback sent:
    artifact: Uploaded | None = None
    documents: list[MarkdownDocument] = field(default_factory=list)
    imported: list[ImportItem] = field(default_factory=list)
    _seen_ids: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> dict[str, Any] | None:
        """The `io` block of the job's input (token included), as the hub's
        `dispatch_input` builds it; None for jobs that get no data paths."""
        base = f"/io/jobs/{self.job_id}/"
        if self.job_type is JobType.EXPORT:
            key = f"artifacts/{self.job_id}/{self.attempt}/export"
            paths: dict[str, Any] = {
                "tasks_url": base + "tasks",
                "upload": {"url": base + "artifact", "auth": True, "key": key},
            }
        elif self.job_type is JobType.MODEL:
            paths = {"asset_url": base + "asset"}
        elif self.job_type is JobType.BATCH_MODEL:
            paths = {"assets_url": base + "assets/"}
        elif self.job_type is JobType.MARKDOWN:
            paths = {"csv_url": base + "csv", "documents_url": base + "documents"}
        elif self.job_type is JobType.FILE_EXPLORER and self.operation != "list":
            paths = {"items_url": base + "items", "upload_url": base + "upload"}
        else:
            return None
        return {"token": self.token, **paths}

    # --- the paths ------------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: Any, body: bytes) -> _Answer:
        """The answer to one request, as hub/api/job_io.py gives it; raises `_Refused`."""
        parts = urllib.parse.urlsplit(target)
        segments = parts.path.split("/", 4)  # "", "io", "jobs", job_id, name
        if len(segments) < 5 or segments[:3] != ["", "io", "jobs"]:
            raise _Refused(404, "not_found", f"no route {parts.path!r}")
        scheme, _, token = str(headers.get("Authorization", "")).partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            missing = "send the job token as 'Authorization: Bearer <token>'"
            raise _Refused(401, "unauthenticated", missing)
        if token.strip() != self.token:
            raise _Refused(401, "unauthenticated", "invalid job token")
        if segments[3] != self.job_id:
            raise _Refused(403, "forbidden", "this token is for another job")
        name = segments[4]
        query = dict(urllib.parse.parse_qsl(parts.query))
        content_type = str(headers.get("Content-Type") or "application/octet-stream")
        for (route_method, route), handler in self._routes().items():
            prefix = route.endswith("/")
            if method == route_method and (name == route or (prefix and name.startswith(route))):
                param = name.removeprefix(route) if prefix else ""
                return handler(_Request(param, query, body, content_type))
        known = {"tasks", "artifact", "csv", "documents", "asset", "items", "upload"}
        if name in known or name.startswith("assets/"):
            raise _Refused(403, "forbidden", f"this data path is not for {self.job_type} jobs")
        raise _Refused(404, "not_found", f"no data path {name!r}")

    def _routes(self) -> dict[tuple[str, str], Route]:
        if self.job_type is JobType.EXPORT:
            return {("GET", "tasks"): self._tasks, ("PUT", "artifact"): self._artifact}
        if self.job_type is JobType.MODEL:
            return {("GET", "asset"): self._asset}
        if self.job_type is JobType.BATCH_MODEL:
            return {("GET", "assets/"): self._asset}
        if self.job_type is JobType.MARKDOWN:
            return {("GET", "csv"): self._csv, ("POST", "documents"): self._documents}
        if self.job_type is JobType.FILE_EXPLORER and self.operation != "list":
            return {("POST", "items"): self._items, ("PUT", "upload"): self._upload}
        return {}

    def _tasks(self, _: _Request) -> _Answer:
        return _Answer(200, self.tasks, "application/x-ndjson")

    def _artifact(self, request: _Request) -> _Answer:
        with self._lock:
            self.artifact = Uploaded(request.body, request.content_type)
        return _json({"size": len(request.body)}, 201)

    def _asset(self, request: _Request) -> _Answer:
        image = self.assets.get(request.param)
        if image is None:
            raise _Refused(403, "forbidden", "that asset is not one of this chunk's tasks")
        if isinstance(image, str):
            return _Answer(307, location=image)
        return _Answer(200, image, "application/octet-stream")

    def _csv(self, _: _Request) -> _Answer:
        return _Answer(200, self.csv, "text/csv; charset=utf-8")

    def _documents(self, request: _Request) -> _Answer:
        sent = _list_of(request.body, "documents")
        documents: list[MarkdownDocument] = []
        for raw in sent:
            try:
                document = MarkdownDocument.model_validate(raw)
                AssetIn(
                    markdown=document.markdown,
                    external_id=document.external_id,
                    batch=document.batch,
                )
            except (ValidationError, ValueError) as exc:
                raise _Refused(422, "invalid", f"invalid document: {exc}") from None
            documents.append(document)
        with self._lock:
            self.documents.extend(documents)
            return _json(self._count([d.external_id for d in documents]))

    def _items(self, request: _Request) -> _Answer:
        items: list[ImportItem] = []
        for raw in _list_of(request.body, "items"):
            try:
                if not isinstance(raw, dict) or set(raw) - {
                    "url",
                    "external_id",
                    "width",
                    "height",
                }:
                    raise ValueError(f"an item has url, external_id, width and height: {raw!r}")
                AssetIn(**raw, batch=self.batch)
                items.append(ImportItem.model_validate(raw))
            except (ValidationError, ValueError, TypeError) as exc:
                raise _Refused(422, "invalid", f"invalid import item: {exc}") from None
        with self._lock:
            self.imported.extend(items)
            return _json(self._count([item.external_id for item in items]))

    def _upload(self, request: _Request) -> _Answer:
        external_id = request.query.get("external_id") or None
        filename = request.query.get("filename") or external_id or "file"
        with self._lock:
            self.imported.append(
                ImportItem(data=request.body, external_id=external_id, filename=filename)
            )
            counts = self._count([external_id])
        return _json(counts, 201 if counts["created"] else 200)

    def _count(self, external_ids: list[str | None]) -> dict[str, int]:
        """{"created", "skipped"}: with dedupe, an external id already sent is skipped (the
        local project starts empty, so "already in the project" is "sent earlier")."""
        created = skipped = 0
        for external_id in external_ids:
            if self.dedupe and external_id is not None and external_id in self._seen_ids:
                skipped += 1
                continue
            if external_id is not None:
                self._seen_ids.add(external_id)
            created += 1
        return {"created": created, "skipped": skipped}


def _list_of(body: bytes, key: str) -> list[Any]:
    try:
        sent = json.loads(body)
    except ValueError:
        raise _Refused(400, "bad_request", "the body is not JSON") from None
    found = sent.get(key) if isinstance(sent, dict) else None
    if not isinstance(found, list) or set(sent) != {key}:
        raise _Refused(422, "invalid", f'the body must be {{"{key}": [...]}}')
    if len(found) > MAX_ASSETS_PER_REQUEST:
        raise _Refused(422, "invalid", f"{key}: at most {MAX_ASSETS_PER_REQUEST} per request")
    return found


def _error_answer(status: int, code: str, message: str) -> _Answer:
    return _Answer(status, json.dumps({"error": {"code": code, "message": message}}).encode())


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: the SDK opens one each

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        io = self.server.io
        try:
            body = self._body() if method != "GET" else b""
            answer = io.answer(method, self.path, self.headers, body)
        except _Refused as refused:
            answer = _error_answer(refused.status, refused.code, str(refused))
        except Exception as exc:  # a request it cannot read: an error answer, as the hub's
            answer = _error_answer(500, "internal", f"{type(exc).__name__}: {exc}")
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        if answer.location is not None:
            self.send_header("Location", answer.location)
        self.end_headers()
        self.wfile.write(answer.body)

    def _body(self) -> bytes:
        """The request body: with a Content-Length, or chunked (an export of unknown size)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()  # the CRLF after the chunk
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(data)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the run's own logs are what a test reads


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, io: LocalIO) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.io = io


class LoopbackHub:
    """`io`'s paths served on 127.0.0.1 in a daemon thread, until `close()`."""

    def __init__(self, io: LocalIO) -> None:
        self.io = io
        self._server = _Server(io)
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="local-hub-io",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
