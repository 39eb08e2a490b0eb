"""decode: every way a frame can be wrong, and the error code it earns."""

from __future__ import annotations

import json

import pytest

from ango_plugins_sdk.protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Ack,
    Error,
    ErrorCode,
    Heartbeat,
    MessageTooLarge,
    ProtocolError,
    Result,
    decode,
    encode,
    unbatched,
)
from ango_plugins_sdk.protocol.codec import _job_id_of, frame_safe, pack

from .samples import JOB_ID, SAMPLES, decode_as

HELLO = {
    "type": "hello",
    "sdk_version": "0.1.0",
    "plugin_version": "1.0.0",
    "hostname": "box",
    "pid": 12,
    "capacity": 2,
}


def frame_of(body: dict[str, object]) -> str:
    return json.dumps(body)


def decode_error(frame: str | bytes, **kwargs: int) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode(frame, **kwargs)
    return caught.value


def result_frame_of_size(size: int, char: str) -> str:
    """A valid `result` frame of exactly `size` UTF-8 bytes, padded with `char`."""
    empty = encode(Result(job_id="j", attempt=1, output=""))
    padding, rest = divmod(size - len(empty.encode()), len(char.encode()))
    frame = encode(Result(job_id="j", attempt=1, output=char * padding + "a" * rest))
    assert len(frame.encode()) == size
    return frame


# --- binary frames ------------------------------------------------------------


@pytest.mark.parametrize(
    "frame", [b'{"type":"heartbeat"}', bytearray(b"{}"), memoryview(b"{}"), b""]
)
def test_binary_frames_are_refused(frame: bytes) -> None:
    error = decode_error(frame)
    assert error.code is ErrorCode.BINARY_FRAME
    assert str(error) == "binary frames are not allowed; send JSON text"
    assert error.job_id is None


# --- not JSON ---------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "   ",
        "{",
        "hello",
        "{'type': 'heartbeat'}",  # Python, not JSON
        '{"type":"heartbeat",}',  # trailing comma
        '{"type":"heartbeat"} {"type":"heartbeat"}',  # two messages in one frame
        '\ufeff{"type":"heartbeat"}',  # byte order mark
        '{"type":"release","job_id":"j\tk","attempt":1}',  # raw control character
        '{"type":"result","job_id":"j","attempt":1,"output":"\\ud800"}',  # lone surrogate escape
        '{"type":"result","job_id":"j","attempt":1,"output":"\\udc00x"}',
        '{"type":"result","job_id":"j","attempt":1,"output":"\ud800"}',  # lone surrogate
        "\udfff",
        '{"type":"result","job_id":"j","attempt":1,"output":' + "9" * 5000 + "}",  # int too long
        "[" * 300 + "]" * 300,  # nested too deep
        '{"type":"result","job_id":"j","attempt":1,"output":' + "[" * 300 + "]" * 300 + "}",
        '{"type":"heartbeat","jobs":' + '{"a":' * 300 + "1" + "}" * 300 + "}",
    ],
)
def test_frames_that_are_not_json_are_invalid_json(frame: str) -> None:
    error = decode_error(frame)
    assert error.code is ErrorCode.INVALID_JSON
    assert error.message.startswith("frame is not valid JSON: ")
    assert error.job_id is None


def test_surrogate_pair_escapes_are_fine() -> None:
    frame = '{"type":"result","job_id":"j","attempt":1,"output":"\\ud83d\\ude00"}'
    assert decode_as(frame, Result).output == "\U0001f600"


def test_nesting_within_the_parser_limit_is_fine() -> None:
    output = "[" * 100 + "]" * 100
    message = decode_as(
        '{"type":"result","job_id":"j","attempt":1,"output":' + output + "}", Result
    )
    assert json.dumps(message.output, separators=(",", ":")) == output


# --- not an object ------------------------------------------------------------


@pytest.mark.parametrize(
    "frame", ["[]", '[{"type":"heartbeat"}]', '"heartbeat"', "1", "-2.5", "null", "true", "NaN"]
)
def test_json_that_is_not_an_object_is_refused(frame: str) -> None:
    error = decode_error(frame)
    assert error.code is ErrorCode.NOT_AN_OBJECT
    assert error.message.startswith("a message must be a JSON object: ")


# --- missing or unknown type -------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        "{}",
        '{"job_id":"j","attempt":1}',
        '{"type":"pong"}',
        '{"type":"Welcome"}',
        '{"type":""}',
        '{"type":null}',
        '{"type":1}',
        '{"type":["hello"]}',
        '{"TYPE":"heartbeat"}',
        '{"type":"result ","job_id":"j","attempt":1}',
    ],
)
def test_missing_or_unknown_type_is_refused(frame: str) -> None:
    error = decode_error(frame)
    assert error.code is ErrorCode.UNKNOWN_TYPE
    assert error.message.startswith("missing or unknown message type: ")
    assert error.job_id is None


def test_unknown_type_error_lists_the_known_types() -> None:
    assert "'heartbeat'" in decode_error('{"type":"pong"}').message


# --- a known type with wrong fields ------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pid": "12"}, "pid"),  # strict: a string is not an int
        ({"pid": 12.0}, "pid"),
        ({"pid": True}, "pid"),
        ({"pid": -1}, "pid"),
        ({"pid": None}, "pid"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": 10_001}, "capacity"),
        ({"hostname": 7}, "hostname"),
        ({"hostname": "h" * 256}, "hostname"),
        ({"sdk_version": ""}, "sdk_version"),
        ({"protocol": "1"}, "protocol"),
        ({"jobs": {"job_id": "j", "attempt": 1}}, "jobs"),
        ({"jobs": [{"job_id": "j"}]}, "jobs.0.attempt"),
        ({"jobs": [{"job_id": "j", "attempt": 1}, {"job_id": "", "attempt": 1}]}, "jobs.1.job_id"),
    ],
)
def test_wrong_fields_are_invalid_message_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    error = decode_error(frame_of(HELLO | changes))
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message.startswith(f"invalid 'hello' message: {field}: ")


def test_missing_required_field_is_invalid_message() -> None:
    body = dict(HELLO)
    del body["capacity"]
    error = decode_error(frame_of(body))
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message == "invalid 'hello' message: capacity: Field required"


def test_at_most_three_field_errors_are_spelled_out() -> None:
    error = decode_error('{"type":"hello"}')
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message == (
        "invalid 'hello' message: sdk_version: Field required; plugin_version: Field required; "
        "hostname: Field required; and 2 more"
    )
    three = decode_error('{"type":"welcome","heartbeat_interval":1}')
    assert three.message.count(": Field required") == 3
    assert "more" not in three.message


@pytest.mark.parametrize(
    "body",
    [
        {"type": "progress", "job_id": JOB_ID, "attempt": 1, "current": 1, "total": 0},
        {"type": "progress", "job_id": JOB_ID, "attempt": "2", "current": 1},
        {"type": "ack", "job_id": JOB_ID, "attempt": 0},
        {"type": "ack", "job_id": JOB_ID, "attempt": 1.5},
        {"type": "job", "job_id": JOB_ID, "attempt": 1, "job_type": "video"},
        {"type": "job", "job_id": JOB_ID, "attempt": 1, "job_type": "export", "config": []},
        {"type": "log", "job_id": JOB_ID, "attempt": 1, "records": []},
        {"type": "log", "job_id": JOB_ID, "attempt": 1, "records": [{"level": "info"}]},
        {"type": "failed", "job_id": JOB_ID, "attempt": 1, "error": "boom"},
        {"type": "failed", "job_id": JOB_ID, "attempt": 1, "error": {"message": 1}},
        {"type": "cancel", "job_id": JOB_ID, "attempt": 1, "grace_s": -1},
        {"type": "error", "job_id": JOB_ID, "code": "bad_mood", "message": "m"},
    ],
)
def test_the_error_names_the_job_when_it_can(body: dict[str, object]) -> None:
    error = decode_error(frame_of(body))
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message.startswith(f"invalid {body['type']!r} message: ")
    assert error.job_id == JOB_ID
    assert error.to_message() == Error(
        code=ErrorCode.INVALID_MESSAGE, message=error.message, job_id=JOB_ID
    )


@pytest.mark.parametrize(
    "body",
    [
        {"type": "ack", "attempt": 0},  # no job_id at all
        {"type": "ack", "job_id": 17, "attempt": 1},  # not a string
        {"type": "ack", "job_id": ["j"], "attempt": 1},
        {"type": "ack", "job_id": None, "attempt": 1},
    ],
)
def test_the_error_names_no_job_when_the_job_id_is_unreadable(body: dict[str, object]) -> None:
    error = decode_error(frame_of(body))
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.job_id is None
    assert error.to_message().job_id is None


def test_job_id_of_a_frame_that_python_cannot_read_is_none() -> None:
    # decode only asks once the frame has parsed as an object; stay safe anyway.
    assert _job_id_of('{"job_id": "j"}') == "j"
    assert _job_id_of("not json") is None
    assert _job_id_of('["job_id"]') is None
    assert _job_id_of("[" * 100_000 + "]" * 100_000) is None


# --- numbers JSON does not have ----------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_non_finite_numbers_in_number_fields_are_refused(number: str) -> None:
    frame = f'{{"type":"progress","job_id":"j","attempt":1,"current":{number}}}'
    error = decode_error(frame)
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message == "invalid 'progress' message: current: Input should be a finite number"
    assert error.job_id == "j"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ('{{"type":"result","job_id":"j","attempt":1,"output":{}}}', "output"),
        ('{{"type":"result","job_id":"j","attempt":1,"output":[1,{{"x":{}}}]}}', "output"),
        (
            '{{"type":"job","job_id":"j","attempt":1,"job_type":"model","config":{{"t":{}}}}}',
            "config",
        ),
        (
            '{{"type":"job","job_id":"j","attempt":1,"job_type":"model","input":{{"t":[{}]}}}}',
            "input",
        ),
        (
            '{{"type":"log","job_id":"j","attempt":1,"records":'
            '[{{"level":"INFO","message":"m","time":0,"fields":{{"t":{}}}}}]}}',
            "records.0.fields",
        ),
    ],
)
def test_non_finite_numbers_inside_json_values_are_refused(
    number: str, template: str, field: str
) -> None:
    error = decode_error(template.format(number))
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.message.endswith(f"{field}: Value error, NaN and Infinity are not JSON numbers")
    assert error.job_id == "j"


def test_huge_but_finite_numbers_are_fine() -> None:
    numbers = "[1e308,-1e308,1e-400,12345678901234567890123]"
    frame = '{"type":"result","job_id":"j","attempt":1,"output":' + numbers + "}"
    assert decode_as(frame, Result).output == [1e308, -1e308, 0.0, 12345678901234567890123]


def test_strings_that_say_nan_are_just_strings() -> None:
    frame = '{"type":"result","job_id":"j","attempt":1,"output":{"NaN":"Infinity"}}'
    assert decode_as(frame, Result).output == {"NaN": "Infinity"}


# --- size -----------------------------------------------------------------------


def test_default_limit_is_one_mebibyte() -> None:
    assert DEFAULT_MAX_MESSAGE_SIZE == 1024 * 1024
    assert decode(result_frame_of_size(DEFAULT_MAX_MESSAGE_SIZE, "a")).type == "result"
    error = decode_error(result_frame_of_size(DEFAULT_MAX_MESSAGE_SIZE + 1, "a"))
    assert error.code is ErrorCode.MESSAGE_TOO_BIG
    assert error.message == "frame is larger than the maximum of 1048576 bytes"
    assert error.to_message().code.close_code == 1009


@pytest.mark.parametrize(
    "char", ["a", "é", "€", "😀"], ids=["1-byte", "2-byte", "3-byte", "4-byte"]
)
def test_limit_counts_utf8_bytes_not_characters(char: str) -> None:
    limit = 4096
    at_limit = result_frame_of_size(limit, char)
    assert decode(at_limit, max_size=limit).type == "result"
    over = result_frame_of_size(limit + 1, char)
    # Far fewer characters than bytes for multi-byte text: the check must encode.
    assert len(over) <= limit + 1
    error = decode_error(over, max_size=limit)
    assert error.code is ErrorCode.MESSAGE_TOO_BIG
    assert str(limit) in error.message


def test_limit_with_a_tiny_max_size() -> None:
    assert decode('{"type":"heartbeat"}', max_size=20).type == "heartbeat"
    assert decode_error('{"type":"heartbeat"}', max_size=19).code is ErrorCode.MESSAGE_TOO_BIG
    assert decode_error("€€", max_size=5).code is ErrorCode.MESSAGE_TOO_BIG
    assert decode_error("€€", max_size=6).code is ErrorCode.INVALID_JSON


def test_lone_surrogates_count_three_bytes_and_never_crash_the_size_check() -> None:
    # Two lone surrogates take 3 bytes each when measured (surrogatepass).
    assert decode_error("\ud800\udfff", max_size=5).code is ErrorCode.MESSAGE_TOO_BIG
    assert decode_error("\ud800\udfff", max_size=6).code is ErrorCode.INVALID_JSON


def test_size_is_checked_before_parsing() -> None:
    assert decode_error("x" * 101, max_size=100).code is ErrorCode.MESSAGE_TOO_BIG
    assert decode_error(b"x" * 101, max_size=100).code is ErrorCode.BINARY_FRAME


def test_encode_refuses_a_message_larger_than_the_peer_takes() -> None:
    message = Result(job_id="j", attempt=1, output="é" * 1000)
    size = len(encode(message).encode("utf-8"))
    assert encode(message, max_size=size) == encode(message)
    with pytest.raises(MessageTooLarge) as too_large:
        encode(message, max_size=size - 1)
    assert (too_large.value.size, too_large.value.limit) == (size, size - 1)
    assert f"{size} bytes" in str(too_large.value)
    # Far under the limit even at 4 bytes a character: never measured, always sent.
    assert encode(Heartbeat(), max_size=1024) == '{"type":"heartbeat","jobs":[]}'


# --- ProtocolError ------------------------------------------------------------------


def test_protocol_error_becomes_an_error_message() -> None:
    error = ProtocolError(ErrorCode.UNKNOWN_JOB, "no job j", job_id="j")
    assert isinstance(error, Exception)
    assert (error.code, error.message, error.job_id, str(error)) == (
        ErrorCode.UNKNOWN_JOB,
        "no job j",
        "j",
        "no job j",
    )
    message = error.to_message()
    assert message == Error(code=ErrorCode.UNKNOWN_JOB, message="no job j", job_id="j")
    assert decode(encode(message)) == message


def test_decoding_a_sample_returns_an_equal_message() -> None:
    for message in SAMPLES.values():
        assert decode(encode(message), max_size=4096) == message


def test_pack_fills_frames_up_to_the_limit_in_bytes_and_keeps_order() -> None:
    assert pack([], max_size=1024) == []
    one = encode(Ack(job_id="a", attempt=1))
    assert pack([one], max_size=1024) == [one]  # a lone message goes as itself
    # Non-ASCII text is counted in UTF-8 bytes, not characters.
    texts = [encode(Ack(job_id=f"é{n:03}" + "✓" * 60, attempt=1)) for n in range(12)]
    frames = pack(texts, max_size=1024)
    assert len(frames) > 1
    assert all(len(frame.encode()) <= 1024 for frame in frames)
    assert [m for frame in frames for m in unbatched(decode(frame))] == [
        decode(text) for text in texts
    ]


def test_frame_safe_writes_lone_surrogates_as_text_and_leaves_the_rest() -> None:
    assert frame_safe("plain ✓ 日本") == "plain ✓ 日本"
    assert frame_safe("file \udcff.jpg") == "file \\udcff.jpg"
    encode(Error(code=ErrorCode.INTERNAL, message=frame_safe("\ud800")))  # now encodable
