"""Property tests: decode never fails except with ProtocolError; encode/decode round-trip."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from ango_plugins_sdk.protocol import (
    MESSAGE_TYPES,
    Accepted,
    Ack,
    Backoff,
    Batch,
    Cancel,
    Error,
    ErrorCode,
    Failed,
    Heartbeat,
    Hello,
    Job,
    JobError,
    JobRef,
    JobType,
    Log,
    LogRecord,
    Message,
    Progress,
    ProtocolError,
    Release,
    Result,
    Welcome,
    decode,
    encode,
)

from .samples import SAMPLES

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any text, lone surrogates included. Joined from pieces because hypothesis merges a
# one_of of character strategies into one alphabet that drops the surrogates again.
SURROGATES = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2)
ANY_TEXT = st.lists(st.text(max_size=10) | SURROGATES, max_size=4).map("".join)
# Text that UTF-8 can carry: what a real message may contain.
CHAR = st.characters(exclude_categories=["Cs"])


def text(min_size: int = 0, max_size: int | None = None) -> st.SearchStrategy[str]:
    return st.text(CHAR, min_size=min_size, max_size=max_size)


# Every field name of every model, so random objects often hit real fields.
FIELD_NAMES = sorted(
    {
        name
        for model in (*get_args(get_args(Message)[0]), JobRef, LogRecord, JobError)
        for name in model.model_fields
    }
)

FINITE = st.floats(allow_nan=False, allow_infinity=False)
ANY_FLOAT = st.floats()  # NaN and infinities too: decode must refuse them cleanly
JSON_SCALARS = st.none() | st.booleans() | st.integers() | ANY_FLOAT | ANY_TEXT
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | ANY_TEXT, children, max_size=4)
    ),
    max_leaves=8,
)
# Cheaper to draw, for filling many fields at once: shallow, keyed by real field names.
FIELD_VALUES = (
    JSON_SCALARS
    | st.lists(JSON_SCALARS, max_size=3)
    | st.dictionaries(st.sampled_from(FIELD_NAMES), JSON_SCALARS, max_size=3)
    | st.lists(st.dictionaries(st.sampled_from(FIELD_NAMES), JSON_SCALARS, max_size=3), max_size=2)
)
# Values a valid message may hold in its free-form fields: real JSON only.
CLEAN_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | FINITE | text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
CLEAN_OBJECT = st.dictionaries(text(max_size=10), CLEAN_JSON, max_size=4)


def to_frame(value: Any, ensure_ascii: bool) -> str:
    # json.dumps writes NaN/Infinity, and lone surrogates raw or as \uXXXX escapes.
    return json.dumps(value, ensure_ascii=ensure_ascii)


def decode_or_refusal(frame: str | bytes) -> BaseModel | ProtocolError:
    try:
        return decode(frame)
    except ProtocolError as error:
        return error


def assert_decodes_or_refuses(frame: str | bytes) -> None:
    """The only allowed outcomes: a message that round-trips, or a ProtocolError.

    Any other exception escapes decode_or_refusal and fails the test.
    """
    outcome = decode_or_refusal(frame)
    if isinstance(outcome, ProtocolError):
        assert isinstance(outcome.code, ErrorCode)
        assert outcome.message
        # The hub can always send the refusal back as an `error` message.
        reply = outcome.to_message()
        assert decode(encode(reply)) == reply
    else:
        assert outcome.model_dump()["type"] in MESSAGE_TYPES
        assert decode(encode(outcome)) == outcome


@FUZZ
@given(ANY_TEXT)
def test_decode_arbitrary_text(frame: str) -> None:
    assert_decodes_or_refuses(frame)


@FUZZ
@given(st.binary())
def test_decode_arbitrary_bytes_is_binary_frame(frame: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(frame)
    assert caught.value.code is ErrorCode.BINARY_FRAME


@FUZZ
@given(JSON_VALUES, st.booleans())
def test_decode_arbitrary_json(value: Any, ensure_ascii: bool) -> None:
    assert_decodes_or_refuses(to_frame(value, ensure_ascii))


@FUZZ
@given(
    st.sampled_from(sorted(MESSAGE_TYPES)),
    st.dictionaries(st.sampled_from(FIELD_NAMES), FIELD_VALUES, max_size=6),
    st.booleans(),
)
def test_decode_objects_with_a_valid_type_and_random_fields(
    message_type: str, fields: dict[str, Any], ensure_ascii: bool
) -> None:
    assert_decodes_or_refuses(to_frame(fields | {"type": message_type}, ensure_ascii))


@FUZZ
@given(st.data())
def test_decode_valid_messages_with_one_field_replaced(data: st.DataObject) -> None:
    message = data.draw(MESSAGES)
    body = json.loads(encode(message))
    name = data.draw(st.sampled_from(sorted(body)))
    body[name] = data.draw(FIELD_VALUES)
    assert_decodes_or_refuses(to_frame(body, data.draw(st.booleans())))


FREE_FORM_PATHS = [
    ("result", ("output",)),
    ("job", ("config", "key")),
    ("job", ("input", "key")),
    ("log", ("records", 0, "fields", "key")),
]


@FUZZ
@given(st.sampled_from(FREE_FORM_PATHS), JSON_VALUES, st.booleans())
def test_decode_any_json_in_free_form_fields(
    where: tuple[str, tuple[str | int, ...]], value: Any, ensure_ascii: bool
) -> None:
    name, path = where
    body = json.loads(encode(SAMPLES[name]))
    parent = body
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    assert_decodes_or_refuses(to_frame(body, ensure_ascii))


@FUZZ
@given(st.data())
def test_decode_valid_frames_cut_short_or_spliced(data: st.DataObject) -> None:
    frame = encode(data.draw(MESSAGES))
    cut = data.draw(st.integers(min_value=0, max_value=len(frame)))
    assert_decodes_or_refuses(frame[:cut] + data.draw(ANY_TEXT) + frame[cut + 1 :])


# --- round trips of hypothesis-built messages ----------------------------------------------

JOB_IDS = text(min_size=1, max_size=200)
ATTEMPTS = st.integers(min_value=1)
JOB_REFS = st.builds(JobRef, job_id=JOB_IDS, attempt=ATTEMPTS)
POSITIVE = st.floats(min_value=0, exclude_min=True, allow_infinity=False)
NON_NEGATIVE = st.floats(min_value=0, allow_infinity=False)
LOG_RECORDS = st.builds(
    LogRecord,
    level=st.sampled_from(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]),
    message=text(),
    fields=CLEAN_OBJECT,
    time=FINITE,
)
JOB_ERRORS = st.builds(
    JobError,
    message=text(),
    kind=text(max_size=200),
    retryable=st.booleans(),
    traceback=st.none() | text(),
)

MODELS: dict[type[BaseModel], st.SearchStrategy[Any]] = {
    Welcome: st.builds(
        Welcome,
        protocol=st.integers(),
        protocols=st.lists(st.integers(), max_size=3),
        connection_id=JOB_IDS,
        heartbeat_interval=POSITIVE,
        lease_ttl=POSITIVE,
        max_message_size=st.integers(min_value=1),
    ),
    Hello: st.builds(
        Hello,
        protocol=st.integers(),
        sdk_version=text(min_size=1, max_size=200),
        plugin_version=text(min_size=1, max_size=200),
        hostname=text(max_size=255),
        pid=st.integers(min_value=0),
        capacity=st.integers(min_value=1, max_value=10_000),
        jobs=st.lists(JOB_REFS, max_size=5),
    ),
    Heartbeat: st.builds(Heartbeat, jobs=st.lists(JOB_REFS, max_size=5)),
    Job: st.builds(
        Job,
        job_id=JOB_IDS,
        attempt=ATTEMPTS,
        job_type=st.sampled_from(JobType),
        operation=st.none() | text(),
        config=CLEAN_OBJECT,
        input=CLEAN_OBJECT,
        timeout_s=st.none() | POSITIVE,
    ),
    Accepted: st.builds(Accepted, job_id=JOB_IDS, attempt=ATTEMPTS),
    Progress: st.builds(
        Progress,
        job_id=JOB_IDS,
        attempt=ATTEMPTS,
        current=NON_NEGATIVE,
        total=st.none() | POSITIVE,
        message=st.none() | text(max_size=1000),
    ),
    Log: st.builds(
        Log, job_id=JOB_IDS, attempt=ATTEMPTS, records=st.lists(LOG_RECORDS, min_size=1, max_size=3)
    ),
    Result: st.builds(Result, job_id=JOB_IDS, attempt=ATTEMPTS, output=CLEAN_JSON),
    Failed: st.builds(Failed, job_id=JOB_IDS, attempt=ATTEMPTS, error=JOB_ERRORS),
    Release: st.builds(Release, job_id=JOB_IDS, attempt=ATTEMPTS, reason=text(max_size=1000)),
    Ack: st.builds(Ack, job_id=JOB_IDS, attempt=ATTEMPTS),
    Cancel: st.builds(
        Cancel, job_id=JOB_IDS, attempt=ATTEMPTS, grace_s=NON_NEGATIVE, reason=text()
    ),
    Error: st.builds(
        Error, code=st.sampled_from(ErrorCode), message=text(), job_id=st.none() | text()
    ),
}
BATCHED = [model for model in MODELS if model not in (Welcome, Hello)]
MODELS[Batch] = st.builds(
    Batch, messages=st.lists(st.one_of(*(MODELS[m] for m in BATCHED)), min_size=1, max_size=4)
)
MESSAGES: st.SearchStrategy[Any] = st.one_of(*MODELS.values())

# Models whose every field st.from_type can infer from the annotations (constraints
# included). The others need help: hypothesis passes pydantic's default-factory sentinel
# through (`jobs`, `config`), cannot draw `Any`, and draws infinite floats.
INFERRED = [Accepted, Ack, Release, Failed]


def test_strategies_cover_every_message_type() -> None:
    assert {model.model_fields["type"].default for model in MODELS} == MESSAGE_TYPES


@ROUND_TRIP
@given(MESSAGES)
def test_round_trip_of_built_messages(message: BaseModel) -> None:
    frame = encode(message)
    assert len(frame.encode("utf-8")) > 0
    decoded = decode(frame, max_size=10**8)
    assert type(decoded) is type(message)
    assert decoded == message


@ROUND_TRIP
@given(st.one_of(*(st.from_type(model) for model in INFERRED)))  # type: ignore[arg-type]
def test_round_trip_of_messages_inferred_from_type(message: BaseModel) -> None:
    assert decode(encode(message), max_size=10**8) == message


@FUZZ
@given(
    st.floats(min_value=1e-3, max_value=1e3),
    st.floats(min_value=0, max_value=1e4),
    st.floats(min_value=1, max_value=10),
    st.integers(min_value=0, max_value=2_000),
)
def test_backoff_bounds_for_any_valid_schedule(
    initial: float, extra: float, multiplier: float, attempt: int
) -> None:
    backoff = Backoff(initial=initial, maximum=initial + extra, multiplier=multiplier)
    ceiling = backoff.ceiling(attempt)
    assert initial <= ceiling <= backoff.maximum
    assert ceiling <= backoff.ceiling(attempt + 1)
    assert backoff.delay(attempt, uniform=lambda low, high: high) == ceiling
    assert backoff.delay(attempt, uniform=lambda low, high: low) == 0.0
    assert 0.0 <= backoff.delay(attempt) <= ceiling
