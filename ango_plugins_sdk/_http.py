"""The SDK's HTTP data paths (export streams, uploads, CSVs), on the standard library.

Callbacks are usually sync and run in worker threads, so these calls block; bulk data
streams in both directions and is never held whole in memory.
"""

from __future__ import annotations

import http.client
import io
import json
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

TIMEOUT = 60.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
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

    def open(self, path_or_url: str, *, max_redirects: int = 3) -> io.BufferedReader:
        """GET a body as a stream, following redirects; the job token goes to the hub only."""
        url, auth = self.url(path_or_url), True
        for _ in range(max_redirects + 1):
            connection, response = self._open("GET", url, auth=auth, follow=True)
            if response.status not in _REDIRECTS:
                return io.BufferedReader(BinaryStream(connection, response), CHUNK_SIZE)
            location = response.getheader("Location") or ""
            connection.close()
            url, auth = urllib.parse.urljoin(url, location), False
        raise HubHTTPError(310, f"more than {max_redirects} redirects for {path_or_url}")

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
        follow: bool = False,
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
        if response.status >= 300 and not (follow and response.status in _REDIRECTS):
            message = _error_text(response.read())
            connection.close()
            raise HubHTTPError(response.status, message)
        return connection, response


class BinaryStream(io.RawIOBase):
    """A response body as a read-only binary file; closing it closes the connection."""

    def __init__(
        self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> None:
        self._connection = connection
        self._response = response

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._response.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._connection.close()
        super().close()


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
