"""Turning frames into messages and back. Any bad frame becomes a `ProtocolError`."""

from __future__ import annotations

import json

from pydantic import BaseModel, ValidationError

from .codes import ErrorCode
from .messages import MESSAGE_ADAPTER, Error, Message

DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
"""Bytes in one frame. Bulk data travels over job-scoped HTTP URLs, never the socket."""

MAX_ERROR_TEXT = 500
"""Characters of an error's message; the rest is cut."""

# pydantic's error types for a frame that fails before any field is looked at.
_FRAME_ERRORS = {
    "json_invalid": ErrorCode.INVALID_JSON,
    "json_type": ErrorCode.INVALID_JSON,
    "recursion_loop": ErrorCode.INVALID_JSON,
    "dict_type": ErrorCode.NOT_AN_OBJECT,
    "model_attributes_type": ErrorCode.NOT_AN_OBJECT,
    "union_tag_not_found": ErrorCode.UNKNOWN_TYPE,
    "union_tag_invalid": ErrorCode.UNKNOWN_TYPE,
}
_FRAME_ERROR_TEXT = {
    ErrorCode.INVALID_JSON: "frame is not valid JSON",
    ErrorCode.NOT_AN_OBJECT: "a message must be a JSON object",
    ErrorCode.UNKNOWN_TYPE: "missing or unknown message type",
}


class ProtocolError(Exception):
    """A frame that is not a valid protocol message, with the error code to answer with."""

    def __init__(self, code: ErrorCode, message: str, *, job_id: str | None = None) -> None:
        # Bounded, so an error about a huge bad frame is not itself huge.
        message = message if len(message) <= MAX_ERROR_TEXT else message[:MAX_ERROR_TEXT] + "..."
        super().__init__(message)
        self.code = code
        self.message = message
        self.job_id = job_id if job_id is None or len(job_id) <= 200 else None

    def to_message(self) -> Error:
        """The `error` message that tells the peer what was wrong."""
        return Error(code=self.code, message=self.message, job_id=self.job_id)


class MessageTooLarge(ValueError):
    """A message whose frame would exceed what the receiving peer accepts."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the message is {size} bytes, over the peer's limit of {limit} bytes")
        self.size = size
        self.limit = limit


def encode(message: BaseModel, *, max_size: int | None = None) -> str:
    """One message as the text of one frame; `MessageTooLarge` if it would be larger than
    `max_size` UTF-8 bytes (the limit the receiving peer announced)."""
    text = message.model_dump_json(exclude_none=True)
    # A character is at most 4 bytes in UTF-8: only encode when the frame might be too big.
    if max_size is not None and len(text) * 4 > max_size:
        size = utf8_size(text)
        if size > max_size:
            raise MessageTooLarge(size, max_size)
    return text


def frame_safe(text: str) -> str:
    """`text` with any lone surrogate (a file name read with surrogateescape, say) written
    as `\\udcff`-style text: no JSON frame can carry one, and a log line or an error
    message holding one must still reach the hub."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


_BATCH_HEAD = '{"type":"batch","messages":['
_BATCH_TAIL = "]}"


def utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8 (without encoding it when it is ASCII, as frames mostly are)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def pack(texts: list[str], *, max_size: int) -> list[str]:
    """Encoded messages as few frames as `max_size` allows, in order (protocol 2): several
    in a `batch` frame, a lone one as itself. Each text must fit a frame on its own."""
    frames: list[str] = []
    room = max_size - len(_BATCH_HEAD) - len(_BATCH_TAIL)
    group: list[str] = []
    used = 0
    for text in texts:
        size = utf8_size(text) + 1  # and its comma
        if group and used + size > room:
            frames.append(_framed(group))
            group, used = [], 0
        group.append(text)
        used += size
    if group:
        frames.append(_framed(group))
    return frames


def _framed(group: list[str]) -> str:
    return group[0] if len(group) == 1 else _BATCH_HEAD + ",".join(group) + _BATCH_TAIL


def decode(frame: str | bytes, *, max_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> Message:
    """Parse one frame into a message, or raise `ProtocolError` saying what is wrong."""
    if not isinstance(frame, str):
        raise ProtocolError(ErrorCode.BINARY_FRAME, "binary frames are not allowed; send JSON text")
    # A character is at most 4 bytes in UTF-8: only encode when the frame might be too big.
    if len(frame) * 4 > max_size and len(frame.encode("utf-8", "surrogatepass")) > max_size:
        raise ProtocolError(
            ErrorCode.MESSAGE_TOO_BIG, f"frame is larger than the maximum of {max_size} bytes"
        )
    try:
        return MESSAGE_ADAPTER.validate_json(frame)
    except ValidationError as exc:
        raise _classify(frame, exc) from None


def _classify(frame: str, exc: ValidationError) -> ProtocolError:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    if first["loc"] == ():
        # Failed before any field was looked at: not JSON, not an object, or no known type.
        code = _FRAME_ERRORS.get(first["type"], ErrorCode.INVALID_JSON)
        return ProtocolError(code, f"{_FRAME_ERROR_TEXT[code]}: {first['msg']}")
    # An object with a known type (the first location part): say which fields are wrong.
    parts = [_describe_field(err["loc"][1:], err["msg"]) for err in errors[:3]]
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return ProtocolError(
        ErrorCode.INVALID_MESSAGE,
        f"invalid {first['loc'][0]!r} message: {'; '.join(parts)}",
        job_id=_job_id_of(frame),
    )


def _job_id_of(frame: str) -> str | None:
    """The frame's `job_id`, if it has a readable one, so the error can name the job."""
    try:
        job_id = json.loads(frame).get("job_id")
    except (ValueError, AttributeError, RecursionError):
        return None
    return job_id if isinstance(job_id, str) else None


def _describe_field(location: tuple[int | str, ...], text: str) -> str:
    return f"{'.'.join(str(part) for part in location) or 'message'}: {text}"
