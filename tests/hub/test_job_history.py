"""The job history download (GET /api/v1/jobs/export, the dashboard's /jobs/export): CSV or
NDJSON, streamed, by time range, plugin and status, the organization's jobs only."""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.db import JobRow
from hub.runtime import Hub
from hub.services.job_history import FIELDS, PAGE
from tests.hub.conftest import Owner

DAY = 86_400.0
DEC_1 = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


def stored_jobs(call: Callable[..., Any], hub: Hub, rows: list[JobRow]) -> None:
    async def write() -> None:
        async with hub.store.write() as session:
            session.add_all(rows)

    call(write)


def job(owner: Owner, plugin_id: str, created_at: float, **fields: Any) -> JobRow:
    values: dict[str, Any] = {
        # As the hub makes them: ids sort by creation time (hub.security.new_id).
        "id": f"{int(created_at * 1000):012x}{secrets.token_hex(6)}",
        "organization_id": owner.organization_id,
        "plugin_id": plugin_id,
        "created_by": owner.user_id,
        "type": "custom",
        "status": "succeeded",
        "attempt": 1,
        "created_at": created_at,
        "started_at": created_at + 1,
        "finished_at": created_at + 3.5,
        **fields,
    }
    return JobRow(**values)


def export(client: TestClient, owner: Owner, **params: str) -> Any:
    return client.get("/api/v1/jobs/export", params=params, headers=owner.headers)


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(response.text))
    assert tuple(reader.fieldnames or ()) == FIELDS
    return list(reader)


@pytest.fixture
def plugins(make_plugin: Callable[..., dict[str, Any]], acme: Owner) -> tuple[str, str]:
    return make_plugin(acme, name="Counter")["id"], make_plugin(acme, name="Other")["id"]


def test_csv_lists_the_organizations_jobs_oldest_first_with_their_facts(
    client: TestClient,
    call: Callable[..., Any],
    hub: Hub,
    acme: Owner,
    globex: Owner,
    plugins: tuple[str, str],
    make_plugin: Callable[..., dict[str, Any]],
) -> None:
    counter, _ = plugins
    theirs = make_plugin(globex, name="Theirs")["id"]
    failure = {"message": '=HYPERLINK("x")\nTraceback ...', "kind": "ValueError"}
    stored_jobs(
        call,
        hub,
        [
            job(acme, counter, DEC_1, input={"project_id": "p1"}),
            job(acme, counter, DEC_1 + 60, status="failed", error=failure, attempt=2),
            job(globex, theirs, DEC_1 + 30),
        ],
    )
    rows = csv_rows(export(client, acme))
    assert [r["created_at"] for r in rows] == [
        "2026-12-01T00:00:00+00:00",
        "2026-12-01T00:01:00+00:00",
    ]
    first, second = rows
    assert (first["plugin_name"], first["status"], first["duration_s"]) == (
        "Counter",
        "succeeded",
        "2.5",
    )
    assert (first["project_id"], first["created_by"], first["error_message"]) == (
        "p1",
        acme.user_id,
        "",
    )
    assert (second["status"], second["attempts"], second["error_kind"]) == (
        "failed",
        "2",
        "ValueError",
    )
    # A spreadsheet would run it as a formula; only its first line is kept.
    assert second["error_message"] == '\'=HYPERLINK("x")'


def test_ndjson_has_the_same_records(
    client: TestClient, call: Callable[..., Any], hub: Hub, acme: Owner, plugins: tuple[str, str]
) -> None:
    stored_jobs(call, hub, [job(acme, plugins[0], DEC_1)])
    response = export(client, acme, format="ndjson")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    (line,) = response.text.splitlines()
    record = json.loads(line)
    assert tuple(record) == FIELDS
    assert (record["duration_s"], record["error_message"]) == (2.5, None)


def test_filters_by_time_range_plugin_and_status(
    client: TestClient, call: Callable[..., Any], hub: Hub, acme: Owner, plugins: tuple[str, str]
) -> None:
    counter, other = plugins
    stored_jobs(
        call,
        hub,
        [
            job(acme, counter, DEC_1 - DAY),  # Nov 30
            job(acme, counter, DEC_1 + 3600),  # Dec 1, 01:00
            job(acme, other, DEC_1 + 7200, status="cancelled"),
            job(acme, counter, DEC_1 + DAY),  # Dec 2: not before until
        ],
    )
    december_1 = csv_rows(export(client, acme, since="2026-12-01", until="2026-12-02"))
    assert [r["created_at"][:13] for r in december_1] == ["2026-12-01T01", "2026-12-01T02"]
    with_offset = csv_rows(export(client, acme, since="2026-12-01T02:00:00+01:00"))
    assert len(with_offset) == 3  # 01:00 UTC onwards
    assert [r["plugin_id"] for r in csv_rows(export(client, acme, plugin_id=other))] == [other]
    cancelled = csv_rows(export(client, acme, status="cancelled"))
    assert [r["status"] for r in cancelled] == ["cancelled"]


def test_a_long_history_streams_every_page(
    client: TestClient, call: Callable[..., Any], hub: Hub, acme: Owner, plugins: tuple[str, str]
) -> None:
    count = PAGE * 2 + 7
    stored_jobs(call, hub, [job(acme, plugins[0], DEC_1 + i) for i in range(count)])
    rows = csv_rows(export(client, acme))
    assert len(rows) == count
    assert len({r["id"] for r in rows}) == count
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)


def test_a_queued_job_is_there_as_it_is_now(
    client: TestClient, acme: Owner, plugins: tuple[str, str]
) -> None:
    submitted = client.post(
        f"/api/v1/plugins/{plugins[0]}/jobs", json={"config": {}}, headers=acme.headers
    )
    assert submitted.status_code == 202
    (row,) = csv_rows(export(client, acme))
    assert (row["id"], row["status"], row["started_at"]) == (submitted.json()["id"], "queued", "")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"format": "xlsx"}, "format must be csv or ndjson"),
        ({"since": "yesterday"}, "since must be an ISO 8601 date"),
        ({"status": "done"}, "unknown status 'done'"),
        ({"since": "2026-12-02", "until": "2026-12-01"}, "since must be before until"),
    ],
)
def test_bad_parameters_are_a_clear_422(
    client: TestClient, acme: Owner, params: dict[str, str], message: str
) -> None:
    response = export(client, acme, **params)
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]


def test_needs_an_api_key(client: TestClient) -> None:
    assert client.get("/api/v1/jobs/export").status_code == 401
