"""Close codes and error codes shared by the hub and the SDK."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class CloseCode(IntEnum):
    """WebSocket close codes used by Plugin Hub.

    1000-1013 are RFC 6455 codes with their usual meaning; 4000-4999 are ours.
    """

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013

    PROTOCOL_ERROR = 4000
    """A frame broke the protocol: bad JSON, unknown type, wrong fields, wrong order."""
    CREDENTIALS_REVOKED = 4001
    """The plugin's secret was rotated; reconnecting with the old secret will be refused."""
    PLUGIN_DELETED = 4002
    """The plugin was deleted from the hub."""
    HELLO_TIMEOUT = 4003
    """The plugin did not send `hello` in time after `welcome`."""
    HEARTBEAT_TIMEOUT = 4004
    """No heartbeat arrived within the hub's heartbeat timeout (frozen or cut-off process)."""
    UNSUPPORTED_PROTOCOL = 4005
    """The plugin speaks a protocol version the hub does not."""
    JOB_TYPE_MISMATCH = 4006
    """The process serves another job type than the plugin its credentials belong to."""

    @property
    def is_final(self) -> bool:
        """True when reconnecting cannot help and the SDK should stop."""
        return self in _FINAL_CLOSE_CODES


_FINAL_CLOSE_CODES = frozenset(
    {
        CloseCode.CREDENTIALS_REVOKED,
        CloseCode.PLUGIN_DELETED,
        CloseCode.UNSUPPORTED_PROTOCOL,
        CloseCode.JOB_TYPE_MISMATCH,
    }
)


class ErrorCode(StrEnum):
    """The `code` of an `error` message, and of a `ProtocolError`."""

    BINARY_FRAME = "binary_frame"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_MESSAGE = "invalid_message"
    MESSAGE_TOO_BIG = "message_too_big"
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"
    UNEXPECTED_MESSAGE = "unexpected_message"
    UNKNOWN_JOB = "unknown_job"
    JOB_TYPE_MISMATCH = "job_type_mismatch"
    """Sent only to a peer that named its job type in `hello`, so older peers never see it."""
    INTERNAL = "internal"

    @property
    def close_code(self) -> CloseCode:
        """The close code the hub uses after answering with this error."""
        return _CLOSE_FOR_ERROR.get(self, CloseCode.PROTOCOL_ERROR)


_CLOSE_FOR_ERROR = {
    ErrorCode.MESSAGE_TOO_BIG: CloseCode.MESSAGE_TOO_BIG,
    ErrorCode.UNSUPPORTED_PROTOCOL: CloseCode.UNSUPPORTED_PROTOCOL,
    ErrorCode.JOB_TYPE_MISMATCH: CloseCode.JOB_TYPE_MISMATCH,
    ErrorCode.INTERNAL: CloseCode.INTERNAL_ERROR,
}
