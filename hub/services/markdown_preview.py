"""A preview of what a markdown job makes of an uploaded CSV's first row.

The hub never fills templates itself: the markdown plugin does, and how its placeholders
look is up to it (docs/job-types.md#markdown). The preview follows the documented
convention, the one `examples/markdown` implements: `{{ column }}` is the row's value for
`column` (whitespace just inside the braces ignored), `{{{{` is a literal `{{`, and values go
in as they are, in one pass. The result is rendered the way the hub renders every markdown
asset, sanitized, so a preview can never carry a script into the page.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass

from hub.services.accounts import Principal
from hub.services.errors import Invalid
from hub.services.files import FileService
from hub.services.rendering import render_markdown

PREVIEW_READ_LIMIT = 1024 * 1024
"""Bytes of the CSV read at most to find its header and first data row."""

_PLACEHOLDER = re.compile(r"\{\{\{\{|\{\{\s*([^{}\r\n]+?)\s*\}\}")


@dataclass(frozen=True, slots=True)
class Preview:
    html: str
    columns: list[str]
    """The CSV's header (empty without a CSV)."""
    missing: list[str]
    """Columns the template uses that the CSV does not have; left unfilled in the preview."""


def fill_template(template: str, row: Mapping[str, str]) -> tuple[str, list[str]]:
    """The template with each `{{ column }}` replaced by the row's value, and the names it
    used that the row lacks (those placeholders stay as they are)."""
    missing: dict[str, None] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:  # the escape {{{{
            return "{{"
        if name in row:
            return row[name]
        missing.setdefault(name)
        return match.group(0)

    return _PLACEHOLDER.sub(replace, template), list(missing)


async def first_row(
    files: FileService, principal: Principal, file_id: str
) -> tuple[list[str], dict[str, str]]:
    """The header of the organization's uploaded CSV and its first data row as a dict
    (empty when the CSV has none). Reads no more of the file than it needs."""
    stored = await files.get(principal.organization_id, file_id)
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    text, read, complete = "", 0, True
    async for chunk in files.read(stored):
        text += decoder.decode(chunk)
        read += len(chunk)
        # A third record means the first data row is whole (a quoted cell may span lines).
        if len(_records(text, stored.filename)) >= 3 or read >= PREVIEW_READ_LIMIT:
            complete = False
            break
    if complete:
        text += decoder.decode(b"", final=True)
    records = _records(text, stored.filename)
    if not records:
        raise Invalid(f"file {stored.filename!r} is empty: a CSV starts with a header row")
    header = records[0]
    if len(set(header)) != len(header):
        raise Invalid(f"file {stored.filename!r} repeats a column name in its header")
    if len(records) < 2:
        return header, {}
    values = records[1]
    return header, {name: values[i] if i < len(values) else "" for i, name in enumerate(header)}


def _records(text: str, filename: str) -> list[list[str]]:
    try:
        return [record for record in csv.reader(io.StringIO(text)) if record]
    except csv.Error as exc:
        raise Invalid(f"file {filename!r} does not read as CSV: {exc}") from None


async def preview(
    files: FileService, principal: Principal, template: str, csv_file_id: str | None
) -> Preview:
    """The template filled with the CSV's first row, as sanitized HTML. Without a CSV the
    template is shown as it is."""
    if len(template) > 1_000_000:
        raise Invalid("the template is at most 1,000,000 characters")
    if not csv_file_id:
        return Preview(html=render_markdown(template), columns=[], missing=[])
    columns, row = await first_row(files, principal, csv_file_id)
    filled, missing = fill_template(template, row)
    # Without a data row every placeholder stays unfilled; that is not a missing column.
    shown_missing = [name for name in missing if name not in columns]
    return Preview(html=render_markdown(filled), columns=columns, missing=shown_missing)
