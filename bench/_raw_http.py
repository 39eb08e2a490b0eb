"""A keep-alive HTTP/1.1 client too cheap to matter: what a server's request path costs
shows, not the client's. One request in flight per connection, JSON bodies, no TLS."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class RawConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> RawConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: bytes = b""
    ) -> tuple[int, bytes]:
        """(status, body) of one request on this connection."""
        self._writer.write(
            f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n".encode()
            + headers
            + b"content-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self._reader.readexactly(length)

    async def json(
        self, method: str, path: str, payload: Any = None, headers: bytes = b""
    ) -> tuple[int, Any]:
        body = b"" if payload is None else json.dumps(payload).encode()
        status, answer = await self.request(method, path, body, headers)
        return status, json.loads(answer) if answer else None

    def close(self) -> None:
        self._writer.close()


async def hammer(
    port: int, path: str, body: bytes, *, requests: int, connections: int, headers: bytes = b""
) -> tuple[float, list[bytes]]:
    """POST `body` to `path` `requests` times over `connections` keep-alive connections;
    (requests per second, the answers' bodies). Any status but 2xx stops the run."""
    opened = [await RawConnection.open(port) for _ in range(connections)]
    answers: list[bytes] = []
    remaining = requests

    async def drive(connection: RawConnection) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status, answer = await connection.request("POST", path, body, headers)
            if not 200 <= status < 300:
                raise RuntimeError(f"POST {path} answered {status}: {answer[:300]!r}")
            answers.append(answer)

    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await asyncio.gather(*(drive(c) for c in opened))
    finally:
        for connection in opened:
            connection.close()
    return requests / (loop.time() - started), answers
