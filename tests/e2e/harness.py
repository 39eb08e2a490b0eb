"""Real processes for end-to-end tests: a `plugin-hub serve` and plugin scripts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

PLUGINS_DIR = Path(__file__).parent / "plugins"
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> float:
    """Poll until `predicate()` is true; return seconds waited, or raise AssertionError."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class HubProcess:
    """`plugin-hub serve` in a subprocess, on a free loopback port, with its own data dir.

    `database_url` is the `database_url` fixture's (tests/conftest.py): "" for SQLite in the
    data dir, or the test's own PostgreSQL database. It has no default, so that no test can
    forget it and leave a hub on SQLite in a run that is meant to be on PostgreSQL."""

    def __init__(
        self, data_dir: Path, *, database_url: str, env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "HUB_DATA_DIR": str(data_dir),
            "HUB_DATABASE_URL": database_url,
            "HUB_HEARTBEAT_INTERVAL": "0.5",
            # Short leases and delays so that recovery happens within a test's patience.
            "HUB_LEASE_TTL": "2",
            "HUB_ACCEPT_TIMEOUT": "2",
            "HUB_RETRY_DELAY": "0.1",
            "HUB_CANCEL_GRACE": "1.5",
            "HUB_MAX_ATTEMPTS": "5",
            "HUB_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.log_path = data_dir / "hub.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.api_key = ""

    def cli(self, *args: str) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-m", "hub.cli", *args],
            env=self.env,
            capture_output=True,
            check=True,
            timeout=60,
        )
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def create_admin(self, email: str = "owner@acme.test", org: str = "acme") -> str:
        self.api_key = self.cli(
            "admin", "create", "--email", email, "--password", "pw-12345678", "--org", org
        )["api_key"]
        return self.api_key

    def start(self, timeout: float = 20.0) -> float:
        """Start and wait for /healthz; returns the seconds it took."""
        self.launch()
        return self.wait_healthy(timeout)

    def launch(self) -> HubProcess:
        """Start the process without waiting for it (several hubs starting at once)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the fd
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
            )
        return self

    def wait_healthy(self, timeout: float = 20.0) -> float:
        """Wait for /healthz to answer 200 (AssertionError with the log if the hub exits)."""
        return wait_until(self._healthy, timeout, interval=0.05)

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"hub exited with {self.process.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(
        self, method: str, path: str, *, key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.api_key}"}
        return httpx.request(
            method, f"{self.url}/api/v1{path}", headers=headers, timeout=10, **kwargs
        )

    def create_plugin(
        self, name: str = "echo", type_: str = "custom", **fields: Any
    ) -> tuple[str, str]:
        response = self.api("POST", "/plugins", json={"name": name, "type": type_, **fields})
        assert response.status_code == 201, response.text
        body = response.json()
        return body["id"], body["secret"]

    def plugin(self, plugin_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/plugins/{plugin_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def submit(self, plugin_id: str, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        response = self.api("POST", f"/plugins/{plugin_id}/jobs/batch", json={"jobs": jobs})
        assert response.status_code == 202, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def logs(self, job_id: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        cursor = "0"
        while True:
            page = self.api("GET", f"/jobs/{job_id}/logs", params={"cursor": cursor, "limit": 200})
            assert page.status_code == 200, page.text
            items = page.json()["items"]
            if not items:
                return records
            records += items
            cursor = page.json()["next"]

    def jobs(self, plugin_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """Every job of the plugin (all pages)."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"plugin_id": plugin_id, "limit": 200}
        if status:
            params["status"] = status
        while True:
            page = self.api("GET", "/jobs", params=params).json()
            found += page["items"]
            if page["next"] is None:
                return found
            params["cursor"] = page["next"]

    def is_live(self, plugin_id: str) -> bool:
        return bool(self.plugin(plugin_id)["live"])


class PluginProcess:
    """A plugin script from tests/e2e/plugins run as its own process, configured by env."""

    def __init__(
        self,
        script: str,
        *,
        hub: HubProcess,
        plugin_id: str,
        secret: str,
        env: dict[str, str] | None = None,
    ) -> None:
        # A bare name is a test plugin in tests/e2e/plugins; a path is relative to the repo.
        path = REPO_ROOT / script if "/" in script else PLUGINS_DIR / f"{script}.py"
        self.log_path = hub.data_dir / f"plugin-{path.stem}-{time.monotonic_ns()}.log"
        self.args = [sys.executable, str(path)]
        self.env = {
            **os.environ,
            "PLUGIN_ID": plugin_id,
            "PLUGIN_SECRET": secret,
            "HUB_URL": hub.url,
            "PYTHONPATH": str(REPO_ROOT),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PluginProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        for sig in (signal.SIGCONT, signal.SIGKILL):
            self.process.send_signal(sig)
        self.process.wait(10)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class MotoServer:
    """moto's standalone S3-compatible server as a real process on a loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.url,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._up, timeout=30, interval=0.1)
        return self

    def _up(self) -> bool:
        try:
            return httpx.get(self.url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
