"""Idle and half-sent connections are closed, and more connections than the process has file
descriptors degrade gracefully: a real `plugin-hub serve`, raw sockets on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import HubProcess, PluginProcess, wait_until
from tests.timing import PATIENCE

StartPlugin = Callable[..., PluginProcess]

HEADER_TIMEOUT = "1"
FD_LIMIT = 256
FLOOD = 300
"""More idle connections than the hub has file descriptors."""

HALF_REQUEST = b"POST /api/v1/plugins HTTP/1.1\r\nHost: hub\r\nContent-Ty"


class LimitedHub(HubProcess):
    """A hub started with a soft and hard RLIMIT_NOFILE of `fd_limit`, so it cannot raise it."""

    def __init__(
        self, data_dir: Path, *, database_url: str, fd_limit: int, env: dict[str, str]
    ) -> None:
        super().__init__(data_dir, database_url=database_url, env=env)
        self.fd_limit = fd_limit

    def start(self, timeout: float = 20.0) -> float:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Lowered in the child itself, then exec'd: no preexec_fn in a threaded test run.
        launcher = (
            "import os, resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({self.fd_limit}, {self.fd_limit})); "
            "os.execv(sys.executable, [sys.executable, '-m', 'hub.cli', *sys.argv[1:]])"
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", launcher, "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
            )
        return wait_until(self._healthy, timeout, interval=0.05)


@pytest.fixture
def fd_limit() -> int | None:
    """None: the hub's usual limit; a test parametrizes it to squeeze the hub."""
    return None


@pytest.fixture
def hub(tmp_path: Path, database_url: str, fd_limit: int | None) -> Iterator[HubProcess]:
    env = {"HUB_HEADER_TIMEOUT": HEADER_TIMEOUT}
    data_dir = tmp_path / "hub"
    process = (
        HubProcess(data_dir, database_url=database_url, env=env)
        if fd_limit is None
        else LimitedHub(data_dir, database_url=database_url, fd_limit=fd_limit, env=env)
    )
    process.create_admin()
    process.start()
    yield process
    process.stop()


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Raw client sockets a test opens; all closed at the end."""
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def open_socket(hub: HubProcess, opened: list[socket.socket], send: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", hub.port), timeout=PATIENCE)
    opened.append(sock)
    if send:
        sock.sendall(send)
    return sock


def closed_by_hub(sock: socket.socket, deadline: float) -> bool:
    """Read until the hub closes the connection (True) or the deadline passes (False)."""
    try:
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def still_open(socks: list[socket.socket]) -> list[socket.socket]:
    deadline = time.monotonic() + PATIENCE
    return [sock for sock in socks if not closed_by_hub(sock, deadline)]


def once_served(request: Callable[[], httpx.Response]) -> httpx.Response:
    """`request`'s answer, retried while the hub refuses new connections (it is full)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            response = request()
            if response.status_code != 503 or time.monotonic() > deadline:
                return response
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def connected_plugin(hub: HubProcess, start_plugin: StartPlugin) -> tuple[str, dict[str, Any]]:
    """A plugin with one live process: its id and its connection."""
    plugin_id, secret = hub.create_plugin()
    start_plugin("echo", plugin_id, secret)
    wait_until(lambda: hub.is_live(plugin_id), timeout=PATIENCE)
    (connection,) = hub.plugin(plugin_id)["connections"]
    return plugin_id, connection


def test_idle_and_half_sent_requests_are_closed_but_plugins_stay(
    hub: HubProcess, start_plugin: StartPlugin, sockets: list[socket.socket]
) -> None:
    plugin_id, connection = connected_plugin(hub, start_plugin)

    idle = [open_socket(hub, sockets) for _ in range(3)]
    half = [open_socket(hub, sockets, HALF_REQUEST) for _ in range(3)]
    # A head that never ends: httptools would buffer it for as long as it kept coming.
    endless = open_socket(hub, sockets, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 100_000)
    # A keep-alive connection answered once, then sending half of its next request.
    again = open_socket(hub, sockets, b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
    assert again.recv(65536).startswith(b"HTTP/1.1 200")
    again.sendall(b"GET /healthz HTTP/1.1\r\nHo")

    assert endless.recv(65536).startswith(b"HTTP/1.1 431")  # refused as it comes, not later
    assert still_open([*idle, *half, endless, again]) == []
    # The plugin's WebSocket, open far longer than the header timeout, is the same one.
    assert hub.plugin(plugin_id)["connections"][0]["id"] == connection["id"]
    assert httpx.get(f"{hub.url}/healthz", timeout=PATIENCE).status_code == 200


@pytest.mark.parametrize("fd_limit", [FD_LIMIT])
def test_more_connections_than_file_descriptors_degrade_gracefully(
    hub: HubProcess, start_plugin: StartPlugin, sockets: list[socket.socket]
) -> None:
    plugin_id, connection = connected_plugin(hub, start_plugin)

    flood = [open_socket(hub, sockets, HALF_REQUEST if n % 3 else b"") for n in range(FLOOD)]

    # New connections are refused while the hub is full, and served once idle ones are reaped.
    health = once_served(lambda: httpx.get(f"{hub.url}/healthz", timeout=5))
    assert health.status_code == 200
    submitted = once_served(
        lambda: hub.api("POST", f"/plugins/{plugin_id}/jobs", json={"config": {"n": 1}})
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    wait_until(lambda: hub.job(job_id)["status"] == "succeeded", timeout=PATIENCE)

    # The plugin connected before the flood kept its connection throughout.
    assert [c["id"] for c in hub.plugin(plugin_id)["connections"]] == [connection["id"]]
    assert still_open(flood) == []
    assert hub.process is not None
    assert hub.process.poll() is None
    log = hub.log()
    assert "Too many open files" not in log
    assert "connection limit" in log
