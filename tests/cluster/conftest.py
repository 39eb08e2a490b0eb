"""Several hub nodes in one test: real apps (each on its own TestClient, its own event
loop) sharing a fresh PostgreSQL database and an S3 bucket on moto's server, so that every
path between nodes goes through the database, as in production."""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from hub.app import create_app
from hub.runtime import Hub
from hub.settings import Settings
from tests.databases import PostgresServer
from tests.e2e.harness import MotoServer
from tests.hub.conftest import Owner

LEASE_TTL = 0.6
_names = itertools.count()


@pytest.fixture
def database_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh PostgreSQL database with today's schema, this test's alone, whatever the
    suite's switch says: several nodes exist only on PostgreSQL (the tests skip, saying why,
    when no server answers)."""
    with postgres.database() as url:
        yield url


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def storage_url(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in moto.env.items():
        monkeypatch.setenv(name, value)
    bucket = f"hub-{os.getpid()}-{next(_names)}"
    moto.create_bucket(bucket)
    return f"s3://{bucket}/blobs"


@dataclass
class Node:
    client: TestClient
    hub: Hub
    stopped: bool = False

    def stop(self) -> None:
        """Stop the node gracefully (its lifespan's shutdown), as SIGTERM would."""
        if not self.stopped:
            self.stopped = True
            self.client.__exit__(None, None, None)

    def role(self) -> str:
        role: str = self.client.get("/healthz").json()["role"]
        return role

    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run a coroutine function on this node's event loop."""
        assert self.client.portal is not None
        return self.client.portal.call(lambda: fn(*args, **kwargs))


StartNode = Callable[..., Node]


@pytest.fixture
def start_node(tmp_path: Path, database_url: str, storage_url: str) -> Iterator[StartNode]:
    """Start a node of the hub on the test's database; all stopped at the end."""
    started: list[Node] = []

    def start(**overrides: Any) -> Node:
        values: dict[str, Any] = {
            "data_dir": tmp_path / f"node{len(started)}",
            "database_url": database_url,
            "storage_url": storage_url,
            "secret_key": "one-key-for-every-node",
            "heartbeat_interval": 0.2,
            "hello_timeout": 2.0,
            "dispatcher_lease_ttl": LEASE_TTL,
        }
        values.update(overrides)
        client = TestClient(create_app(Settings(**values)))
        client.__enter__()
        node = Node(client, client.app.state.hub)  # type: ignore[attr-defined]
        started.append(node)
        return node

    yield start
    for node in reversed(started):
        node.stop()


@pytest.fixture
def owner(start_node: StartNode) -> Callable[[Node], Owner]:
    """An owner account made through one node (every node sees it)."""

    def make(node: Node) -> Owner:
        created = node.call(
            node.hub.accounts.create_user,
            email="owner@acme.example",
            password="correct horse battery staple",
            organization="acme",
        )
        return Owner(
            organization="acme",
            organization_id=created.principal.organization_id,
            user_id=created.principal.user_id,
            api_key=created.api_key,
        )

    return make
