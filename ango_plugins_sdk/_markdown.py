"""Markdown jobs: a CSV and a template in, markdown documents out (assets on the hub)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ango_plugins_sdk._job import ConfigT, DataJob, PlainConfig
from ango_plugins_sdk._plugins import Plugin
from ango_plugins_sdk.protocol import JobType

if TYPE_CHECKING:
    import pandas

DOCUMENTS_PER_REQUEST = 500
BYTES_PER_REQUEST = 8 * 1024 * 1024
"""A request carries at most this much markdown (or one document, whatever its size): the
hub caps the body of a documents request at 32 MiB, and a document may be 4 MB of UTF-8."""


class MarkdownDocument(BaseModel):
    """One markdown asset to create."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    markdown: Annotated[str, Field(max_length=1_000_000)]
    external_id: Annotated[str, Field(max_length=500)] | None = None
    batch: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class MarkdownJob(DataJob[ConfigT]):
    job_type = JobType.MARKDOWN

    @property
    def template(self) -> str:
        return str(self.input.get("template", ""))

    @property
    def project_id(self) -> str:
        return str(self.input.get("project_id", ""))

    @property
    def num_rows(self) -> int | None:
        """Rows in the CSV, when the hub could count them up front."""
        value = self.input.get("num_rows")
        return None if value is None else int(value)

    def rows(self) -> Iterator[dict[str, str]]:
        """The CSV's rows as {column: value}, streamed from the hub."""
        lines = (line.decode("utf-8-sig") for line in self._data.lines(self._io["csv_url"]))
        yield from csv.DictReader(lines)

    def dataframe(self) -> pandas.DataFrame:
        """The whole CSV as a pandas DataFrame (every column as text). For small files."""
        import pandas  # the SDK only needs pandas if a plugin asks for a DataFrame

        data = b"".join(self._data.lines(self._io["csv_url"]))
        return pandas.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)

    def _finish(self, value: Any) -> Any:
        if isinstance(value, MarkdownDocument):
            value = [value]
        if not isinstance(value, Iterable) or isinstance(value, str | bytes | dict):
            raise TypeError(
                "a markdown callback must return or yield MarkdownDocument objects, "
                f"not {type(value).__name__}"
            )
        totals = {"documents": 0, "created": 0, "skipped": 0}
        batch: list[dict[str, Any]] = []
        batch_bytes = 0
        for index, document in enumerate(value):
            if not isinstance(document, MarkdownDocument):
                if not isinstance(document, dict):
                    raise TypeError(
                        f"item {index}: expected a MarkdownDocument (or a dict of one), "
                        f"got {type(document).__name__}"
                    )
                document = MarkdownDocument.model_validate(document)
            size = len(document.markdown.encode("utf-8", "surrogatepass"))
            if batch and batch_bytes + size > BYTES_PER_REQUEST:
                self._send(batch, totals)
                batch, batch_bytes = [], 0
            batch.append(document.model_dump(exclude_none=True))
            batch_bytes += size
            if len(batch) >= DOCUMENTS_PER_REQUEST:
                self._send(batch, totals)
                batch, batch_bytes = [], 0
        if batch:
            self._send(batch, totals)
        return totals

    def _send(self, documents: list[dict[str, Any]], totals: dict[str, int]) -> None:
        answer = self._data.post_json(self._io["documents_url"], {"documents": documents})
        totals["documents"] += len(documents)
        totals["created"] += int(answer.get("created", 0))
        totals["skipped"] += int(answer.get("skipped", 0))


MarkdownReturn = MarkdownDocument | Iterable[MarkdownDocument | dict[str, Any]]
"""What a markdown callback returns or yields: documents (or dicts of their fields)."""


class MarkdownPlugin(
    Plugin[MarkdownJob[ConfigT], ConfigT, MarkdownReturn, MarkdownJob[PlainConfig]]
):
    """Serves markdown jobs: the callback reads `job.rows()` and yields the documents."""

    job_class = MarkdownJob
