"""GET /ws/plugin: the handshake, liveness, and what the hub does with bad input."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from tests.hub.conftest import HEARTBEAT_INTERVAL, HELLO_TIMEOUT, Owner, wait_until

pytestmark = pytest.mark.timeout(20)

API = "/api/v1/plugins"
GATEWAY_LOGGER = "hub.gateway"

MakePlugin = Callable[..., dict[str, Any]]
Connect = Callable[..., WebSocketTestSession]


def hello(**changes: Any) -> dict[str, Any]:
    message = {
        "type": "hello",
        "protocol": 1,
        "sdk_version": "0.1.0",
        "plugin_version": "2.3.4",
        "hostname": "gpu-box-7",
        "pid": 4242,
        "capacity": 3,
        "jobs": [],
    }
    message.update(changes)
    return message


HEARTBEAT = {"type": "heartbeat", "jobs": []}


QUIET_FOR_A_WHILE = {"heartbeat_interval": 5.0}
"""For tests that check a connection is still live after a few frames and an HTTP read: on
a busy machine that can take longer than the default 0.2 s interval's timeout, and the hub
would rightly close a test client that sends no heartbeats."""


def say_hello(ws: WebSocketTestSession, **changes: Any) -> dict[str, Any]:
    """Read `welcome`, answer `hello`; returns the welcome."""
    welcome: dict[str, Any] = ws.receive_json()
    assert welcome["type"] == "welcome"
    ws.send_json(hello(**changes))
    return welcome


def expect_error(ws: WebSocketTestSession, code: str, close_code: int) -> dict[str, Any]:
    """The next frame is an `error` with `code`, then the hub closes with `close_code`."""
    error: dict[str, Any] = ws.receive_json()
    assert error["type"] == "error", error
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    expect_close(ws, close_code)
    return error


def expect_close(ws: WebSocketTestSession, close_code: int) -> WebSocketDisconnect:
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    assert closed.value.code == close_code
    return closed.value


def gateway_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == GATEWAY_LOGGER and r.levelno == logging.WARNING]


@pytest.fixture
def plugin(acme: Owner, make_plugin: MakePlugin) -> dict[str, Any]:
    return make_plugin(acme, name="gateway test", type="model")


@pytest.fixture
def view(client: TestClient, acme: Owner, plugin: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """GET the plugin as its owner."""

    def _view() -> dict[str, Any]:
        response = client.get(f"{API}/{plugin['id']}", headers=acme.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return _view


@pytest.fixture
def plugin_ws(connect: Connect, plugin: dict[str, Any]) -> Iterator[WebSocketTestSession]:
    """An accepted connection for `plugin`, before `welcome` is read."""
    with connect(plugin["id"], plugin["secret"]) as ws:
        yield ws


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def live_ids(view: Callable[[], dict[str, Any]]) -> list[str]:
    return [c["id"] for c in view()["connections"]]


# --- the handshake ---------------------------------------------------------------


def refused(client: TestClient, headers: dict[str, str]) -> WebSocketDenialResponse:
    with (
        pytest.raises(WebSocketDenialResponse) as denial,
        client.websocket_connect("/ws/plugin", headers=headers),
    ):
        pytest.fail("the handshake should have been refused")
    return denial.value


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def bad_authorizations(plugin_id: str, secret: str) -> dict[str, str | None]:
    """Authorization headers the hub must refuse, by what is wrong with them."""
    return {
        "missing": None,
        "empty": "",
        "basic-without-credentials": "Basic",
        "not-base64": "Basic !!!not-base64!!!",
        "no-colon": "Basic " + b64(f"{plugin_id}{secret}"),
        "empty-id": "Basic " + b64(f":{secret}"),
        "empty-secret": "Basic " + b64(f"{plugin_id}:"),
        "not-utf8": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "bearer-scheme": f"Bearer {secret}",
        "no-scheme": b64(f"{plugin_id}:{secret}"),
        "plain-text-credentials": f"Basic {plugin_id}:{secret}",
        "wrong-secret": "Basic " + b64(f"{plugin_id}:phs_wrong-secret"),
        "secret-with-extra-char": "Basic " + b64(f"{plugin_id}:{secret}x"),
        "secret-truncated": "Basic " + b64(f"{plugin_id}:{secret[:-1]}"),
        "secret-without-prefix": "Basic " + b64(f"{plugin_id}:{secret.removeprefix('phs_')}"),
        "unknown-id": "Basic " + b64(f"000000000000000000000000:{secret}"),
        "id-with-other-case": "Basic " + b64(f"{plugin_id.upper()}:{secret}"),
    }


def test_bad_credentials_are_refused_before_the_upgrade(
    client: TestClient, plugin: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    for case, authorization in bad_authorizations(plugin["id"], plugin["secret"]).items():
        headers = {} if authorization is None else {"Authorization": authorization}
        denial = refused(client, headers)
        assert denial.status_code == 401, case
        assert denial.headers["www-authenticate"].lower().startswith("basic"), case
        body = denial.json()
        assert body["error"]["code"] == "unauthenticated", case
        assert body["error"]["message"], case
        assert plugin["secret"] not in denial.text, case
    assert client.get("/healthz").json()["live_connections"] == 0
    for record in caplog.records:
        assert plugin["secret"] not in record.getMessage()


def test_another_plugins_secret_is_refused(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, plugin: dict[str, Any]
) -> None:
    other = make_plugin(acme, name="other")
    token = b64(f"{plugin['id']}:{other['secret']}")
    assert refused(client, {"Authorization": f"Basic {token}"}).status_code == 401


def test_welcome_carries_the_hubs_settings(plugin_ws: WebSocketTestSession, settings: Any) -> None:
    welcome = plugin_ws.receive_json()
    assert welcome["type"] == "welcome"
    assert welcome["protocol"] == 1
    assert isinstance(welcome["connection_id"], str)
    assert welcome["connection_id"]
    assert welcome["heartbeat_interval"] == HEARTBEAT_INTERVAL
    assert welcome["lease_ttl"] == settings.lease_ttl
    assert welcome["max_message_size"] == settings.max_message_size


def test_scheme_is_case_insensitive(client: TestClient, plugin: dict[str, Any]) -> None:
    token = b64(f"{plugin['id']}:{plugin['secret']}")
    with client.websocket_connect("/ws/plugin", headers={"Authorization": f"basic {token}"}) as ws:
        assert ws.receive_json()["type"] == "welcome"


# --- liveness ----------------------------------------------------------------------


def test_hello_makes_the_plugin_live(
    client: TestClient,
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
) -> None:
    before = time.time()
    welcome = plugin_ws.receive_json()
    # Accepted but no hello yet: not live.
    assert view()["live"] is False
    plugin_ws.send_json(hello(jobs=[]))

    body = wait_until(lambda: v if (v := view())["live"] else None, what="live")
    assert len(body["connections"]) == 1
    connection = body["connections"][0]
    assert connection["id"] == welcome["connection_id"]
    assert connection["hostname"] == "gpu-box-7"
    assert connection["pid"] == 4242
    assert connection["capacity"] == 3
    assert connection["sdk_version"] == "0.1.0"
    assert connection["plugin_version"] == "2.3.4"
    assert connection["running"] == 0
    for stamp in ("connected_at", "last_heartbeat_at"):
        at = moment(connection[stamp])
        assert at.tzinfo is not None
        assert before - 1 <= at.timestamp() <= time.time() + 1
    assert client.get("/healthz").json()["live_connections"] == 1


def test_heartbeats_keep_a_connection_past_the_timeout(
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
    settings: Any,
) -> None:
    say_hello(plugin_ws)
    wait_until(lambda: view()["live"], what="live")
    first = moment(view()["connections"][0]["last_heartbeat_at"])
    # Beat at half the interval for longer than the timeout: the connection stays.
    end = time.monotonic() + settings.heartbeat_timeout * 1.6
    while time.monotonic() < end:
        plugin_ws.send_json(HEARTBEAT)
        time.sleep(HEARTBEAT_INTERVAL / 2)
    plugin_ws.send_json(HEARTBEAT)
    body = view()
    assert body["live"] is True
    assert len(body["connections"]) == 1
    assert moment(body["connections"][0]["last_heartbeat_at"]) > first


def test_two_processes_of_one_plugin_are_both_listed(
    client: TestClient,
    connect: Connect,
    plugin: dict[str, Any],
    view: Callable[[], dict[str, Any]],
) -> None:
    with connect(plugin["id"], plugin["secret"]) as first:
        one = say_hello(first, hostname="box-1", pid=1, capacity=1)
        with connect(plugin["id"], plugin["secret"]) as second:
            two = say_hello(second, hostname="box-2", pid=2, capacity=4)
            assert one["connection_id"] != two["connection_id"]
            first.send_json(HEARTBEAT)

            body = wait_until(
                lambda: v if len((v := view())["connections"]) == 2 else None, what="both"
            )
            assert body["live"] is True
            by_id = {c["id"]: c for c in body["connections"]}
            assert set(by_id) == {one["connection_id"], two["connection_id"]}
            assert by_id[one["connection_id"]]["hostname"] == "box-1"
            assert by_id[two["connection_id"]]["hostname"] == "box-2"
            assert by_id[two["connection_id"]]["capacity"] == 4
            assert client.get("/healthz").json()["live_connections"] == 2
            first.send_json(HEARTBEAT)

        # The second one left: the first is still listed.
        wait_until(lambda: live_ids(view) == [one["connection_id"]], what="one left")
        first.send_json(HEARTBEAT)
    wait_until(lambda: view()["live"] is False, what="not live")


def test_closing_the_socket_makes_the_plugin_not_live(
    connect: Connect, plugin: dict[str, Any], view: Callable[[], dict[str, Any]]
) -> None:
    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws)
        wait_until(lambda: view()["live"], what="live")
        ws.close(1000)
        body = wait_until(lambda: v if not (v := view())["live"] else None, what="not live")
    assert body["connections"] == []


def test_leaving_the_context_makes_the_plugin_not_live(
    client: TestClient,
    connect: Connect,
    plugin: dict[str, Any],
    view: Callable[[], dict[str, Any]],
) -> None:
    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws)
        wait_until(lambda: view()["live"], what="live")
    wait_until(lambda: view()["live"] is False, what="not live")
    assert view()["connections"] == []
    assert client.get("/healthz").json()["live_connections"] == 0


def test_live_shows_in_the_list_too(
    client: TestClient,
    acme: Owner,
    plugin_ws: WebSocketTestSession,
    plugin: dict[str, Any],
) -> None:
    say_hello(plugin_ws)

    def listed() -> dict[str, Any]:
        items = client.get(API, headers=acme.headers).json()["items"]
        return next(i for i in items if i["id"] == plugin["id"])

    item = wait_until(lambda: i if (i := listed())["live"] else None, what="live in list")
    assert len(item["connections"]) == 1


# --- bad input: one error, one close code, one warning line ------------------------

NOT_JSON = "{this is not json"
UNKNOWN_TYPE = '{"type": "bogus"}'
JOB_MESSAGE = '{"type": "accepted", "job_id": "job-1", "attempt": 1}'
UNKNOWN_RESULT = {"type": "result", "job_id": "no-such-job", "attempt": 1, "output": {}}


def send_raw(ws: WebSocketTestSession, frame: str | bytes) -> None:
    if isinstance(frame, bytes):
        ws.send_bytes(frame)
    else:
        ws.send_text(frame)


FRAME_ERRORS = [
    pytest.param(b'{"type": "heartbeat", "jobs": []}', "binary_frame", id="binary"),
    pytest.param(NOT_JSON, "invalid_json", id="invalid-json"),
    pytest.param("", "invalid_json", id="empty-text"),
    pytest.param("[1, 2]", "not_an_object", id="array"),
    pytest.param(UNKNOWN_TYPE, "unknown_type", id="unknown-type"),
    pytest.param('{"jobs": []}', "unknown_type", id="no-type"),
    pytest.param('{"type": "heartbeat", "jobs": "all"}', "invalid_message", id="bad-jobs"),
]


@pytest.mark.parametrize(("frame", "code"), FRAME_ERRORS)
def test_bad_frame_before_hello(
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    frame: str | bytes,
    code: str,
) -> None:
    plugin_ws.receive_json()  # welcome
    send_raw(plugin_ws, frame)
    expect_error(plugin_ws, code, 4000)
    assert len(gateway_warnings(caplog)) == 1
    assert view()["live"] is False


@pytest.mark.parametrize(("frame", "code"), FRAME_ERRORS)
def test_bad_frame_after_hello(
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    frame: str | bytes,
    code: str,
) -> None:
    say_hello(plugin_ws)
    send_raw(plugin_ws, frame)
    expect_error(plugin_ws, code, 4000)
    assert len(gateway_warnings(caplog)) == 1
    wait_until(lambda: view()["live"] is False, what="not live")


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"pid": "4242"}, id="string-pid"),
        pytest.param({"capacity": 0}, id="zero-capacity"),
        pytest.param({"capacity": 1.5}, id="float-capacity"),
        pytest.param({"sdk_version": ""}, id="empty-sdk-version"),
        pytest.param({"hostname": None}, id="null-hostname"),
        pytest.param({"jobs": [{"job_id": "j", "attempt": 0}]}, id="attempt-zero"),
    ],
)
def test_hello_with_wrong_field_types(
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    changes: dict[str, Any],
) -> None:
    plugin_ws.receive_json()  # welcome
    plugin_ws.send_json(hello(**changes))
    error = expect_error(plugin_ws, "invalid_message", 4000)
    field = next(iter(changes))
    assert field in error["message"]
    assert len(gateway_warnings(caplog)) == 1
    assert view()["live"] is False


def test_hello_missing_a_field(
    plugin_ws: WebSocketTestSession, caplog: pytest.LogCaptureFixture
) -> None:
    plugin_ws.receive_json()
    message = hello()
    del message["capacity"]
    plugin_ws.send_json(message)
    error = expect_error(plugin_ws, "invalid_message", 4000)
    assert "capacity" in error["message"]
    assert len(gateway_warnings(caplog)) == 1


SIZE_LIMIT = 2048


@pytest.mark.parametrize("settings_overrides", [{"max_message_size": SIZE_LIMIT}])
@pytest.mark.parametrize("phase", ["before-hello", "after-hello"])
@pytest.mark.parametrize(
    "frame",
    [
        pytest.param('{"type":"heartbeat","pad":"' + "x" * SIZE_LIMIT + '"}', id="ascii"),
        # Fewer characters than the limit, more bytes: the limit is in bytes.
        pytest.param('{"type":"heartbeat","pad":"' + "é" * 1100 + '"}', id="multibyte"),
    ],
)
def test_frame_over_the_size_limit(
    plugin_ws: WebSocketTestSession,
    caplog: pytest.LogCaptureFixture,
    view: Callable[[], dict[str, Any]],
    phase: str,
    frame: str,
) -> None:
    assert len(frame.encode()) > SIZE_LIMIT
    welcome = plugin_ws.receive_json()
    assert welcome["max_message_size"] == SIZE_LIMIT
    if phase == "after-hello":
        plugin_ws.send_json(hello())
    plugin_ws.send_text(frame)
    error = expect_error(plugin_ws, "message_too_big", 1009)
    assert str(SIZE_LIMIT) in error["message"]
    assert len(gateway_warnings(caplog)) == 1
    wait_until(lambda: view()["live"] is False, what="not live")


@pytest.mark.parametrize("settings_overrides", [{"max_message_size": SIZE_LIMIT}])
def test_frame_of_exactly_the_size_limit_is_accepted(
    plugin_ws: WebSocketTestSession, caplog: pytest.LogCaptureFixture
) -> None:
    say_hello(plugin_ws)
    head = '{"type":"heartbeat","jobs":[],"pad":"'
    fits = head + "x" * (SIZE_LIMIT - len(head) - 2) + '"}'
    assert len(fits.encode()) == SIZE_LIMIT
    plugin_ws.send_text(fits)
    # The hub handles frames in order: had it refused the heartbeat, the next frame would be
    # an error and a close instead of this ack.
    plugin_ws.send_json(UNKNOWN_RESULT)
    assert plugin_ws.receive_json() == {"type": "ack", "job_id": "no-such-job", "attempt": 1}
    assert gateway_warnings(caplog) == []


def test_hello_twice(
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    say_hello(plugin_ws)
    plugin_ws.send_json(hello())
    expect_error(plugin_ws, "unexpected_message", 4000)
    assert len(gateway_warnings(caplog)) == 1
    wait_until(lambda: view()["live"] is False, what="not live")


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(JOB_MESSAGE, id="accepted"),
        pytest.param('{"type": "heartbeat", "jobs": []}', id="heartbeat"),
        pytest.param('{"type": "result", "job_id": "job-1", "attempt": 1}', id="result"),
        pytest.param(
            '{"type": "welcome", "connection_id": "c", "heartbeat_interval": 1,'
            ' "lease_ttl": 1, "max_message_size": 2048}',
            id="welcome",
        ),
    ],
)
def test_other_message_before_hello(
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    frame: str,
) -> None:
    plugin_ws.receive_json()
    plugin_ws.send_text(frame)
    error = expect_error(plugin_ws, "unexpected_message", 4000)
    assert "hello" in error["message"]
    assert len(gateway_warnings(caplog)) == 1
    assert view()["live"] is False


def test_unsupported_protocol(
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugin_ws.receive_json()
    plugin_ws.send_json(hello(protocol=3))
    error = expect_error(plugin_ws, "unsupported_protocol", 4005)
    assert "3" in error["message"]
    assert len(gateway_warnings(caplog)) == 1
    assert view()["live"] is False


@pytest.mark.parametrize("settings_overrides", [QUIET_FOR_A_WHILE])
@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(UNKNOWN_RESULT, id="result"),
        pytest.param(
            {
                "type": "failed",
                "job_id": "no-such-job",
                "attempt": 1,
                "error": {"message": "boom"},
            },
            id="failed",
        ),
    ],
)
def test_outcome_of_an_unknown_job_is_acked_and_dropped(
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    frame: dict[str, Any],
) -> None:
    # A stale or unknown attempt is normal after a re-dispatch or a hub restart: the hub
    # acks it so the SDK can drop it from its outbox, and keeps the connection.
    say_hello(plugin_ws)
    plugin_ws.send_json(frame)
    assert plugin_ws.receive_json() == {"type": "ack", "job_id": "no-such-job", "attempt": 1}
    plugin_ws.send_json(HEARTBEAT)
    assert view()["live"] is True
    assert gateway_warnings(caplog) == []


def test_welcome_offers_protocol_2_and_keeps_protocol_1_for_older_sdks(
    plugin_ws: WebSocketTestSession,
) -> None:
    welcome = plugin_ws.receive_json()
    assert (welcome["protocol"], welcome["protocols"]) == (1, [1, 2])


@pytest.mark.parametrize("settings_overrides", [QUIET_FOR_A_WHILE])
def test_under_protocol_2_a_batch_is_read_in_order_and_answered_in_one_frame(
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    say_hello(plugin_ws, protocol=2)
    outcomes = [
        {"type": "result", "job_id": f"no-such-job-{n}", "attempt": 1, "output": n}
        for n in range(3)
    ]
    plugin_ws.send_json({"type": "batch", "messages": [*outcomes, HEARTBEAT]})
    answer = plugin_ws.receive_json()
    assert answer["type"] == "batch", answer
    assert answer["messages"] == [
        {"type": "ack", "job_id": f"no-such-job-{n}", "attempt": 1} for n in range(3)
    ]
    assert view()["live"] is True
    assert gateway_warnings(caplog) == []


def test_a_batch_on_a_protocol_1_connection_is_refused(
    plugin_ws: WebSocketTestSession, view: Callable[[], dict[str, Any]]
) -> None:
    say_hello(plugin_ws)
    plugin_ws.send_json({"type": "batch", "messages": [HEARTBEAT]})
    error = expect_error(plugin_ws, "unexpected_message", 4000)
    assert "protocol 2" in error["message"]
    assert view()["live"] is False


def test_one_bad_message_makes_the_whole_batch_bad(plugin_ws: WebSocketTestSession) -> None:
    say_hello(plugin_ws, protocol=2)
    good = {"type": "result", "job_id": "no-such-job", "attempt": 1}
    bad = {"type": "result", "job_id": "no-such-job", "attempt": 0}
    plugin_ws.send_json({"type": "batch", "messages": [good, bad]})
    # No ack for the good one: nothing of a bad frame is applied.
    error = expect_error(plugin_ws, "invalid_message", 4000)
    assert "attempt" in error["message"]


@pytest.mark.parametrize("settings_overrides", [QUIET_FOR_A_WHILE])
@pytest.mark.parametrize(
    "frame",
    [
        pytest.param({"type": "accepted", "job_id": "no-such-job", "attempt": 1}, id="accepted"),
        pytest.param(
            {"type": "progress", "job_id": "no-such-job", "attempt": 1, "current": 1},
            id="progress",
        ),
        pytest.param(
            {
                "type": "log",
                "job_id": "no-such-job",
                "attempt": 1,
                "records": [{"level": "INFO", "message": "hi", "time": 1.0}],
            },
            id="log",
        ),
        pytest.param({"type": "release", "job_id": "no-such-job", "attempt": 1}, id="release"),
        pytest.param(
            {"type": "heartbeat", "jobs": [{"job_id": "no-such-job", "attempt": 1}]},
            id="heartbeat",
        ),
    ],
)
def test_other_messages_about_an_unknown_job_are_ignored(
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    frame: dict[str, Any],
) -> None:
    say_hello(plugin_ws)
    plugin_ws.send_json(frame)
    # Frames are handled in order, so the ack for this result proves `frame` was handled
    # and did not close the connection.
    plugin_ws.send_json(UNKNOWN_RESULT)
    assert plugin_ws.receive_json()["type"] == "ack"
    assert view()["live"] is True
    assert gateway_warnings(caplog) == []


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param({"type": "ack", "job_id": "j", "attempt": 1}, id="ack"),
        pytest.param({"type": "cancel", "job_id": "j", "attempt": 1, "grace_s": 1}, id="cancel"),
        pytest.param({"type": "job", "job_id": "j", "attempt": 1, "job_type": "custom"}, id="job"),
        pytest.param(
            {
                "type": "welcome",
                "connection_id": "c",
                "heartbeat_interval": 1,
                "lease_ttl": 1,
                "max_message_size": 2048,
            },
            id="welcome",
        ),
    ],
)
def test_hub_only_message_from_a_plugin(
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    frame: dict[str, Any],
) -> None:
    say_hello(plugin_ws)
    plugin_ws.send_json(frame)
    expect_error(plugin_ws, "unexpected_message", 4000)
    assert len(gateway_warnings(caplog)) == 1
    wait_until(lambda: view()["live"] is False, what="not live")


def test_a_bad_connection_does_not_disturb_a_good_one(
    client: TestClient,
    connect: Connect,
    plugin: dict[str, Any],
    view: Callable[[], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with connect(plugin["id"], plugin["secret"]) as good:
        good_id = say_hello(good)["connection_id"]
        wait_until(lambda: live_ids(view) == [good_id], what="good live")

        with connect(plugin["id"], plugin["secret"]) as bad:
            say_hello(bad)
            good.send_json(HEARTBEAT)
            wait_until(lambda: len(live_ids(view)) == 2, what="both live")
            bad.send_bytes(b"\x00\x01")
            expect_error(bad, "binary_frame", 4000)
        assert len(gateway_warnings(caplog)) == 1

        # The good connection is still listed and still served: its heartbeat lands.
        good.send_json(HEARTBEAT)
        before = moment(view()["connections"][0]["last_heartbeat_at"])
        assert live_ids(view) == [good_id]
        good.send_json(HEARTBEAT)
        wait_until(
            lambda: moment(view()["connections"][0]["last_heartbeat_at"]) > before, what="heartbeat"
        )
        assert live_ids(view) == [good_id]
        assert client.get("/healthz").json()["live_connections"] == 1
        # And it still gets answers from the hub.
        good.send_json(UNKNOWN_RESULT)
        assert good.receive_json()["type"] == "ack"
        assert live_ids(view) == [good_id]
    assert len(gateway_warnings(caplog)) == 1


# --- timeouts ----------------------------------------------------------------------


def test_no_hello_in_time_closes_with_4003(
    plugin_ws: WebSocketTestSession, view: Callable[[], dict[str, Any]]
) -> None:
    plugin_ws.receive_json()
    started = time.monotonic()
    expect_close(plugin_ws, 4003)
    # Not before the timeout (how long after is a loaded machine's business).
    assert time.monotonic() - started >= HELLO_TIMEOUT * 0.8
    assert view()["live"] is False


def test_no_heartbeat_in_time_closes_with_4004(
    plugin_ws: WebSocketTestSession,
    view: Callable[[], dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    settings: Any,
) -> None:
    say_hello(plugin_ws)
    started = time.monotonic()
    expect_close(plugin_ws, 4004)
    assert settings.heartbeat_timeout == pytest.approx(2.5 * HEARTBEAT_INTERVAL)
    # Not before the timeout (how long after is a loaded machine's business).
    assert time.monotonic() - started >= settings.heartbeat_timeout * 0.8
    assert len(gateway_warnings(caplog)) == 1
    wait_until(lambda: view()["live"] is False, what="not live")


# --- the hub closes connections when the plugin changes ------------------------------


def test_rotating_the_secret_closes_live_connections_with_4001(
    client: TestClient,
    acme: Owner,
    connect: Connect,
    plugin: dict[str, Any],
    view: Callable[[], dict[str, Any]],
) -> None:
    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws)
        wait_until(lambda: view()["live"], what="live")
        response = client.post(f"{API}/{plugin['id']}/secret", headers=acme.headers)
        assert response.status_code == 200
        closed = expect_close(ws, 4001)
        assert plugin["secret"] not in closed.reason
        assert response.json()["secret"] not in closed.reason
    wait_until(lambda: view()["live"] is False, what="not live")


def test_deleting_the_plugin_closes_live_connections_with_4002(
    client: TestClient,
    acme: Owner,
    connect: Connect,
    plugin: dict[str, Any],
) -> None:
    with connect(plugin["id"], plugin["secret"]) as first:
        say_hello(first)
        with connect(plugin["id"], plugin["secret"]) as second:
            say_hello(second)
            first.send_json(HEARTBEAT)
            wait_until(lambda: client.get("/healthz").json()["live_connections"] == 2, what="both")
            response = client.delete(f"{API}/{plugin['id']}", headers=acme.headers)
            assert response.status_code == 204
            expect_close(first, 4002)
            expect_close(second, 4002)


# --- regressions: bugs found by review, now fixed ---


def test_rotation_while_waiting_for_hello_still_closes_with_4001(
    client: TestClient,
    acme: Owner,
    plugin_ws: WebSocketTestSession,
    plugin: dict[str, Any],
    view: Callable[[], dict[str, Any]],
) -> None:
    plugin_ws.receive_json()  # welcome: authenticated with the current secret
    response = client.post(f"{API}/{plugin['id']}/secret", headers=acme.headers)
    assert response.status_code == 200
    plugin_ws.send_json(hello())
    plugin_ws.send_json(HEARTBEAT)
    revoked_but_live = view()["live"]
    closed = expect_close_code(plugin_ws)
    assert (revoked_but_live, closed) == (False, 4001)


def expect_close_code(ws: WebSocketTestSession) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return closed.value.code


def test_swapped_id_and_secret_do_not_put_the_secret_in_the_log(
    client: TestClient, plugin: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    token = b64(f"{plugin['secret']}:{plugin['id']}")
    assert refused(client, {"Authorization": f"Basic {token}"}).status_code == 401
    assert plugin["secret"] not in caplog.text
