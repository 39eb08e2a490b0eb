"""Every job ends and every mistake gets one clear line, with real hub and plugin processes:
a job too big for the SDK, a socket that vanishes mid-dispatch, a process of the wrong type,
a killed process's running job, and the usual HUB_URL mistakes."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.harness import HubProcess, PluginProcess, wait_until
from tests.timing import PATIENCE

StartPlugin = Callable[..., PluginProcess]


@pytest.fixture
def hub_env() -> dict[str, str]:
    """Extra environment for the hub; a test sets it with `parametrize("hub_env", ...)`."""
    return {}


@pytest.fixture
def hub(tmp_path: Path, database_url: str, hub_env: dict[str, str]) -> Iterator[HubProcess]:
    """This module's hub: the shared fixture's, with `hub_env` on top."""
    process = HubProcess(tmp_path / "hub", database_url=database_url, env=hub_env)
    process.data_dir.mkdir(parents=True)
    process.create_admin()
    process.start()
    yield process
    process.stop()


def traceback_free(log: str) -> None:
    assert "Task exception was never retrieved" not in log
    assert "Traceback" not in log, log[-3000:]


# --- a job too big for the process (item 1) ------------------------------------------------


@pytest.mark.parametrize(
    "hub_env",
    # A hub that takes big frames itself, so that a 3 MB config passes its submit check
    # (half the frame limit) but is bigger than the SDK takes.
    [{"HUB_MAX_MESSAGE_SIZE": str(16 * 1024 * 1024), "HUB_MAX_BODY_SIZE": str(16 * 1024 * 1024)}],
)
def test_a_job_too_big_for_the_sdk_fails_once_and_the_plugin_stays(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    plugin = start_plugin("echo", plugin_id, secret)
    wait_until(lambda: hub.is_live(plugin_id), timeout=PATIENCE)
    [connection] = hub.plugin(plugin_id)["connections"]
    [big] = hub.submit(plugin_id, [{"config": {"blob": "x" * 5_000_000}}])
    [small] = hub.submit(plugin_id, [{"config": {"n": 1}}])

    wait_until(lambda: hub.job(big["id"])["status"] == "failed", timeout=PATIENCE)
    failed = hub.job(big["id"])
    assert failed["error"]["kind"] == "JobTooLarge"
    assert "limit of the plugin process" in failed["error"]["message"]
    assert failed["attempts"] == 1
    wait_until(lambda: hub.job(small["id"])["status"] == "succeeded", timeout=PATIENCE)
    # The same connection all along: no drop, no reconnect.
    assert [c["id"] for c in hub.plugin(plugin_id)["connections"]] == [connection["id"]]
    assert "disconnected from the hub" not in plugin.output()


# --- a socket that vanishes while the hub sends jobs and acks (item 5) ----------------------


def _hello(capacity: int) -> str:
    return json.dumps(
        {
            "type": "hello",
            "sdk_version": "raw",
            "plugin_version": "1",
            "hostname": "raw",
            "pid": 1,
            "capacity": capacity,
            "job_type": "custom",
        }
    )


async def _open(hub: HubProcess, plugin_id: str, secret: str, capacity: int) -> ClientConnection:
    token = base64.b64encode(f"{plugin_id}:{secret}".encode()).decode()
    ws = await connect(
        hub.url.replace("http://", "ws://") + "/ws/plugin",
        additional_headers={"Authorization": f"Basic {token}"},
    )
    assert json.loads(await ws.recv())["type"] == "welcome"
    await ws.send(_hello(capacity))
    return ws


async def _finish(ws: ClientConnection, frame: str | bytes) -> None:
    message = json.loads(frame)
    if message["type"] == "job":
        ref = {"job_id": message["job_id"], "attempt": message["attempt"]}
        await ws.send(json.dumps({"type": "accepted", **ref}))
        await ws.send(json.dumps({"type": "result", **ref, "output": "done"}))


async def _serve(ws: ClientConnection) -> None:
    async for frame in ws:
        await _finish(ws, frame)


async def _vanish_mid_dispatch(hub: HubProcess, plugin_id: str, secret: str) -> None:
    doomed = await _open(hub, plugin_id, secret, capacity=40)
    steady = await _open(hub, plugin_id, secret, capacity=40)
    await asyncio.to_thread(wait_until, lambda: hub.is_live(plugin_id), PATIENCE)
    await asyncio.to_thread(hub.submit, plugin_id, [{"config": {"n": n}} for n in range(300)])
    serving = asyncio.create_task(_serve(steady))
    # The doomed process answers a burst of jobs, then its socket vanishes (no close
    # frame) while the hub is acking those outcomes and sending it more work.
    for _ in range(20):
        await _finish(doomed, await doomed.recv())
    doomed.transport.abort()
    try:
        await asyncio.to_thread(
            wait_until,
            lambda: len(hub.jobs(plugin_id, "succeeded")) == 300,
            2 * PATIENCE,
            0.2,
        )
    finally:
        serving.cancel()
        await steady.close()


def test_a_socket_vanishing_mid_dispatch_loses_nothing_and_logs_no_traceback(
    hub: HubProcess,
) -> None:
    plugin_id, secret = hub.create_plugin()
    asyncio.run(_vanish_mid_dispatch(hub, plugin_id, secret))
    assert Counter(j["status"] for j in hub.jobs(plugin_id)) == {"succeeded": 300}
    traceback_free(hub.log())


# --- a process of the wrong type (item 8) -------------------------------------------------


def test_a_process_of_the_wrong_type_stops_with_one_line_naming_both(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin(type_="custom")
    process = start_plugin("typed", plugin_id, secret, PLUGIN_CLASS="ExportPlugin")
    assert process.wait(timeout=PATIENCE) == 1
    last = process.output().strip().splitlines()[-1]
    assert last.startswith("ango_plugins_sdk: ")
    assert "'custom'" in last
    assert "'export'" in last
    assert not hub.is_live(plugin_id)
    [submitted] = hub.submit(plugin_id, [{"config": {}}])
    assert hub.job(submitted["id"])["status"] == "queued"  # never sent to the wrong process


# --- a killed process's running job (item 10) -----------------------------------------------


@pytest.mark.parametrize("hub_env", [{"HUB_LEASE_TTL": "120", "HUB_RECONNECT_GRACE": "1"}])
def test_a_killed_process_job_runs_elsewhere_long_before_its_lease_lapses(
    hub: HubProcess, start_plugin: StartPlugin
) -> None:
    plugin_id, secret = hub.create_plugin()
    processes = [start_plugin("echo", plugin_id, secret) for _ in range(2)]
    wait_until(lambda: len(hub.plugin(plugin_id)["connections"]) == 2, timeout=PATIENCE)
    [job] = hub.submit(plugin_id, [{"config": {"sleep": 2}}])
    wait_until(lambda: hub.job(job["id"])["started_at"] is not None, timeout=PATIENCE)
    [busy] = [c for c in hub.plugin(plugin_id)["connections"] if c["running"] == 1]
    [victim] = [p for p in processes if p.pid == busy["pid"]]
    [survivor] = [p for p in processes if p is not victim]
    victim.signal(signal.SIGKILL)

    # PATIENCE is a quarter of the lease: only the grace can have brought it back.
    wait_until(lambda: hub.job(job["id"])["status"] == "succeeded", timeout=PATIENCE)
    done = hub.job(job["id"])
    assert done["result"]["pid"] == survivor.pid
    assert done["attempts"] == 2
    reasons = [r["message"] for r in hub.logs(job["id"]) if r["source"] == "hub"]
    assert any("did not come back within 1s" in m for m in reasons), reasons


# --- HUB_URL mistakes (item 11) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("{url}/signin", "without a page or API path"),
        ("{url}/api/v1", "without a page or API path"),
        ("{host}", "did you mean 'http://{host}'"),
        ("https://{host}", "use http:// instead of https://"),
    ],
    ids=["page-path", "api-path", "no-scheme", "https-to-plain"],
)
def test_a_wrong_hub_url_gets_one_line_naming_the_fix(
    hub: HubProcess, start_plugin: StartPlugin, url: str, fix: str
) -> None:
    plugin_id, secret = hub.create_plugin()
    host = hub.url.removeprefix("http://")
    process = start_plugin("echo", plugin_id, secret, HUB_URL=url.format(url=hub.url, host=host))
    assert process.wait(timeout=PATIENCE) == 1
    output = process.output()
    assert fix.format(host=host) in output.strip().splitlines()[-1]
    assert "Traceback" not in output
    assert "PLUGIN_SECRET" not in output  # not blamed on the credentials
