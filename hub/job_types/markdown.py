"""Markdown jobs: a CSV (typed in, or an uploaded file) and a template go to the plugin,
which sends back markdown documents; the hub creates them as assets of the project."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ango_plugins_sdk.protocol import JobType
from ango_plugins_sdk.protocol.workspace import AssetIn
from hub.job_types.base import (
    Answer,
    DataPath,
    DataRequest,
    JobKind,
    Stream,
    Submission,
    counted_assets,
)
from hub.jobs.engine import Applied
from hub.jobs.state import ActiveJob
from hub.paths import job_data_path
from hub.services.errors import Invalid
from hub.workspace.requests import MAX_JSON_ASSETS_BYTES

CSV_SNIFF_BYTES = 64 * 1024
"""Bytes of an uploaded CSV read at submit to check its header."""
MAX_DOCUMENTS_PER_REQUEST = 1000


class _MarkdownInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(min_length=1, max_length=1_000_000)
    csv_text: str | None = Field(default=None, max_length=50_000_000)
    csv_file_id: str | None = None


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")

    markdown: Annotated[str, Field(max_length=1_000_000)]
    external_id: Annotated[str, Field(max_length=500)] | None = None
    batch: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class _Documents(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: Annotated[list[_Document], Field(max_length=MAX_DOCUMENTS_PER_REQUEST)]


class MarkdownKind(JobKind):
    type = JobType.MARKDOWN
    label = "Markdown"
    action = "Create documents"
    needs_project = True

    async def prepare_input(self, submission: Submission) -> dict[str, Any]:
        await self.project(submission)
        spec = submission.parse(_MarkdownInput)
        where = submission.where
        if (spec.csv_text is None) == (spec.csv_file_id is None):
            raise Invalid(f"{where}: give exactly one of csv_text or csv_file_id")
        prepared: dict[str, Any] = {"project_id": submission.project_id, "template": spec.template}
        if spec.csv_text is not None:
            prepared["csv_text"] = spec.csv_text
            prepared["num_rows"] = _check_csv(spec.csv_text, f"{where}.csv_text", complete=True)
            return prepared
        assert spec.csv_file_id is not None
        files = self.services.files
        stored = await files.get(submission.organization_id, spec.csv_file_id)
        head = b""
        async for chunk in files.read(stored):
            head += chunk
            if len(head) >= CSV_SNIFF_BYTES:
                break
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head[:CSV_SNIFF_BYTES])
        _check_csv(text, f"file {stored.filename!r}", complete=len(head) < CSV_SNIFF_BYTES)
        prepared["csv_file_id"] = stored.id
        return prepared

    def data_paths(self) -> list[DataPath]:
        return [DataPath("GET", "csv", self._csv), DataPath("POST", "documents", self._documents)]

    def io_paths(self, job: ActiveJob) -> dict[str, Any]:
        return {
            "csv_url": job_data_path(job.id, "csv"),
            "documents_url": job_data_path(job.id, "documents"),
        }

    async def _csv(self, request: DataRequest) -> Stream:
        job = request.job
        if "csv_text" in job.input:
            return Stream(_once(job.input["csv_text"].encode("utf-8")), "text/csv")
        files = self.services.files
        stored = await files.get(job.organization_id, job.input["csv_file_id"])
        return Stream(files.read(stored), "text/csv")

    async def _documents(self, request: DataRequest) -> Answer:
        # Documents are an asset list: the SDK sends many per request (markdown, often KiBs).
        sent = await request.json(_Documents, max_bytes=MAX_JSON_ASSETS_BYTES)
        try:
            assets = [
                AssetIn(markdown=d.markdown, external_id=d.external_id, batch=d.batch)
                for d in sent.documents
            ]
        except ValueError as exc:
            raise Invalid(f"invalid document: {exc}") from None
        job = request.job
        dedupe = bool(job.config.get("dedupe", False))
        return Answer(await self.services.job_assets.create(job, assets, dedupe=dedupe))

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        return Applied(counted_assets(self.type, output))


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _check_csv(text: str, what: str, *, complete: bool) -> int | None:
    """Rows after the header if `complete`; raises Invalid if it does not read as CSV."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise Invalid(f"{what} has no header row: the first line must name the columns")
        if len(set(header)) != len(header):
            raise Invalid(f"{what} repeats a column name in its header: {header}")
        if not complete:
            return None
        return sum(1 for row in reader if row)
    except csv.Error as exc:
        raise Invalid(f"{what} is not valid CSV: {exc}") from None
