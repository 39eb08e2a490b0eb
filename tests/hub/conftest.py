"""Fixtures for in-process tests of the hub: a real app (lifespan included) on a temporary
database (SQLite, or PostgreSQL with HUB_TEST_DATABASE_URL: tests/databases.py), driven
through Starlette's TestClient, plus owners in two organizations."""

from __future__ import annotations

import base64
import functools
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

# starlette warns when its TestClient runs on `httpx` rather than `httpx2`; the suite turns
# warnings into errors, so import it once here with that one warning silenced.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient, WebSocketTestSession

from hub import security as hub_security
from hub.app import create_app
from hub.runtime import Hub
from hub.settings import Settings
from tests.timing import PATIENCE

T = TypeVar("T")

HEARTBEAT_INTERVAL = 0.2
HELLO_TIMEOUT = 1.0


@dataclass(frozen=True)
class Owner:
    """An owner account with its first API key."""

    organization: str
    organization_id: str
    user_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Owners are created with a password in every test; scrypt's interactive cost would
    be most of the suite's run time. API keys and plugin secrets are unaffected."""
    monkeypatch.setattr(hub_security, "_SCRYPT_N", 2**4)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Extra Settings fields; a test changes them with
    `@pytest.mark.parametrize("settings_overrides", [{...}])`."""
    return {}


@pytest.fixture
def settings(tmp_path: Any, database_url: str, settings_overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url,  # "": SQLite in tmp_path (tests/databases.py)
        "heartbeat_interval": HEARTBEAT_INTERVAL,
        "hello_timeout": HELLO_TIMEOUT,
    }
    values.update(settings_overrides)
    return Settings(**values)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def hub(client: TestClient) -> Hub:
    hub: Hub = client.app.state.hub  # type: ignore[attr-defined]
    return hub


@pytest.fixture
def call(client: TestClient) -> Callable[..., Any]:
    """Run a coroutine function on the app's event loop: `call(hub.store.create_schema)`."""

    def _call(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        assert client.portal is not None
        return client.portal.call(functools.partial(fn, *args, **kwargs))

    return _call


def _create_owner(call: Callable[..., Any], hub: Hub, organization: str) -> Owner:
    created = call(
        hub.accounts.create_user,
        email=f"owner@{organization}.example",
        password="correct horse battery staple",
        organization=organization,
    )
    return Owner(
        organization=organization,
        organization_id=created.principal.organization_id,
        user_id=created.principal.user_id,
        api_key=created.api_key,
    )


@pytest.fixture
def acme(call: Callable[..., Any], hub: Hub) -> Owner:
    return _create_owner(call, hub, "acme")


@pytest.fixture
def globex(call: Callable[..., Any], hub: Hub) -> Owner:
    return _create_owner(call, hub, "globex")


@pytest.fixture
def make_plugin(client: TestClient) -> Callable[..., dict[str, Any]]:
    """Register a plugin through the API; returns the 201 body (with `id` and `secret`)."""

    def _make(owner: Owner, **fields: Any) -> dict[str, Any]:
        body = {"name": "test plugin", "type": "custom", **fields}
        response = client.post("/api/v1/plugins", headers=owner.headers, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    return _make


def basic_auth(plugin_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{plugin_id}:{secret}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def connect(client: TestClient) -> Callable[..., WebSocketTestSession]:
    """Open /ws/plugin as a plugin: `with connect(plugin_id, secret) as ws: ...`."""

    def _connect(plugin_id: str, secret: str) -> WebSocketTestSession:
        return client.websocket_connect("/ws/plugin", headers=basic_auth(plugin_id, secret))

    return _connect


def wait_until(
    predicate: Callable[[], T | None], *, timeout: float = PATIENCE, what: str = ""
) -> T:
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.005)
