"""The plugin process's health endpoints (`/livez`, `/readyz`) against the in-memory hub.

Each test serves a plugin with `health_port=0` on 127.0.0.1, reads the chosen port from the
log line the SDK writes, and talks raw HTTP/1.1 to it, as a probe would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from ango_plugins_sdk import ConfigurationError, CustomJob, Plugin, _health, _run, _runner, serve
from ango_plugins_sdk._health import port_from_argv, port_from_env
from ango_plugins_sdk.protocol import Accepted, Release, Result
from tests.sdk.fakehub import (
    FAST_BACKOFF,
    HUB_URL,
    FakeHub,
    custom_plugin,
    eventually,
    job,
)
from tests.timing import PATIENCE

LOGGED_PORT = re.compile(r"health endpoints on http://127\.0\.0\.1:(\d+) ")


@pytest.fixture(autouse=True)
def _loopback_health(monkeypatch: pytest.MonkeyPatch) -> None:
    """Probes in these tests come from this machine; nothing listens on every interface."""
    monkeypatch.setenv("PLUGIN_HEALTH_HOST", "127.0.0.1")
    monkeypatch.delenv("PLUGIN_HEALTH_PORT", raising=False)


def echo(job: CustomJob[Any]) -> dict[str, Any]:
    return {"echo": job.config}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


async def send_raw(port: int, raw: bytes) -> bytes:
    """Send `raw` and read everything the server answers until it closes the connection
    (b"" if it closed without a word: a reset, from closing with our bytes unread, too)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), PATIENCE)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def parse(data: bytes) -> Answer:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, status, _reason = status_line.split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status), headers, body)


async def probe(port: int, path: str, method: str = "GET") -> Answer:
    raw = f"{method} {path} HTTP/1.1\r\nHost: plugin\r\nUser-Agent: kube-probe/1.30\r\n\r\n"
    return parse(await send_raw(port, raw.encode()))


async def wait_for_status(port: int, path: str, status: int) -> Answer:
    """The first answer of `path` with `status` (the state changes as the loop runs)."""
    answers: list[Answer] = []

    async def poll() -> bool:
        answers.append(await probe(port, path))
        return answers[-1].status == status

    deadline = asyncio.get_running_loop().time() + PATIENCE
    while not await poll():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} never answered {status}; last: {answers[-1]}")
        await asyncio.sleep(0.01)
    return answers[-1]


def logged_port(caplog: pytest.LogCaptureFixture) -> int | None:
    for record in caplog.records:
        found = LOGGED_PORT.search(record.getMessage())
        if found:
            return int(found.group(1))
    return None


@dataclass
class Served:
    hub: FakeHub
    task: asyncio.Task[None]
    stop: asyncio.Event
    port: int


@contextlib.asynccontextmanager
async def serving_health(
    plugin: Plugin[Any, Any], hub: FakeHub, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Served]:
    """`serve(plugin, health_port=0)` against `hub` for the block; stopped at its end."""
    caplog.set_level(logging.INFO, logger="ango_plugins_sdk")
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(plugin, HUB_URL, transport=hub, backoff=FAST_BACKOFF, stop=stop, health_port=0)
    )

    def port_or_failure() -> int | None:
        if task.done():
            task.result()  # raises what serve raised
            raise AssertionError("serve returned before its health port was logged")
        return logged_port(caplog)

    try:
        port = await eventually(port_or_failure, what="the health port in the log")
        yield Served(hub=hub, task=task, stop=stop, port=port)
    finally:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), PATIENCE)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise AssertionError(f"serve did not return within {PATIENCE}s of stop") from None


# --- readiness follows the session ------------------------------------------------------


async def test_ready_only_once_the_hub_welcomed_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = FakeHub()
    hub.first_frame_next(None)  # the first connection opens, but no welcome comes yet
    async with serving_health(custom_plugin(echo, version="1.2.3"), hub, caplog) as served:
        channel = await hub.channel(0)
        waiting = await probe(served.port, "/readyz")
        assert waiting.status == 503
        assert waiting.json["status"] == "unavailable"
        assert waiting.json["state"] == "connecting"
        alive = await probe(served.port, "/livez")
        assert alive.status == 200
        assert alive.json["status"] == "ok"

        channel.push(hub.welcome(0))
        await channel.hello()
        ready = await wait_for_status(served.port, "/readyz", 200)
    assert ready.headers["content-type"] == "application/json"
    assert ready.headers["connection"] == "close"
    assert int(ready.headers["content-length"]) == len(ready.body)
    body = ready.json
    assert body["status"] == "ok"
    assert body["state"] == "ready"
    assert "plugin_id" not in body  # half of the credentials: not for anyone on the network
    assert body["plugin_version"] == "1.2.3"
    assert body["jobs"] == 0
    assert isinstance(body["seconds_in_state"], float)
    assert "s3cret" not in ready.body.decode()


async def test_not_ready_while_the_hub_refuses_or_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = FakeHub()
    hub.refuse_next(503, body='{"error": {"code": "unavailable", "message": "starting"}}')
    hub.fail_next(10**6)  # then unreachable until recover()
    async with serving_health(custom_plugin(echo), hub, caplog) as served:
        await eventually(lambda: hub.connects >= 3, what="a few refused dials")
        refused = await probe(served.port, "/readyz")
        assert (refused.status, refused.json["state"]) == (503, "connecting")
        assert (await probe(served.port, "/livez")).status == 200

        hub.recover()
        channel = await hub.session(0)
        await wait_for_status(served.port, "/readyz", 200)

        # The session drops and the hub stays away: not ready, still alive.
        hub.fail_next(10**6)
        channel.hang_up(1006)
        lost = await wait_for_status(served.port, "/readyz", 503)
        assert lost.json["state"] == "reconnecting"
        assert (await probe(served.port, "/livez")).status == 200

        hub.recover()
        await hub.session(1)
        back = await wait_for_status(served.port, "/readyz", 200)
        assert back.json["state"] == "ready"


async def test_not_ready_from_the_moment_stop_is_asked_while_a_job_finishes(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_runner, "SHUTDOWN_GRACE", PATIENCE)  # the job has time to finish
    gate = asyncio.Event()

    async def slow(job: CustomJob[Any]) -> dict[str, Any]:
        await gate.wait()
        return {"done": True}

    hub = FakeHub()
    async with serving_health(custom_plugin(slow), hub, caplog) as served:
        channel = await hub.session(0)
        channel.push(job("job-1"))
        await channel.wait_for(Accepted, job_id="job-1")
        busy = await wait_for_status(served.port, "/readyz", 200)
        assert busy.json["jobs"] == 1

        served.stop.set()  # what SIGTERM does
        draining = await probe(served.port, "/readyz")
        assert draining.status == 503
        assert draining.json["state"] == "stopping"
        assert draining.json["jobs"] == 1
        still_alive = await probe(served.port, "/livez")
        assert still_alive.status == 200
        assert still_alive.json["state"] == "stopping"
        assert not served.task.done()

        gate.set()  # the job finishes within the grace: its result goes out, nothing is released
        await asyncio.wait_for(asyncio.shield(served.task), PATIENCE)
        await channel.wait_for(Result, job_id="job-1")
        assert channel.of_type(Release) == []
    with pytest.raises(ConnectionRefusedError):  # once serve returned, nothing listens
        await send_raw(served.port, b"GET /livez HTTP/1.1\r\n\r\n")


# --- the HTTP side ------------------------------------------------------------------------


async def test_other_paths_are_404_and_other_methods_405(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = FakeHub()
    async with serving_health(custom_plugin(echo), hub, caplog) as served:
        await hub.session(0)
        await wait_for_status(served.port, "/readyz", 200)
        for path in ("/", "/healthz", "/livez/", "/readyz/x", "/metrics"):
            missing = await probe(served.port, path)
            assert missing.status == 404, path
            assert "error" in missing.json
        posted = await probe(served.port, "/readyz", method="POST")
        assert posted.status == 405
        assert posted.headers["allow"] == "GET, HEAD"
        queried = await probe(served.port, "/livez?verbose=1")
        assert queried.status == 200
        head = await probe(served.port, "/readyz", method="HEAD")
        assert head.status == 200
        assert head.body == b""
        assert int(head.headers["content-length"]) > 0


async def test_garbage_slow_and_oversized_requests_do_not_hurt_the_server(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_health, "HEAD_TIMEOUT", 0.2)
    hub = FakeHub()
    async with serving_health(custom_plugin(echo), hub, caplog) as served:
        await hub.session(0)
        bad = parse(await send_raw(served.port, b"\x00\xff\xfe nonsense\r\n\r\n"))
        assert bad.status == 400
        assert parse(await send_raw(served.port, b"GET\r\n\r\n")).status == 400
        huge = b"GET /livez HTTP/1.1\r\nX-Filler: " + b"a" * (2 * _health.MAX_HEAD)
        answer = await send_raw(served.port, huge)
        assert answer == b"" or parse(answer).status == 431
        # A head that never ends (slowloris) or no bytes at all: closed unanswered.
        assert await send_raw(served.port, b"GET /livez HTTP/1.1\r\nHost: x\r\n") == b""
        assert await send_raw(served.port, b"") == b""
        # A client that connects and hangs up at once.
        _reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.close()
        await writer.wait_closed()
        # Through all of that the server kept serving.
        await wait_for_status(served.port, "/readyz", 200)


async def test_connections_beyond_the_cap_are_closed_unanswered(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_health, "MAX_CLIENTS", 2)
    hub = FakeHub()
    async with serving_health(custom_plugin(echo), hub, caplog) as served:
        await hub.session(0)
        idle = [await asyncio.open_connection("127.0.0.1", served.port) for _ in range(2)]
        try:
            await eventually(lambda: len(served_clients(served)) == 2, what="two idle clients")
            assert await send_raw(served.port, b"GET /livez HTTP/1.1\r\n\r\n") == b""
        finally:
            for _reader, writer in idle:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
        # The idle ones gone, probes are answered again.
        await wait_for_status(served.port, "/livez", 200)


def served_clients(served: Served) -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_coro().__qualname__.startswith("HealthServer._serve_client")  # type: ignore[union-attr]
        and not task.done()
    ]


# --- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["abc", "8081x", "-1", "65536", "80.5", "0x50", "\uff18\uff10\uff18\uff11"]
)
async def test_a_bad_port_in_the_environment_is_a_configuration_error(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGIN_HEALTH_PORT", raw)
    with pytest.raises(ConfigurationError, match="PLUGIN_HEALTH_PORT") as raised:
        await serve(custom_plugin(echo), HUB_URL, transport=FakeHub())
    assert repr(raw) in str(raised.value)


@pytest.mark.parametrize("value", [-1, 65536, True, "8081", 80.0])
async def test_a_bad_health_port_argument_is_a_configuration_error(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="health_port"):
        await serve(custom_plugin(echo), HUB_URL, transport=FakeHub(), health_port=value)


async def test_the_port_comes_from_the_environment_when_not_passed(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="ango_plugins_sdk")
    monkeypatch.setenv("PLUGIN_HEALTH_PORT", " 0 ")
    hub = FakeHub()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(custom_plugin(echo), HUB_URL, transport=hub, stop=stop))
    try:
        port = await eventually(lambda: logged_port(caplog), what="the health port in the log")
        await hub.session(0)
        await wait_for_status(port, "/readyz", 200)
    finally:
        stop.set()
        await asyncio.wait_for(task, PATIENCE)


async def test_an_empty_variable_means_no_health_server(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="ango_plugins_sdk")
    monkeypatch.setenv("PLUGIN_HEALTH_PORT", "")
    hub = FakeHub()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(custom_plugin(echo), HUB_URL, transport=hub, stop=stop))
    await hub.session(0)
    stop.set()
    await asyncio.wait_for(task, PATIENCE)
    assert logged_port(caplog) is None
    assert not [r for r in caplog.records if "health endpoints" in r.getMessage()]


async def test_a_port_in_use_is_a_configuration_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"127.0.0.1:{port}"):
            await serve(custom_plugin(echo), HUB_URL, transport=FakeHub(), health_port=port)


# --- the --health-port flag ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "port"),
    [
        ([], None),
        (["--health-port", "8081"], 8081),
        (["--health-port=8082"], 8082),
        (["--health-port", "0"], 0),
        (["--batch", "--health-port", "9000", "input.csv"], 9000),
        (["--health-port", "1", "--health-port", "2"], 2),  # the last one wins, as in argparse
        (["--", "--health-port", "9000"], None),  # after `--`: the script's own arguments
        (["--health-portal", "9000"], None),
        (["--health-port-x=1"], None),
    ],
)
def test_the_health_port_flag_is_read_from_the_command_line(
    argv: list[str], port: int | None
) -> None:
    before = list(argv)
    assert port_from_argv(argv) == port
    assert argv == before  # nothing taken out of the script's arguments


@pytest.mark.parametrize(
    "argv",
    [
        ["--health-port"],
        ["--health-port", "http"],
        ["--health-port="],
        ["--batch", "--health-port", "--batch"],
    ],
)
def test_a_bad_health_port_flag_is_a_configuration_error(argv: list[str]) -> None:
    with pytest.raises(ConfigurationError, match="--health-port"):
        port_from_argv(argv)


def test_port_from_env() -> None:
    assert port_from_env({}) is None
    assert port_from_env({"PLUGIN_HEALTH_PORT": ""}) is None
    assert port_from_env({"PLUGIN_HEALTH_PORT": "8081"}) == 8081


@pytest.fixture
def recorded_serve(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`run()` with `serve` replaced by a recorder of its arguments."""
    seen: dict[str, Any] = {}

    async def fake_serve(*args: Any, **kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(_run, "serve", fake_serve)
    return seen


def test_run_takes_the_port_from_its_command_line(
    recorded_serve: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["plugin.py", "--verbose", "--health-port", "8081", "rest"]
    monkeypatch.setattr(sys, "argv", list(argv))
    _run.run(custom_plugin(echo))
    assert recorded_serve["health_port"] == 8081
    assert sys.argv == argv


def test_an_explicit_port_wins_over_the_command_line(
    recorded_serve: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["plugin.py", "--health-port", "8081"])
    _run.run(custom_plugin(echo), health_port=9090)
    assert recorded_serve["health_port"] == 9090


def test_without_the_flag_run_leaves_the_port_to_the_environment(
    recorded_serve: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["plugin.py", "--batch"])
    _run.run(custom_plugin(echo))
    assert recorded_serve["health_port"] is None  # serve() reads PLUGIN_HEALTH_PORT


def test_run_exits_1_with_one_line_on_a_bad_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["plugin.py", "--health-port", "eighty"])
    with pytest.raises(SystemExit) as exited:
        _run.run(custom_plugin(echo), transport=FakeHub())
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("ango_plugins_sdk: --health-port='eighty' must be a port number")
    assert err.count("\n") == 1
