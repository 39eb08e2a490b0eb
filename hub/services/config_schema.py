"""Plugin config schemas (JSON Schema 2020-12) and checking configs against them.

Schemas come from plugin authors, so they are untrusted: only local references
(`#/...`) are allowed and nothing is ever fetched — jsonschema's default would follow a
remote `$ref` over the network from inside the hub (a server-side request forgery).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from hub.services.errors import Invalid


def _refuse_retrieval(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs field, untyped init


# `retrieve` is Registry's documented keyword (an attrs alias mypy does not see).
_NO_REMOTE_REFS: Registry[Any] = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def validate_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Return `schema` if it is a usable config schema, else raise ValueError saying why."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"config_schema is not a valid JSON Schema: {exc.message}") from None
    for ref in _refs(schema):
        if not ref.startswith("#"):
            raise ValueError(f"config_schema may only use local references (#/...), not {ref!r}")
    resolver = _NO_REMOTE_REFS.with_resource(
        "", Resource.from_contents(schema, default_specification=DRAFT202012)
    ).resolver()
    for ref in _refs(schema):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            raise ValueError(
                f"config_schema has a reference that points nowhere: {ref!r}"
            ) from None
    return schema


def check_config(schema: dict[str, Any] | None, config: dict[str, Any], *, what: str) -> None:
    """Raise `Invalid` naming the first problem if `config` does not fit `schema`."""
    if schema is None:
        return
    try:
        error = jsonschema.exceptions.best_match(_validator(schema).iter_errors(config))
    except Unresolvable as exc:
        raise Invalid(f"the plugin's config schema cannot be used: {exc}") from None
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise Invalid(
            f"{what} does not match the plugin's config schema at {where}: {error.message}"
        )


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, registry=_NO_REMOTE_REFS)
