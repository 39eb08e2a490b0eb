"""The message models: round trips, defaults, forward compatibility, strictness."""

from __future__ import annotations

import json
import math
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ValidationError

from ango_plugins_sdk.protocol import (
    BATCHING,
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    PROTOCOL_VERSIONS,
    Ack,
    Cancel,
    Error,
    ErrorCode,
    Failed,
    Heartbeat,
    Hello,
    HubMessage,
    Job,
    JobError,
    JobType,
    Log,
    LogRecord,
    PluginMessage,
    Progress,
    ProtocolError,
    Release,
    Result,
    Welcome,
    decode,
    encode,
)

from .samples import JOB_ID, SAMPLES, decode_as


def test_samples_cover_every_message_type() -> None:
    assert set(SAMPLES) == MESSAGE_TYPES
    assert all(message.model_dump()["type"] == name for name, message in SAMPLES.items())


def test_message_types_are_the_thirteen_of_v1_and_batch() -> None:
    assert {
        "batch",
        "welcome",
        "hello",
        "heartbeat",
        "job",
        "accepted",
        "progress",
        "log",
        "result",
        "failed",
        "release",
        "ack",
        "cancel",
        "error",
    } == MESSAGE_TYPES


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip(name: str) -> None:
    message = SAMPLES[name]
    frame = encode(message)
    decoded = decode(frame)
    assert type(decoded) is type(message)
    assert decoded == message
    assert json.loads(frame)["type"] == name
    # Encoding is deterministic: the decoded copy gives the same frame.
    assert encode(decoded) == frame


def test_every_model_is_in_exactly_the_right_direction() -> None:
    hub = {model.model_fields["type"].default for model in get_args(HubMessage)}
    plugin = {model.model_fields["type"].default for model in get_args(PluginMessage)}
    assert hub == {"welcome", "job", "ack", "cancel", "error"}
    assert plugin == {
        "hello",
        "heartbeat",
        "accepted",
        "progress",
        "log",
        "result",
        "failed",
        "release",
        "error",
    }
    # `batch` (protocol 2) goes either way, carrying the others.
    assert hub | plugin | {"batch"} == MESSAGE_TYPES
    assert hub & plugin == {"error"}


def test_protocol_versions_and_what_the_handshake_says_by_default() -> None:
    assert (PROTOCOL_VERSION, PROTOCOL_VERSIONS, BATCHING) == (2, (1, 2), 2)
    welcome = Welcome(connection_id="c", heartbeat_interval=1, lease_ttl=1, max_message_size=1)
    # `protocol` stays 1 for SDKs that speak only 1 and check it; `protocols` offers more.
    assert (welcome.protocol, welcome.protocols) == (1, [1])
    assert json.loads(encode(SAMPLES["hello"]))["protocol"] == 1


def test_a_batch_carries_no_handshake_message_and_no_batch() -> None:
    hello = json.loads(encode(SAMPLES["hello"]))
    inner = json.loads(encode(SAMPLES["batch"]))
    for carried in (hello, inner, json.loads(encode(SAMPLES["welcome"]))):
        with pytest.raises(ProtocolError) as caught:
            decode(json.dumps({"type": "batch", "messages": [carried]}))
        assert caught.value.code is ErrorCode.INVALID_MESSAGE
    with pytest.raises(ProtocolError, match="at least 1 item"):
        decode('{"type":"batch","messages":[]}')


def test_minimal_frames_get_the_documented_defaults() -> None:
    hello = decode_as(
        '{"type":"hello","sdk_version":"1","plugin_version":"1","hostname":"","pid":0,"capacity":1}',
        Hello,
    )
    assert (hello.protocol, hello.jobs) == (1, [])
    assert decode_as('{"type":"heartbeat"}', Heartbeat).jobs == []
    job = decode_as('{"type":"job","job_id":"j","attempt":1,"job_type":"custom"}', Job)
    assert job == Job(job_id="j", attempt=1, job_type=JobType.CUSTOM)
    assert (job.operation, job.config, job.input, job.timeout_s) == (None, {}, {}, None)
    progress = decode_as('{"type":"progress","job_id":"j","attempt":1,"current":0}', Progress)
    assert (progress.total, progress.message) == (None, None)
    assert decode_as('{"type":"result","job_id":"j","attempt":1}', Result).output is None
    failed = decode_as(
        '{"type":"failed","job_id":"j","attempt":1,"error":{"message":"boom"}}', Failed
    )
    assert failed.error == JobError(message="boom", kind="Error", retryable=False)
    assert failed.error.traceback is None
    assert decode_as('{"type":"release","job_id":"j","attempt":1}', Release).reason == ""
    cancel = decode_as('{"type":"cancel","job_id":"j","attempt":1,"grace_s":0}', Cancel)
    assert cancel.reason == ""
    error = decode_as('{"type":"error","code":"internal","message":"x"}', Error)
    assert error.job_id is None
    log = decode_as(
        '{"type":"log","job_id":"j","attempt":1,"records":[{"level":"DEBUG","message":"m",'
        '"time":0}]}',
        Log,
    )
    assert log.records[0].fields == {}


def test_encode_leaves_out_null_fields_but_keeps_nulls_inside_json_values() -> None:
    frame = json.loads(encode(Job(job_id="j", attempt=1, job_type=JobType.EXPORT)))
    assert frame == {
        "type": "job",
        "job_id": "j",
        "attempt": 1,
        "job_type": "export",
        "config": {},
        "input": {},
    }
    assert json.loads(encode(SAMPLES["job"]))["config"]["unset"] is None
    failed = json.loads(encode(Failed(job_id="j", attempt=1, error=JobError(message="m"))))
    assert "traceback" not in failed["error"]
    assert json.loads(encode(Result(job_id="j", attempt=1, output=[None, {"a": None}]))) == {
        "type": "result",
        "job_id": "j",
        "attempt": 1,
        "output": [None, {"a": None}],
    }


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_unknown_fields_are_ignored(name: str) -> None:
    body = json.loads(encode(SAMPLES[name]))
    body["added_in_v1_7"] = {"anything": [1, 2, 3]}
    body["x-vendor"] = "ignored"
    assert decode(json.dumps(body)) == SAMPLES[name]


def test_unknown_fields_are_ignored_in_nested_objects() -> None:
    hello = json.loads(encode(SAMPLES["hello"]))
    hello["jobs"][0]["lease"] = 99
    assert decode(json.dumps(hello)) == SAMPLES["hello"]
    log = json.loads(encode(SAMPLES["log"]))
    log["records"][0]["thread"] = "MainThread"
    assert decode(json.dumps(log)) == SAMPLES["log"]
    failed = json.loads(encode(SAMPLES["failed"]))
    failed["error"]["cause"] = {"message": "inner"}
    assert decode(json.dumps(failed)) == SAMPLES["failed"]


def test_a_newer_protocol_number_still_decodes_so_the_hub_can_answer_it() -> None:
    hello = json.loads(encode(SAMPLES["hello"]))
    hello["protocol"] = 2
    assert decode_as(json.dumps(hello), Hello).protocol == 2


def test_messages_are_immutable() -> None:
    ack = Ack(job_id="j", attempt=1)
    with pytest.raises(ValidationError, match="frozen"):
        ack.attempt = 2


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (Ack, {"job_id": "", "attempt": 1}),
        (Ack, {"job_id": "j" * 201, "attempt": 1}),
        (Ack, {"job_id": "j", "attempt": 0}),
        (Ack, {"job_id": "j", "attempt": "1"}),
        (Progress, {"job_id": "j", "attempt": 1, "current": -1}),
        (Progress, {"job_id": "j", "attempt": 1, "current": 1, "total": 0}),
        (Progress, {"job_id": "j", "attempt": 1, "current": math.inf}),
        (Progress, {"job_id": "j", "attempt": 1, "current": 1, "message": "m" * 1001}),
        (Log, {"job_id": "j", "attempt": 1, "records": []}),
        (Release, {"job_id": "j", "attempt": 1, "reason": "r" * 1001}),
        (Job, {"job_id": "j", "attempt": 1, "job_type": "export"}),  # strict: enum member
        (Job, {"job_id": "j", "attempt": 1, "job_type": JobType.EXPORT, "timeout_s": 0}),
        (Error, {"code": "nope", "message": "m"}),
        (JobError, {"message": "m", "kind": "k" * 201}),
        (LogRecord, {"level": "TRACE", "message": "m", "time": 0}),
        (LogRecord, {"level": "INFO", "message": "m", "time": math.nan}),
    ],
)
def test_invalid_fields_are_refused_when_building_a_message(
    model: type[BaseModel], fields: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        model(**fields)


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        [1, 2, math.nan],
        {"deep": [{"score": math.inf}]},
        (0.5, -math.inf),
    ],
)
def test_json_values_refuse_nan_and_infinity(value: Any) -> None:
    # encode would otherwise write them as null: the peer would see different data.
    with pytest.raises(ValidationError, match="NaN and Infinity are not JSON numbers"):
        Result(job_id="j", attempt=1, output=value)
    with pytest.raises(ValidationError, match="NaN and Infinity are not JSON numbers"):
        Job(job_id="j", attempt=1, job_type=JobType.MODEL, config={"value": value})
    with pytest.raises(ValidationError, match="NaN and Infinity are not JSON numbers"):
        LogRecord(level="INFO", message="m", time=0, fields={"value": value})


@pytest.mark.parametrize("value", ["\ud800", ["ok", {"k": "x\udfffy"}], {"\udc80": 1}])
def test_json_values_refuse_lone_surrogates(value: Any) -> None:
    # Such a string has no UTF-8 form: the message could never be encoded.
    with pytest.raises(ValidationError, match="surrogates not allowed"):
        Result(job_id="j", attempt=1, output=value)


def test_json_values_refuse_objects_with_no_json_form() -> None:
    with pytest.raises(ValidationError, match="Unable to serialize"):
        Result(job_id="j", attempt=1, output=object())


@pytest.mark.parametrize(
    "value",
    [
        "NaN",
        {"NaN": "Infinity"},
        ["-Infinity", 1.5, {"x": [True, None, 10**30]}],
        1.7976931348623157e308,
        -0.0,
    ],
)
def test_json_values_accept_finite_numbers_and_words_that_look_like_nan(value: Any) -> None:
    result = Result(job_id="j", attempt=1, output=value)
    assert result.output == value
    assert decode(encode(result)) == result


def test_error_messages_carry_their_code() -> None:
    error = Error(code=ErrorCode.INVALID_JSON, message="bad")
    assert json.loads(encode(error)) == {"type": "error", "code": "invalid_json", "message": "bad"}
    assert decode(encode(error)) == error


def test_job_id_is_in_every_job_message() -> None:
    for name in ("job", "accepted", "progress", "log", "result", "failed", "release", "ack"):
        frame = json.loads(encode(SAMPLES[name]))
        assert (frame["job_id"], frame["attempt"]) == (JOB_ID, 2)
