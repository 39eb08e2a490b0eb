"""How fast the dashboard's pages answer, and how soon a live light changes.

    .venv/bin/python bench/dashboard.py [--plugins 200] [--jobs 5000] [--tasks 2000] [--rounds 50]

Starts a real `plugin-hub serve`, fills it (plugins, queued jobs, URL tasks), signs in
through the sign-in form and then prints, per page, the median and p99 of --rounds
sequential GETs (server time plus loopback, as a browser would see it minus rendering).

Then the live light: a raw WebSocket client plays a plugin process (welcome, hello, close)
while an `/events/plugins` stream is read, and it prints hello -> the stream says live, and
close -> the stream says offline (median and worst of 20). That is the dashboard's own part
of "the light changes within a second"; a real process adds its own start-up before hello.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._stats import percentile  # noqa: E402
from tests.e2e.harness import HubProcess  # noqa: E402

EMAIL, PASSWORD = "owner@acme.test", "pw-12345678"


def sign_in(hub: HubProcess) -> httpx.Client:
    client = httpx.Client(base_url=hub.url, timeout=30)
    page = client.get("/signin").text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token, "no CSRF token on the sign-in page"
    response = client.post(
        "/signin", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert response.status_code == 303, response.text
    return client


def seed(hub: HubProcess, plugins: int, jobs: int, tasks: int) -> dict[str, str]:
    ids = [hub.create_plugin(f"plugin {n:04d}", "custom")[0] for n in range(plugins)]
    busy = ids[0]
    for start in range(0, jobs, 1000):
        hub.submit(busy, [{"config": {"n": n}} for n in range(start, min(jobs, start + 1000))])
    project = hub.api(
        "POST", "/projects", json={"name": "roads", "categories": [{"name": "car", "tool": "bbox"}]}
    ).json()
    for start in range(0, tasks, 1000):
        assets = [
            {"url": f"https://img.example/{n}.jpg", "width": 640, "height": 480}
            for n in range(start, min(tasks, start + 1000))
        ]
        created = hub.api("POST", f"/projects/{project['id']}/assets", json={"assets": assets})
        assert created.status_code == 201, created.text
    task = hub.api("GET", f"/projects/{project['id']}/tasks", params={"limit": 1}).json()
    job = hub.api("GET", "/jobs", params={"limit": 1}).json()
    return {
        "plugin": busy,
        "project": project["id"],
        "task": task["items"][0]["id"],
        "job": job["items"][0]["id"],
    }


def page_latencies(client: httpx.Client, ids: dict[str, str], rounds: int) -> None:
    pages = {
        "plugins": "/plugins",
        "plugin": f"/plugins/{ids['plugin']}",
        "run form": f"/plugins/{ids['plugin']}/run",
        "jobs": "/jobs",
        "job": f"/jobs/{ids['job']}",
        "projects": "/projects",
        "project (tasks)": f"/projects/{ids['project']}",
        "task": f"/tasks/{ids['task']}",
        "directory": "/directory",
    }
    print(f"{'page':<18}{'p50 ms':>9}{'p99 ms':>9}{'KiB':>7}")
    for name, path in pages.items():
        timings = []
        size = 0
        for _ in range(rounds):
            started = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
            size = len(response.content)
        print(
            f"{name:<18}{percentile(timings, 0.5):>9.1f}{percentile(timings, 0.99):>9.1f}"
            f"{size / 1024:>7.0f}"
        )


class LiveWatcher:
    """Reads /events/plugins in a thread and notes when the plugin comes and goes."""

    def __init__(self, client: httpx.Client, plugin_id: str) -> None:
        self.plugin_id = plugin_id
        self.changes: list[tuple[float, bool]] = []
        self._client = client
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:  # each stream ends after its lifetime; reconnect like a browser
            with self._client.stream("GET", "/events/plugins", timeout=None) as stream:
                for line in stream.iter_lines():
                    if self._stop:
                        return
                    if line.startswith("data: "):
                        live = self.plugin_id in json.loads(line[6:])["plugins"]
                        if not self.changes or self.changes[-1][1] != live:
                            self.changes.append((time.perf_counter(), live))

    def wait_for(self, live: bool, after: float, timeout: float = 10) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, state in reversed(self.changes):
                if state == live and at >= after:
                    return at - after
            time.sleep(0.001)
        raise AssertionError(f"the stream never said live={live}")

    def stop(self) -> None:
        self._stop = True


def light_latencies(hub: HubProcess, client: httpx.Client, rounds: int) -> None:
    plugin_id, secret = hub.create_plugin("light", "custom")
    token = base64.b64encode(f"{plugin_id}:{secret}".encode()).decode()
    watcher = LiveWatcher(client, plugin_id)
    watcher.wait_for(False, 0)
    hello = {
        "type": "hello", "protocol": 1, "sdk_version": "bench", "plugin_version": "1",
        "hostname": "bench", "pid": 1, "capacity": 1, "jobs": [],
    }  # fmt: skip
    on, off = [], []
    ws_url = hub.url.replace("http", "ws") + "/ws/plugin"
    for _ in range(rounds):
        with connect(ws_url, additional_headers={"Authorization": f"Basic {token}"}) as ws:
            ws.recv()  # welcome
            sent = time.perf_counter()
            ws.send(json.dumps(hello))
            on.append(watcher.wait_for(True, sent) * 1000)
            closed = time.perf_counter()
        off.append(watcher.wait_for(False, closed) * 1000)
    watcher.stop()
    print(f"\nlive light over /events/plugins ({rounds} rounds)")
    print(f"hello -> Live     median {percentile(on, 0.5):6.1f} ms   worst {max(on):6.1f} ms")
    print(f"close -> Offline  median {percentile(off, 0.5):6.1f} ms   worst {max(off):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plugins", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hub = HubProcess(Path(tmp) / "hub", database_url="", env={"HUB_LOG_LEVEL": "WARNING"})
        hub.data_dir.mkdir(parents=True)
        hub.create_admin(email=EMAIL)
        hub.start()
        try:
            ids = seed(hub, args.plugins, args.jobs, args.tasks)
            client = sign_in(hub)
            print(f"{args.plugins} plugins, {args.jobs} queued jobs, {args.tasks} tasks\n")
            page_latencies(client, ids, args.rounds)
            light_latencies(hub, client, 20)
        finally:
            hub.stop()


if __name__ == "__main__":
    main()
