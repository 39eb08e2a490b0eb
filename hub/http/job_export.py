"""The job history download, for the API and the dashboard alike: CSV or NDJSON, streamed.

`GET /api/v1/jobs/export` and the dashboard's `/jobs/export` take the same query
(`format`, `since`, `until`, `plugin_id`, `status`) and answer the same file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hub.http.context import hub_of
from hub.services.accounts import Principal
from hub.services.errors import Invalid
from hub.services.job_history import FIELDS, HistoryFilter, parse_time

FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet runs a cell starting with these as a formula (CSV injection): a text
cell that does, such as a plugin's error message, is written with a leading `'`."""
ROWS_PER_CHUNK = 200


async def job_history_response(request: Request, principal: Principal) -> Response:
    params = request.query_params
    kind = (params.get("format") or "csv").lower()
    if kind not in FORMATS:
        raise Invalid(f"format must be csv or ndjson, not {kind!r}")
    wanted = HistoryFilter(
        since=parse_time("since", params.get("since")),
        until=parse_time("until", params.get("until")),
        plugin_id=params.get("plugin_id") or None,
        status=params.get("status") or None,
    )
    records = hub_of(request).job_history.records(principal, wanted)
    body = _csv(records) if kind == "csv" else _ndjson(records)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        body,
        media_type=FORMATS[kind],
        headers={"Content-Disposition": f'attachment; filename="jobs-{stamp}.{kind}"'},
    )


async def _ndjson(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    lines: list[bytes] = []
    async for record in records:
        lines.append(to_json(record) + b"\n")
        if len(lines) >= ROWS_PER_CHUNK:
            yield b"".join(lines)
            lines = []
    if lines:
        yield b"".join(lines)


async def _csv(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FIELDS)
    rows = 0
    async for record in records:
        writer.writerow([_cell(record[name]) for name in FIELDS])
        rows += 1
        if rows % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
