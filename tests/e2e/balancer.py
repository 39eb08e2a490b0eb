"""A round-robin TCP load balancer for the multi-node tests, run as its own process:

    python -m tests.e2e.balancer --port 9000 --backend 127.0.0.1:8001 --backend 127.0.0.1:8002

Each new connection goes to the next backend in turn; one that refuses the connection (a
node that is down) is skipped, as a balancer's health check would. Bytes are copied both
ways until either side closes: HTTP, keep-alive and WebSockets alike, with no stickiness.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools

CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class Balancer:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self._backends = backends
        self._turn = itertools.cycle(range(len(backends)))

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self._backends)):
            host, port = self._backends[next(self._turn)]
            with contextlib.suppress(OSError):
                return await asyncio.open_connection(host, port)
        return None

    async def handle(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        opened = await self._open()
        if opened is None:
            client.close()
            return
        backend_reader, backend = opened
        await asyncio.gather(_pipe(client_reader, backend), _pipe(backend_reader, client))


async def serve(port: int, backends: list[tuple[str, int]]) -> None:
    balancer = Balancer(backends)
    server = await asyncio.start_server(balancer.handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", action="append", required=True, help="host:port")
    args = parser.parse_args()
    backends = [(b.rsplit(":", 1)[0], int(b.rsplit(":", 1)[1])) for b in args.backend]
    asyncio.run(serve(args.port, backends))


if __name__ == "__main__":
    main()
