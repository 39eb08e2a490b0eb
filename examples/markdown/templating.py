"""Fill a markdown template's `{{column}}` placeholders from CSV rows.

Pure Python, no SDK: the plugin (`plugin.py`) feeds it the job's rows, the tests feed it lists.

Template rules
--------------

- `{{ name }}` is a placeholder for the column `name`. Whitespace just inside the braces is
  ignored (`{{name}}`, `{{ name }}` and `{{  name  }}` are the same); whitespace *inside* the
  name is kept, so a column called `Unit price` is written `{{ Unit price }}`. Names are
  case-sensitive, as CSV headers are.
- `{{{{` is an escaped, literal `{{`. Nothing else needs escaping: `}}` outside a placeholder is
  plain text. So `{{{{name}}` renders as the text `{{name}}`.
- The template is read left to right once. A `{{` that is not closed by `}}`, an empty `{{ }}`,
  a name containing a brace or spanning lines is a `TemplateError` that says where it is.

Values
------

- A value goes into the document **as is**: no HTML escaping, no markdown escaping, no
  trimming. The hub stores markdown as text and sanitizes it wherever it renders it, so escaping
  here would only corrupt legitimate content (`a < b`, `**bold**` on purpose, code samples).
- Values are never evaluated and the output is never scanned again: a value containing
  `{{other}}` appears literally as `{{other}}`. There is no `str.format`, no Jinja, no `eval`.
- A row that has no value for a column (a short CSV line, `None`, a pandas `NaN`) renders an
  empty string for it. The template's columns are checked against the CSV header once, up front
  (`check_template`); after that a missing *value* is data, not an error, because CSV exports
  routinely drop trailing empty fields.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Template",
    "TemplateError",
    "check_template",
    "compile_template",
    "documents",
    "external_id_for",
    "is_empty_row",
    "parse_placeholders",
    "render",
]

OPEN = "{{"
CLOSE = "}}"
ESCAPED_OPEN = "{{{{"

Row = Mapping[Any, Any]
Document = tuple[str, str | None, str | None]
"""(markdown, external_id, batch)"""


class TemplateError(ValueError):
    """A template (or config) that cannot be used with this CSV.

    `missing` lists the columns the CSV lacks, `available` the columns it has; both are empty
    for syntax errors.
    """

    def __init__(
        self, message: str, *, missing: Sequence[str] = (), available: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.missing = list(missing)
        self.available = list(available)


@dataclass(frozen=True)
class _Placeholder:
    name: str


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and placeholders, in order."""

    source: str
    parts: tuple[str | _Placeholder, ...]

    @property
    def placeholders(self) -> list[str]:
        """Column names used, each once, in order of first use."""
        seen: dict[str, None] = {}
        for part in self.parts:
            if isinstance(part, _Placeholder):
                seen.setdefault(part.name)
        return list(seen)

    def render(self, row: Row) -> str:
        """The template with every placeholder replaced by the row's value, verbatim."""
        return "".join(
            part if isinstance(part, str) else _text(row.get(part.name)) for part in self.parts
        )


@functools.lru_cache(maxsize=64)
def compile_template(template: str) -> Template:
    """Parse `template` once; raises `TemplateError` on bad syntax."""
    if not isinstance(template, str):
        raise TypeError(f"a template must be a str, not {type(template).__name__}")
    parts: list[str | _Placeholder] = []
    literal: list[str] = []
    i = 0
    while True:
        j = template.find(OPEN, i)
        if j < 0:
            literal.append(template[i:])
            break
        literal.append(template[i:j])
        if template.startswith(ESCAPED_OPEN, j):
            literal.append(OPEN)
            i = j + len(ESCAPED_OPEN)
            continue
        end = template.find(CLOSE, j + len(OPEN))
        if end < 0:
            raise TemplateError(
                f"unclosed placeholder at {_where(template, j)}: '{{{{' without a matching "
                "'}}' (write '{{{{' for a literal '{{')"
            )
        raw = template[j + len(OPEN) : end]
        name = raw.strip()
        shown = template[j : end + len(CLOSE)]
        if not name:
            raise TemplateError(f"empty placeholder {shown!r} at {_where(template, j)}")
        if "{" in name or "}" in name:
            raise TemplateError(
                f"placeholder {shown!r} at {_where(template, j)}: a column name cannot contain "
                "braces (write '{{{{' for a literal '{{')"
            )
        if "\n" in name or "\r" in name:
            raise TemplateError(
                f"placeholder at {_where(template, j)} spans lines: {shown!r} "
                "(write '{{{{' for a literal '{{')"
            )
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(_Placeholder(name))
        i = end + len(CLOSE)
    tail = "".join(literal)
    if tail:
        parts.append(tail)
    return Template(template, tuple(parts))


def parse_placeholders(template: str) -> list[str]:
    """The column names the template uses, each once, in order of first use."""
    return compile_template(template).placeholders


def check_template(template: str, columns: Iterable[str]) -> None:
    """Raise `TemplateError` naming every column the template uses that is not in `columns`."""
    available = _columns(columns)
    missing = [name for name in parse_placeholders(template) if name not in available]
    if missing:
        raise _missing_error(missing, available)


def render(template: str, row: Row) -> str:
    """Fill the template's placeholders with the row's values, as plain text, in one pass."""
    return compile_template(template).render(row)


def external_id_for(row: Row, columns: Sequence[str], separator: str = "-") -> str | None:
    """The row's external id: the values of `columns`, trimmed, joined by `separator`.

    Returns None when every one of those values is empty (such a row has no identity, and
    deduplicating on an empty id would merge unrelated rows). Values are not escaped: choose a
    separator that cannot appear in them if `("a-b", "c")` and `("a", "b-c")` must differ.
    """
    if isinstance(columns, str):
        raise TypeError("columns must be a sequence of column names, not a str")
    if not columns:
        raise ValueError("external_id_for needs at least one column")
    values = [_text(row.get(column)).strip() for column in columns]
    if not any(values):
        return None
    return separator.join(values)


def is_empty_row(row: Row) -> bool:
    """True when every value of the row is empty or whitespace."""
    return not any(_text(value).strip() for key, value in row.items() if key is not None)


def documents(
    rows: Iterable[Row],
    template: str,
    *,
    batch_column: str | None = None,
    id_columns: Sequence[str] = (),
    skip_empty: bool = False,
) -> Iterator[Document]:
    """Yield `(markdown, external_id, batch)` for each row, lazily, one row at a time.

    The template's syntax is checked at once; its columns, `batch_column` and `id_columns` are
    checked against the first row's columns (the CSV header) before anything is produced.
    `external_id` is None without `id_columns` or when the row's id values are all empty;
    `batch` is the batch column's trimmed value, None when empty. With `skip_empty`, rows whose
    values are all blank produce nothing.
    """
    if isinstance(id_columns, str):
        raise TypeError("id_columns must be a sequence of column names, not a str")
    compiled = compile_template(template)
    return _documents(iter(rows), compiled, batch_column, tuple(id_columns), skip_empty)


def _documents(
    rows: Iterator[Row],
    compiled: Template,
    batch_column: str | None,
    id_columns: tuple[str, ...],
    skip_empty: bool,
) -> Iterator[Document]:
    first = next(rows, None)
    if first is None:
        return
    _check_all(compiled, first.keys(), batch_column, id_columns)
    row: Row | None = first
    while row is not None:
        if not (skip_empty and is_empty_row(row)):
            external_id = external_id_for(row, id_columns) if id_columns else None
            batch = (_text(row.get(batch_column)).strip() or None) if batch_column else None
            yield compiled.render(row), external_id, batch
        row = next(rows, None)


def _check_all(
    compiled: Template,
    columns: Iterable[Any],
    batch_column: str | None,
    id_columns: Sequence[str],
) -> None:
    available = _columns(columns)
    uses: dict[str, list[str]] = {}
    for name in compiled.placeholders:
        uses.setdefault(name, []).append("template")
    if batch_column is not None:
        uses.setdefault(batch_column, []).append("batch_column")
    for name in id_columns:
        uses.setdefault(name, []).append("id_columns")
    missing = [name for name in uses if name not in available]
    if missing:
        labels = {name: " and ".join(dict.fromkeys(uses[name])) for name in missing}
        raise _missing_error(missing, available, uses=labels)


def _missing_error(
    missing: Sequence[str], available: Sequence[str], *, uses: Mapping[str, str] | None = None
) -> TemplateError:
    plural = "s" if len(missing) != 1 else ""
    if uses is None:
        listed = ", ".join(repr(name) for name in missing)
        head = f"the template uses {len(missing)} column{plural} not in the CSV: {listed}"
    else:
        listed = ", ".join(f"{name!r} (in {uses[name]})" for name in missing)
        head = f"{len(missing)} column{plural} not in the CSV: {listed}"
    shown = ", ".join(repr(c) for c in available) if available else "(none)"
    message = f"{head}. The CSV's columns are: {shown}."
    hints = [f"{close!r} for {name!r}" for name in missing if (close := _close(name, available))]
    if hints:
        message += " Did you mean " + ", ".join(hints) + "?"
    return TemplateError(message, missing=missing, available=available)


def _close(name: str, available: Sequence[str]) -> str | None:
    folded = {c.strip().casefold(): c for c in available}
    if name.strip().casefold() in folded:
        return folded[name.strip().casefold()]
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.75)
    return close[0] if close else None


def _columns(columns: Iterable[Any]) -> list[str]:
    # csv.DictReader files a row's extra fields under the key None; that is not a column.
    return [c for c in columns if isinstance(c, str)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):  # pandas' marker for a missing value
        return ""
    return str(value)


def _where(template: str, index: int) -> str:
    line = template.count("\n", 0, index) + 1
    column = index - (template.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"
