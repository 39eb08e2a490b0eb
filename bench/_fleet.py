"""A fleet of plugin connections in one process, for bench/reconnect.py: each is the SDK's
own `HubConnection` (its handshake, heartbeats and reconnect policy) with a job side that
holds nothing, so thousands fit in a few processes.

    python bench/_fleet.py HUB_URL CREDENTIALS_JSON FIRST COUNT
"""

from __future__ import annotations

import asyncio
import json
import sys

from ango_plugins_sdk._connection import HubConnection, Sender
from ango_plugins_sdk._transport import WebsocketsTransport
from ango_plugins_sdk.protocol import Ack, Backoff, Cancel, Job, JobRef, JobType


class IdleJobs:
    """A process that never gets work in this benchmark (no job is submitted)."""

    def held_jobs(self) -> list[JobRef]:
        return []

    async def attach(self, send: Sender, max_message_size: int) -> None:
        return None

    def detach(self) -> None:
        return None

    async def on_message(self, message: Job | Cancel | Ack) -> None:
        return None

    async def shutdown(self, send: Sender | None) -> None:
        return None


async def main(url: str, credentials: list[list[str]], first: int, count: int) -> None:
    transport = WebsocketsTransport()
    stop = asyncio.Event()
    connections = []
    for n in range(first, first + count):
        plugin_id, secret = credentials[n % len(credentials)]
        connection = HubConnection(
            plugin_id=plugin_id,
            secret=secret,
            host=url,
            plugin_version="1.0",
            job_type=JobType.CUSTOM,
            capacity=1,
            jobs=IdleJobs(),
            transport=transport,
            backoff=Backoff(),  # the SDK's default schedule
        )
        connections.append(asyncio.create_task(connection.run(stop)))
        if n % 50 == 49:
            await asyncio.sleep(0.01)  # a fleet starting up, not one burst
    print("started", flush=True)
    await asyncio.gather(*connections)


if __name__ == "__main__":
    with open(sys.argv[2]) as file:
        creds = json.load(file)
    asyncio.run(main(sys.argv[1], creds, int(sys.argv[3]), int(sys.argv[4])))
