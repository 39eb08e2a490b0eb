"""The SDK's HTTP data paths (export streams, uploads, CSVs), on the standard library.

Callbacks are usually sync and run in worker threads, so these calls block; bulk data
streams in both directions and is never held whole in memory.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

TIMEOUT = 60.0
CHUNK_SIZE = 256 * 1024


class HubHTTPError(Exception):
    """The hub (or storage) answered a data request with an error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class DataClient:
    """Requests to one job's data paths, authenticated with its job token."""

    def __init__(self, base_url: str, token: str) -> None:
        self._base = base_url.rstrip("/")
        self._token = token

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self._base + path_or_url

    def lines(self, path: str) -> Iterator[bytes]:
        """GET a streamed response line by line (NDJSON, CSV)."""
        connection, response = self._open("GET", self.url(path), auth=True)
        try:
            while line := response.readline():
                yield line
        finally:
            connection.close()

    def put(
        self,
        url: str,
        body: Iterable[bytes],
        *,
        size: int | None,
        auth: bool,
        content_type: str = "application/octet-stream",
    ) -> dict[str, Any]:
        """PUT a stream: with Content-Length when the size is known, else chunked."""
        headers = {"Content-Type": content_type}
        if size is not None:
            headers["Content-Length"] = str(size)
        connection, response = self._open(
            "PUT", self.url(url), auth=auth, body=body, headers=headers, chunked=size is None
        )
        try:
            raw = response.read()
        finally:
            connection.close()
        return _json_or_empty(raw)

    def post_json(self, path: str, payload: Any) -> dict[str, Any]:
        body = json.dumps(payload).encode("utf-8")
        connection, response = self._open(
            "POST",
            self.url(path),
            auth=True,
            body=[body],
            headers={"Content-Type": "application/json", "Content-Length": str(len(body))},
        )
        try:
            raw = response.read()
        finally:
            connection.close()
        return _json_or_empty(raw)

    def _open(
        self,
        method: str,
        url: str,
        *,
        auth: bool,
        body: Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        chunked: bool = False,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parts = urllib.parse.urlsplit(url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.netloc, timeout=TIMEOUT)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        all_headers = dict(headers or {})
        if auth:
            all_headers["Authorization"] = f"Bearer {self._token}"
        try:
            connection.request(
                method, target, body=body, headers=all_headers, encode_chunked=chunked
            )
            response = connection.getresponse()
        except BaseException:
            connection.close()
            raise
        if response.status >= 300:
            message = _error_text(response.read())
            connection.close()
            raise HubHTTPError(response.status, message)
        return connection, response


def _json_or_empty(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error_text(raw: bytes) -> str:
    try:
        return str(json.loads(raw)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return raw.decode("utf-8", "replace")[:500] or "no details"
