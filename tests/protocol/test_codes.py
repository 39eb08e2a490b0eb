"""Close codes, error codes and how one leads to the other."""

from __future__ import annotations

import pytest

from ango_plugins_sdk.protocol import CloseCode, ErrorCode

EXPECTED_CLOSE_CODES = {
    "NORMAL": 1000,
    "GOING_AWAY": 1001,
    "POLICY_VIOLATION": 1008,
    "MESSAGE_TOO_BIG": 1009,
    "INTERNAL_ERROR": 1011,
    "SERVICE_RESTART": 1012,
    "TRY_AGAIN_LATER": 1013,
    "PROTOCOL_ERROR": 4000,
    "CREDENTIALS_REVOKED": 4001,
    "PLUGIN_DELETED": 4002,
    "HELLO_TIMEOUT": 4003,
    "HEARTBEAT_TIMEOUT": 4004,
    "UNSUPPORTED_PROTOCOL": 4005,
    "JOB_TYPE_MISMATCH": 4006,
}

CLOSE_AFTER_ERROR = {
    ErrorCode.BINARY_FRAME: CloseCode.PROTOCOL_ERROR,
    ErrorCode.INVALID_JSON: CloseCode.PROTOCOL_ERROR,
    ErrorCode.NOT_AN_OBJECT: CloseCode.PROTOCOL_ERROR,
    ErrorCode.UNKNOWN_TYPE: CloseCode.PROTOCOL_ERROR,
    ErrorCode.INVALID_MESSAGE: CloseCode.PROTOCOL_ERROR,
    ErrorCode.MESSAGE_TOO_BIG: CloseCode.MESSAGE_TOO_BIG,
    ErrorCode.UNSUPPORTED_PROTOCOL: CloseCode.UNSUPPORTED_PROTOCOL,
    ErrorCode.UNEXPECTED_MESSAGE: CloseCode.PROTOCOL_ERROR,
    ErrorCode.UNKNOWN_JOB: CloseCode.PROTOCOL_ERROR,
    ErrorCode.JOB_TYPE_MISMATCH: CloseCode.JOB_TYPE_MISMATCH,
    ErrorCode.INTERNAL: CloseCode.INTERNAL_ERROR,
}


def test_close_codes_are_exactly_the_documented_ones() -> None:
    assert {code.name: code.value for code in CloseCode} == EXPECTED_CLOSE_CODES


def test_close_codes_are_rfc_6455_or_in_the_private_range() -> None:
    for code in CloseCode:
        assert 1000 <= code <= 1013 or 4000 <= code <= 4999, code


@pytest.mark.parametrize("code", list(CloseCode), ids=lambda code: code.name)
def test_only_revoked_deleted_unsupported_and_mismatched_are_final(code: CloseCode) -> None:
    final = {
        CloseCode.CREDENTIALS_REVOKED,
        CloseCode.PLUGIN_DELETED,
        CloseCode.UNSUPPORTED_PROTOCOL,
        CloseCode.JOB_TYPE_MISMATCH,
    }
    assert code.is_final is (code in final)


def test_error_codes_are_snake_case_strings() -> None:
    assert {code.value for code in ErrorCode} == {
        "binary_frame",
        "invalid_json",
        "not_an_object",
        "unknown_type",
        "invalid_message",
        "message_too_big",
        "unsupported_protocol",
        "unexpected_message",
        "unknown_job",
        "job_type_mismatch",
        "internal",
    }
    assert ErrorCode("invalid_json") is ErrorCode.INVALID_JSON
    assert f"{ErrorCode.UNKNOWN_JOB}" == "unknown_job"


def test_every_error_code_has_its_expected_close_code() -> None:
    assert set(CLOSE_AFTER_ERROR) == set(ErrorCode)


@pytest.mark.parametrize("error", list(ErrorCode), ids=str)
def test_close_code_after_each_error(error: ErrorCode) -> None:
    assert error.close_code is CLOSE_AFTER_ERROR[error]
    assert isinstance(error.close_code, CloseCode)


def test_only_errors_no_reconnect_can_fix_lead_to_a_final_close() -> None:
    final = {error for error in ErrorCode if error.close_code.is_final}
    assert final == {ErrorCode.UNSUPPORTED_PROTOCOL, ErrorCode.JOB_TYPE_MISMATCH}
