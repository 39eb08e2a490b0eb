"""Markdown plugin: one markdown asset per CSV row, from a `{{column}}` template.

Run it with the plugin's credentials in the environment:

    PLUGIN_ID=... PLUGIN_SECRET=... HUB_URL=http://127.0.0.1:8000 python examples/markdown/plugin.py

Config (every key optional):

    {"batch_column": "category",      # put each asset in the batch named by this column
     "id_columns": ["sku"],           # external id = these columns' values joined by "-"
     "dedupe": true,                  # the hub skips assets whose external id already exists
     "skip_empty_rows": true}         # rows whose values are all blank create nothing (default)

The template and the rules for placeholders and values are in `templating.py` and README.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from templating import TemplateError, documents, parse_placeholders

from ango_plugins_sdk import MarkdownDocument, MarkdownJob, MarkdownPlugin, run

MAX_TRACKED_IDS = 1_000_000
"""Duplicate external ids are reported for the first this-many ids (bounded memory)."""
ROW_STEP_UNKNOWN_TOTAL = 1000
"""Rows between progress reports when the hub could not count the CSV's rows."""


class MarkdownConfig(BaseModel):
    """This plugin's config. Strict: `"true"` is not a boolean and `"sku"` is not a list.

    The SDK validates each job's config into it (`config_model`): a bad one fails the job with
    every problem named, before the callback runs."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    batch_column: str | None = None
    id_columns: list[str] = Field(default_factory=list)
    dedupe: bool = False
    skip_empty_rows: bool = True

    @field_validator("batch_column")
    @classmethod
    def _batch_column_named(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must be a column name or null, not an empty string")
        return value

    @field_validator("id_columns")
    @classmethod
    def _id_columns_named(cls, value: list[str]) -> list[str]:
        if any(not name.strip() for name in value):
            raise ValueError("column names must not be empty")
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(map(repr, repeated))} more than once")
        return value

    @model_validator(mode="after")
    def _dedupe_needs_ids(self) -> MarkdownConfig:
        if self.dedupe and not self.id_columns:
            raise ValueError(
                "dedupe is true but id_columns is empty: duplicates are recognized by external "
                'id, so name the columns that identify a row, e.g. "id_columns": ["sku"]'
            )
        return self


class _RowCounter:
    """Passes rows through, counting them, reporting progress and honouring a cancel."""

    def __init__(self, job: MarkdownJob[Any]) -> None:
        self.job = job
        self.count = 0
        self.total = job.num_rows or None
        self.step = max(1, self.total // 100) if self.total else ROW_STEP_UNKNOWN_TOTAL
        self._reported = -1

    def __call__(self, rows: Iterable[dict[str, str]]) -> Iterator[dict[str, str]]:
        for row in rows:
            if self.job.cancelled:
                raise RuntimeError(f"cancelled after {self.count} rows")
            self.count += 1
            if self.count % self.step == 0:
                self.report()
            yield row

    def report(self) -> None:
        if self.count == self._reported:
            return
        self._reported = self.count
        current = self.count if self.total is None else min(self.count, self.total)
        if current or self.total:
            noun = "row" if self.count == 1 else "rows"
            self.job.progress(current, self.total, f"read {self.count} CSV {noun}")


def make_documents(job: MarkdownJob[MarkdownConfig]) -> Iterator[MarkdownDocument]:
    """The callback: check the template, then one document per row, streamed."""
    config = job.config
    template = job.template
    if not template.strip():
        raise TemplateError("the template is empty: give the job a markdown template")
    placeholders = parse_placeholders(template)  # bad syntax fails before the CSV is read
    if not placeholders:
        job.logger.warning("the template has no {{column}} placeholders: every asset is the same")

    counter = _RowCounter(job)
    produced = without_id = duplicates = 0
    seen_ids: set[str] = set()
    rendered = documents(
        counter(job.rows()),
        template,
        batch_column=config.batch_column,
        id_columns=config.id_columns,
        skip_empty=config.skip_empty_rows,
    )
    for markdown, external_id, batch in rendered:
        if produced == 0:
            job.logger.info(
                "template checked against the CSV header: columns %s", ", ".join(placeholders)
            )
        try:
            document = MarkdownDocument(markdown=markdown, external_id=external_id, batch=batch)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"CSV row {counter.count}: {problems}") from None
        if external_id is None:
            without_id += 1
        elif external_id in seen_ids:
            duplicates += 1
            if duplicates <= 5:
                job.logger.warning(
                    "CSV row %d repeats the external id %r%s",
                    counter.count,
                    external_id,
                    " (dedupe will skip it)" if config.dedupe else "",
                )
        elif len(seen_ids) < MAX_TRACKED_IDS:
            seen_ids.add(external_id)
        produced += 1
        yield document

    counter.report()
    if counter.count == 0:
        job.logger.warning("the CSV has no rows: nothing to create")
    skipped = counter.count - produced
    job.logger.info(
        "%d documents from %d rows%s",
        produced,
        counter.count,
        f" ({skipped} empty rows skipped)" if skipped else "",
    )
    if config.id_columns and without_id:
        job.logger.warning(
            "%d rows have no value in %s and get no external id", without_id, config.id_columns
        )
    if duplicates:
        job.logger.warning("%d rows repeat an earlier row's external id", duplicates)


markdown_plugin = MarkdownPlugin(
    callback=make_documents, config_model=MarkdownConfig, concurrency=2
)

if __name__ == "__main__":
    run(markdown_plugin)
