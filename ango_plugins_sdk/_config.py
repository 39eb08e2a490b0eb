"""A job's config, validated into the plugin's `config_model`, with problems a user can act on.

pydantic's own message spreads a problem over three lines and links to its docs; the person
who typed the config wants the key, what is wrong with it and what they sent, one clause each,
so that examples need no config loader of their own.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ango_plugins_sdk._errors import InvalidConfig

MAX_SHOWN_VALUE = 80
"""Characters of a refused value quoted back in the message."""


def validated(config: dict[str, Any], model: type[Any] | None) -> Any:
    """The job's config, validated into `model` (a pydantic model class) when there is one.

    Raises `InvalidConfig` with every problem, e.g. `invalid config: format should be 'coco'
    or 'yolo', got "voc"; unknown key 'colour'; known keys: format, include_polygons`.
    """
    if model is None:
        return config
    try:
        return model.model_validate(config)
    except ValidationError as exc:
        raise InvalidConfig("invalid config: " + "; ".join(_problems(exc, model))) from None


def _problems(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    keys = [field.alias or name for name, field in model.model_fields.items()]
    problems = [_describe(error, keys) for error in exc.errors()]
    if any(_is_unknown_top_level_key(error) for error in exc.errors()):
        problems.append(f"known keys: {', '.join(keys)}")
    return problems


def _describe(error: ErrorDetails, keys: Sequence[str]) -> str:
    where = _path(error["loc"])
    message = error["msg"]
    if _is_unknown_top_level_key(error):
        close = difflib.get_close_matches(where, keys, n=1)
        return f"unknown key {where!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if error["type"] == "extra_forbidden":
        return f"unknown key {where!r}"
    if error["type"] == "missing":
        return f"{where} is required"
    if error["type"] in {"value_error", "assertion_error"}:
        # The plugin's own validator wrote the message: keep its words.
        reason = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return f"{where}: {reason}" if where else reason
    subject, should, rest = message.partition(" should ")
    got = f", got {_shown(error['input'])}"
    if should and " " not in subject:
        # "Input should be ...", "String should have ...": the key is the subject.
        return f"{where or 'the config'} should {rest}{got}"
    return f"{where or 'the config'}: {message}{got}"


def _is_unknown_top_level_key(error: ErrorDetails) -> bool:
    return error["type"] == "extra_forbidden" and len(error["loc"]) == 1


def _path(loc: tuple[int | str, ...]) -> str:
    """`("min_size", 1)` -> `min_size[1]`, `("storage", "bucket")` -> `storage.bucket`."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return text.removeprefix(".")


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= MAX_SHOWN_VALUE else text[: MAX_SHOWN_VALUE - 3] + "..."
