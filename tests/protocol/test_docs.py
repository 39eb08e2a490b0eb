"""docs/protocol.md must name every message, field, default, close code and error code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from ango_plugins_sdk.protocol import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    CloseCode,
    ErrorCode,
    JobError,
    JobRef,
    LogRecord,
    Message,
)
from ango_plugins_sdk.protocol.backoff import (
    DEFAULT_INITIAL_DELAY,
    DEFAULT_MAX_DELAY,
    DEFAULT_MULTIPLIER,
)

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")

MESSAGE_MODELS: dict[str, type[BaseModel]] = {
    model.model_fields["type"].default: model for model in get_args(get_args(Message)[0])
}
SHARED_MODELS: dict[str, type[BaseModel]] = {
    "Job ref": JobRef,
    "Log record": LogRecord,
    "Job error": JobError,
}


def section(heading: str) -> str:
    """The text under a heading, up to the next heading of any level."""
    match = re.search(rf"^#{{2,4}} {re.escape(heading)}\n(.*?)(?=^#)", DOC, re.M | re.S)
    assert match, f"docs/protocol.md has no section {heading!r}"
    return match.group(1)


def table_row(text: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is `first_cell`."""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row for {first_cell} in:\n{text}")


def check_fields(text: str, model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        if name == "type":
            continue
        cells = table_row(text, f"`{name}`")
        required_or_default = cells[2]
        if field.is_required():
            assert required_or_default == "required", (model.__name__, name)
        else:
            default = field.get_default(call_default_factory=True)
            assert required_or_default == f"default `{json.dumps(default)}`", (
                model.__name__,
                name,
            )
        assert cells[3], f"{model.__name__}.{name} has no meaning in the docs"
    documented = {
        line.split("|")[1].strip().strip("`")
        for line in text.splitlines()
        if line.startswith("| `")
    }
    assert documented == set(model.model_fields) - {"type"}, model.__name__


def test_every_message_type_is_documented() -> None:
    assert set(MESSAGE_MODELS) == MESSAGE_TYPES
    overview = DOC.split("### ", 1)[0]
    for message_type in MESSAGE_TYPES:
        assert f"| `{message_type}` |" in overview, message_type
        section(f"`{message_type}`")


@pytest.mark.parametrize("message_type", sorted(MESSAGE_TYPES))
def test_every_field_of_every_message_is_in_its_table(message_type: str) -> None:
    check_fields(section(f"`{message_type}`"), MESSAGE_MODELS[message_type])


@pytest.mark.parametrize("heading", sorted(SHARED_MODELS))
def test_every_field_of_shared_objects_is_in_its_table(heading: str) -> None:
    check_fields(section(heading), SHARED_MODELS[heading])


@pytest.mark.parametrize("code", list(CloseCode), ids=lambda code: code.name)
def test_every_close_code_is_documented(code: CloseCode) -> None:
    cells = table_row(section("Close codes"), str(code.value))
    assert cells[1] == f"`{code.name}`"
    assert cells[-1] == ("yes" if code.is_final else "no")


@pytest.mark.parametrize("code", list(ErrorCode), ids=str)
def test_every_error_code_is_documented_with_its_close_code(code: ErrorCode) -> None:
    cells = table_row(section("Error codes"), f"`{code.value}`")
    assert cells[-1] == str(code.close_code.value)


def test_limits_versions_and_backoff_defaults_match_the_code() -> None:
    assert f"{DEFAULT_MAX_MESSAGE_SIZE:,}".replace(",", " ") in DOC
    assert f"protocol version **{PROTOCOL_VERSION}**" in DOC
    backoff = section("Reconnect backoff")
    assert table_row(backoff, "`initial`")[1] == f"{DEFAULT_INITIAL_DELAY:g} s"
    assert table_row(backoff, "`maximum`")[1] == f"{DEFAULT_MAX_DELAY:g} s"
    assert table_row(backoff, "`multiplier`")[1] == f"{DEFAULT_MULTIPLIER:g}"


def test_size_limits_say_what_each_band_of_oversized_frame_gets() -> None:
    """tests/e2e/test_frame_limits.py checks the same two bands against a real hub."""
    text = section("Size limits")
    assert "answered with `error`\n  `message_too_big`" in text
    assert "larger than 4 \N{MULTIPLICATION SIGN} `max_message_size` is not read at all" in text
    assert "no `error` message comes first" in text
    assert "`hello.max_message_size` is the largest frame the **plugin** accepts" in text
