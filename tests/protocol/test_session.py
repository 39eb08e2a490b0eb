"""The session state machines, fed frames and times: no sockets, no event loop, no sleeping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ango_plugins_sdk.protocol import (
    PROTOCOL_VERSION,
    Ack,
    Batch,
    CloseCode,
    ErrorCode,
    Heartbeat,
    Hello,
    HubSession,
    IllegalSessionMove,
    JobRef,
    JobType,
    Log,
    LogRecord,
    MessageTooLarge,
    PluginSession,
    ProtocolError,
    Result,
    SessionState,
    Welcome,
    decode,
    encode,
    unbatched,
)
from ango_plugins_sdk.protocol import Job as JobMessage

T0 = 1000.0
HEARTBEAT_INTERVAL = 5.0
HEARTBEAT_TIMEOUT = 12.5
HELLO_TIMEOUT = 10.0
HUB_LIMIT = 4096


def hub_session(plugin_type: JobType = JobType.CUSTOM) -> HubSession:
    return HubSession(
        connection_id="conn-1",
        plugin_type=plugin_type,
        heartbeat_interval=HEARTBEAT_INTERVAL,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        hello_timeout=HELLO_TIMEOUT,
        lease_ttl=30.0,
        max_message_size=HUB_LIMIT,
        now=T0,
    )


def plugin_session(job_type: JobType | None = JobType.CUSTOM) -> PluginSession:
    return PluginSession(
        sdk_version="1.0",
        plugin_version="2.0",
        hostname="h" * 300,
        pid=7,
        capacity=3,
        job_type=job_type,
        max_message_size=8192,
        welcome_timeout=10.0,
        now=T0,
    )


def hello_frame(**changes: Any) -> str:
    fields: dict[str, Any] = {
        "sdk_version": "1.0",
        "plugin_version": "2.0",
        "hostname": "box",
        "pid": 1,
        "capacity": 2,
    }
    fields.update(changes)
    return encode(Hello.model_validate_json(json.dumps(fields)))


def refused(session: HubSession, frame: str, now: float = T0) -> ProtocolError:
    with pytest.raises(ProtocolError) as raised:
        session.receive(frame, now)
    return raised.value


# --- the hub's end -----------------------------------------------------------------------


def test_the_hub_welcomes_then_opens_on_hello() -> None:
    session = hub_session()
    welcome = session.welcome()
    assert (welcome.connection_id, welcome.max_message_size) == ("conn-1", HUB_LIMIT)
    assert session.state is SessionState.HANDSHAKE
    assert session.deadline() == T0 + HELLO_TIMEOUT
    assert session.timeout_code() is CloseCode.HELLO_TIMEOUT

    hello = session.receive(hello_frame(job_type="custom"), T0 + 1)
    assert isinstance(hello, Hello)
    assert session.hello == hello
    assert session.state is SessionState.OPEN
    assert session.deadline() == T0 + 1 + HEARTBEAT_TIMEOUT
    assert session.timeout_code() is CloseCode.HEARTBEAT_TIMEOUT


def test_any_frame_moves_the_hubs_deadline() -> None:
    session = hub_session()
    session.receive(hello_frame(), T0)
    message = session.receive(encode(Result(job_id="j", attempt=1, output=1)), T0 + 7)
    assert isinstance(message, Result)
    assert session.deadline() == T0 + 7 + HEARTBEAT_TIMEOUT


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (encode(Heartbeat()), ErrorCode.UNEXPECTED_MESSAGE),
        (hello_frame(protocol=PROTOCOL_VERSION + 1), ErrorCode.UNSUPPORTED_PROTOCOL),
        (hello_frame(job_type="export"), ErrorCode.JOB_TYPE_MISMATCH),
        ("{", ErrorCode.INVALID_JSON),
    ],
    ids=["heartbeat-first", "newer-protocol", "wrong-type", "not-json"],
)
def test_the_hub_refuses_a_bad_handshake(frame: str, code: ErrorCode) -> None:
    session = hub_session()
    assert refused(session, frame).code is code
    assert session.state is SessionState.HANDSHAKE


def test_a_mismatch_names_both_types_within_a_close_reason() -> None:
    error = refused(hub_session(JobType.FILE_EXPLORER), hello_frame(job_type="batch_model"))
    assert "'file_explorer'" in error.message
    assert "'batch_model'" in error.message
    assert len(error.message.encode()) <= 123
    assert error.code.close_code is CloseCode.JOB_TYPE_MISMATCH


def test_a_second_hello_is_refused() -> None:
    session = hub_session()
    session.receive(hello_frame(), T0)
    assert refused(session, hello_frame()).code is ErrorCode.UNEXPECTED_MESSAGE


def test_the_hub_sends_within_what_the_plugin_takes() -> None:
    session = hub_session()
    big = JobMessage(job_id="j", attempt=1, job_type=JobType.CUSTOM, config={"x": "y" * 3000})
    assert session.encode(big)  # before hello: the hub's own limit, 4096
    session.receive(hello_frame(max_message_size=2048), T0)
    with pytest.raises(MessageTooLarge):
        session.encode(big)
    assert session.encode(Ack(job_id="j", attempt=1))


def test_a_closed_hub_session_takes_nothing() -> None:
    session = hub_session()
    session.close()
    with pytest.raises(IllegalSessionMove, match="got closed"):
        session.receive(hello_frame(), T0)


# --- the plugin's end --------------------------------------------------------------------


def welcome_frame(**changes: Any) -> str:
    fields: dict[str, Any] = {
        "connection_id": "c",
        "heartbeat_interval": HEARTBEAT_INTERVAL,
        "lease_ttl": 30.0,
        "max_message_size": HUB_LIMIT,
    }
    fields.update(changes)
    return encode(Welcome.model_validate_json(json.dumps(fields)))


def test_the_plugin_answers_welcome_with_its_hello() -> None:
    session = plugin_session()
    assert session.deadline() == T0 + 10.0
    held = [JobRef(job_id="j", attempt=2)]
    hello = session.receive_welcome(welcome_frame(), held, T0 + 1)
    assert hello.jobs == held
    assert (hello.job_type, hello.max_message_size, hello.capacity) == (JobType.CUSTOM, 8192, 3)
    assert len(hello.hostname) == 255
    assert session.state is SessionState.OPEN
    assert session.welcome is not None
    assert session.deadline() == T0 + 1 + HEARTBEAT_INTERVAL


def test_heartbeats_come_every_interval_the_hub_asked_for() -> None:
    session = plugin_session()
    session.receive_welcome(welcome_frame(), [], T0)
    beat = session.heartbeat([JobRef(job_id="j", attempt=1)], T0 + 5)
    assert [ref.job_id for ref in beat.jobs] == ["j"]
    assert session.deadline() == T0 + 10


def test_the_plugin_checks_the_hubs_protocol_version() -> None:
    session = plugin_session()
    with pytest.raises(ProtocolError) as raised:
        session.receive_welcome(welcome_frame(protocol=PROTOCOL_VERSION + 1), [], T0)
    assert raised.value.code is ErrorCode.UNSUPPORTED_PROTOCOL
    assert raised.value.code.close_code.is_final
    assert "upgrade" in raised.value.message
    assert session.state is SessionState.HANDSHAKE


def test_the_plugin_wants_welcome_first() -> None:
    session = plugin_session()
    with pytest.raises(ProtocolError, match="expected 'welcome'"):
        session.receive_welcome(encode(Ack(job_id="j", attempt=1)), [], T0)


def test_once_open_the_plugin_takes_what_a_hub_may_send() -> None:
    session = plugin_session()
    session.receive_welcome(welcome_frame(), [], T0)
    [ack] = session.receive(encode(Ack(job_id="j", attempt=1)))
    assert isinstance(ack, Ack)
    with pytest.raises(ProtocolError) as raised:
        session.receive(welcome_frame())
    assert raised.value.code is ErrorCode.UNEXPECTED_MESSAGE
    with pytest.raises(IllegalSessionMove):
        session.receive_welcome(welcome_frame(), [], T0)


def test_the_plugin_session_refuses_moves_out_of_order() -> None:
    session = plugin_session()
    with pytest.raises(IllegalSessionMove, match="expected open, got handshake"):
        session.receive(encode(Ack(job_id="j", attempt=1)))
    with pytest.raises(IllegalSessionMove):
        session.heartbeat([], T0)
    session.close()
    assert session.state is SessionState.CLOSED


# --- protocol 2: batches ----------------------------------------------------------------


def test_both_ends_settle_on_the_newest_protocol_they_share() -> None:
    hub = hub_session()
    welcome = hub.welcome()
    assert (welcome.protocol, welcome.protocols) == (1, [1, 2])
    plugin = plugin_session()
    hello = plugin.receive_welcome(encode(welcome), [], T0)
    assert hello.protocol == plugin.protocol == 2
    hub.receive(encode(hello), T0)
    assert hub.protocol == 2
    # A hub that speaks only protocol 1 (no `protocols` in its welcome) gets 1.
    older = plugin_session()
    assert older.receive_welcome(welcome_frame(), [], T0).protocol == older.protocol == 1
    # A plugin that speaks only 1 says so (or nothing), and the hub keeps to 1.
    hub_for_older = hub_session()
    hub_for_older.receive(hello_frame(), T0)
    assert hub_for_older.protocol == 1


def test_the_hub_refuses_batches_on_a_protocol_1_connection() -> None:
    session = hub_session()
    session.receive(hello_frame(protocol=1), T0)
    batch = '{"type":"batch","messages":[{"type":"heartbeat"}]}'
    error = refused(session, batch)
    assert error.code is ErrorCode.UNEXPECTED_MESSAGE
    assert "need protocol 2" in error.message


def test_under_protocol_2_the_hub_reads_a_batch_in_order() -> None:
    session = hub_session()
    session.receive(hello_frame(protocol=2), T0)
    frame = (
        '{"type":"batch","messages":[{"type":"accepted","job_id":"a","attempt":1},'
        '{"type":"result","job_id":"a","attempt":1,"output":3},{"type":"heartbeat"}]}'
    )
    messages = unbatched(session.receive(frame, T0 + 1))
    assert [m.type for m in messages] == ["accepted", "result", "heartbeat"]
    assert session.deadline() == T0 + 1 + HEARTBEAT_TIMEOUT


def test_the_hub_packs_messages_into_frames_that_fit_the_plugin() -> None:
    session = hub_session()
    session.receive(hello_frame(protocol=2, max_message_size=1024), T0)
    acks = [Ack(job_id=f"job-{n:03}", attempt=1) for n in range(40)]
    big = JobMessage(job_id="big", attempt=1, job_type=JobType.CUSTOM, input={"x": "y" * 2000})
    frames, too_large = session.frames([*acks[:20], big, *acks[20:]])
    assert list(too_large) == [20]  # by position; the rest still goes
    assert all(len(frame.encode()) <= 1024 for frame in frames)
    assert len(frames) > 1
    carried = [m for frame in frames for m in unbatched(decode(frame))]
    assert carried == acks
    # Under protocol 1 each message is a frame of its own.
    one_each = hub_session()
    one_each.receive(hello_frame(protocol=1), T0)
    assert one_each.frames(acks[:3])[0] == [encode(ack) for ack in acks[:3]]


def test_under_protocol_2_the_plugin_takes_batches_but_not_plugin_messages_in_them() -> None:
    session = plugin_session()
    session.receive_welcome(welcome_frame(protocols=[1, 2]), [], T0)
    ack, job = (
        Ack(job_id="j", attempt=1),
        JobMessage(job_id="k", attempt=1, job_type=JobType.CUSTOM),
    )
    assert session.receive(encode(Batch(messages=[ack, job]))) == [ack, job]
    with pytest.raises(ProtocolError) as raised:
        session.receive(encode(Batch(messages=[ack, Heartbeat()])))
    assert raised.value.code is ErrorCode.UNEXPECTED_MESSAGE
    # Its own frames: several messages in one.
    [frame], dropped = session.frames([Heartbeat(), Result(job_id="j", attempt=1, output=None)])
    assert [m.type for m in unbatched(decode(frame))] == ["heartbeat", "result"]
    assert dropped == []


def test_a_message_the_plugin_cannot_encode_is_left_out_and_the_rest_go() -> None:
    session = plugin_session()
    session.receive_welcome(welcome_frame(protocols=[1, 2]), [], T0)
    bad = Log(job_id="j", attempt=1, records=[LogRecord(level="INFO", message="\udcff", time=1)])
    frames, dropped = session.frames([Heartbeat(), bad, Result(job_id="j", attempt=1)])
    assert [m.type for frame in frames for m in unbatched(decode(frame))] == [
        "heartbeat",
        "result",
    ]
    assert [message for message, _ in dropped] == [bad]
