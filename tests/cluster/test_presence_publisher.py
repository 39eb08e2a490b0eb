"""The dispatcher publishes its plugin processes by difference: what came, went or changed
load since the last publication; a term's first publication (and the one after a failure)
replaces the whole table."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from ango_plugins_sdk.protocol import CloseCode, MessageTooLarge
from hub.cluster.presence import Publisher
from hub.db import Store
from hub.db.cluster_tables import LiveProcess
from hub.jobs.live import LiveConnection, LiveRegistry

_numbers = itertools.count(1)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = Store(database_url)
    yield store
    await store.close()


def connection(plugin_id: str = "p1") -> LiveConnection:
    async def send(_messages: object) -> dict[int, MessageTooLarge]:
        return {}

    async def close(_code: CloseCode, _reason: str) -> None:
        return None

    number = next(_numbers)
    return LiveConnection(
        id=f"conn-{number}",
        plugin_id=plugin_id,
        sdk_version="1.0",
        plugin_version="1.0",
        hostname="host",
        pid=number,
        capacity=4,
        close=close,
        send=send,
    )


async def published(store: Store) -> dict[str, tuple[str, int]]:
    async with store.read() as session:
        rows = await session.scalars(select(LiveProcess))
        return {row.connection_id: (row.node_id, row.running) for row in rows}


async def test_only_what_changed_is_written_and_the_table_follows_the_registry(
    store: Store,
) -> None:
    stale = Publisher(store, registry := LiveRegistry(), node_id="dead-node")
    gone_with_its_node = connection()
    registry.add(gone_with_its_node)
    await stale.publish()  # an earlier dispatcher's rows

    live = LiveRegistry()
    first, second, third = connection(), connection(), connection("p2")
    for each in (first, second, third):
        live.add(each)
    publisher = Publisher(store, live, node_id="me")
    await publisher.publish()
    assert await published(store) == {c.id: ("me", 0) for c in (first, second, third)}

    live.remove(second)
    fourth = connection()
    live.add(fourth)
    first.running = 3
    third.last_heartbeat_at = datetime.now(UTC)
    await publisher.publish()
    assert await published(store) == {
        first.id: ("me", 3),
        third.id: ("me", 0),
        fourth.id: ("me", 0),
    }


async def test_a_round_with_nothing_new_writes_nothing(store: Store) -> None:
    live = LiveRegistry()
    live.add(connection())
    publisher = Publisher(store, live, node_id="me")
    await publisher.publish()
    writes = 0
    real_write = store.write

    def counting_write() -> object:
        nonlocal writes
        writes += 1
        return real_write()

    store.write = counting_write  # type: ignore[method-assign]
    await publisher.publish()
    assert writes == 0
    live.add(connection())
    await publisher.publish()
    assert writes == 1
