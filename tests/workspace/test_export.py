"""GET /projects/{id}/export (NDJSON) and the service's streamed export."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from ango_plugins_sdk.protocol.workspace import AssetIn, ExportedTask
from hub.db.workspace_tables import TaskRow
from hub.runtime import Hub
from hub.workspace import export as export_module
from tests.hub.conftest import Owner
from tests.workspace.helpers import (
    API,
    MakeProject,
    add_assets,
    all_tasks,
    category_ids,
    png_bytes,
)
from tests.workspace.test_projects import error_of

Call = Callable[..., Any]


def export(client: TestClient, owner: Owner, project_id: str, **params: Any) -> Any:
    return client.get(f"{API}/projects/{project_id}/export", headers=owner.headers, params=params)


def lines(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.text == "" or response.text.endswith("\n")
    parsed = [json.loads(line) for line in response.text.splitlines()]
    assert response.headers["x-task-count"] == str(len(parsed))
    return parsed


@pytest.fixture
def project(client: TestClient, acme: Owner, make_project: MakeProject) -> dict[str, Any]:
    """Three tasks: an image by URL (annotated, batch a, stage review), a markdown document
    (batch b), and an uploaded PNG (batches a and b)."""
    project = make_project(acme, stages=["model"])
    add_assets(
        client,
        acme,
        project["id"],
        [
            {
                "url": "https://img.example/street.jpg",
                "external_id": "street",
                "width": 640,
                "height": 480,
                "batch": "a",
                "metadata": {"camera": "front"},
            },
            {"markdown": "# Doc <b>bold</b>", "external_id": "doc", "batch": "b"},
        ],
    )
    uploaded = client.post(
        f"{API}/projects/{project['id']}/assets",
        headers=acme.headers,
        files=[("file", ("tiny.png", png_bytes(3, 2), "image/png"))],
        data={"external_id": "tiny", "batch": "a"},
    )
    assert uploaded.status_code == 201, uploaded.text
    street, _doc, tiny = all_tasks(client, acme, project["id"])
    client.patch(f"{API}/tasks/{tiny['id']}", headers=acme.headers, json={"batches": ["a", "b"]})
    client.patch(f"{API}/tasks/{street['id']}", headers=acme.headers, json={"stage": "review"})
    ids = category_ids(project)
    response = client.put(
        f"{API}/tasks/{street['id']}/annotations",
        headers=acme.headers,
        json={
            "objects": [
                {"category_id": ids["car"], "bbox": {"x": 10, "y": 20, "w": 30.5, "h": 40}},
                {
                    "category_id": ids["road"],
                    "polygon": [[0, 0], [100, 0], [50, 80.25]],
                    "source": {"kind": "plugin", "plugin_id": "seg", "plugin_version": "1.2"},
                    "score": 0.5,
                },
                {"category_id": ids["pin"], "point": {"x": 7, "y": 8}},
            ],
            "classifications": [{"category_id": ids["weather"], "value": "sunny"}],
        },
    )
    assert response.status_code == 200, response.text
    return project


def test_export_has_every_field_with_category_names(
    client: TestClient, acme: Owner, project: dict[str, Any]
) -> None:
    tasks = all_tasks(client, acme, project["id"])
    exported = lines(export(client, acme, project["id"]))
    assert [e["task_id"] for e in exported] == [t["id"] for t in tasks]
    street, doc, tiny = exported
    ids = category_ids(project)
    human = {"kind": "human"}
    assert street == {
        "task_id": tasks[0]["id"],
        "stage": "review",
        "batches": ["a"],
        "asset": {
            "id": tasks[0]["asset"]["id"],
            "type": "image",
            "url": "https://img.example/street.jpg",
            "external_id": "street",
            "width": 640,
            "height": 480,
            "metadata": {"camera": "front"},
        },
        "annotations": {
            "objects": [
                {
                    "category_id": ids["car"],
                    "category": "car",
                    "tool": "bbox",
                    "bbox": {"x": 10.0, "y": 20.0, "w": 30.5, "h": 40.0},
                    "source": human,
                },
                {
                    "category_id": ids["road"],
                    "category": "road",
                    "tool": "polygon",
                    "polygon": [[0.0, 0.0], [100.0, 0.0], [50.0, 80.25]],
                    "source": {"kind": "plugin", "plugin_id": "seg", "plugin_version": "1.2"},
                    "score": 0.5,
                },
                {
                    "category_id": ids["pin"],
                    "category": "pin",
                    "tool": "point",
                    "point": {"x": 7.0, "y": 8.0},
                    "source": human,
                },
            ],
            "classifications": [
                {
                    "category_id": ids["weather"],
                    "category": "weather",
                    "value": "sunny",
                    "source": human,
                }
            ],
        },
        "updated_at": street["updated_at"],
    }
    assert (
        street["updated_at"]
        == client.get(f"{API}/tasks/{tasks[0]['id']}", headers=acme.headers).json()["updated_at"]
    )
    assert doc["asset"]["type"] == "markdown"
    assert doc["asset"]["markdown"] == "# Doc <b>bold</b>"
    assert doc["stage"] == "todo"
    assert doc["batches"] == ["b"]
    assert doc["annotations"] == {"objects": [], "classifications": []}
    assert tiny["batches"] == ["a", "b"]
    assert tiny["asset"]["url"] == f"/api/v1/assets/{tiny['asset']['id']}/file"
    assert (tiny["asset"]["width"], tiny["asset"]["height"]) == (3, 2)
    assert tiny["asset"]["metadata"] == {"filename": "tiny.png"}
    for line in exported:
        ExportedTask.model_validate(line)  # the shared shape parses every line


def test_export_filters(client: TestClient, acme: Owner, project: dict[str, Any]) -> None:
    def external_ids(**params: Any) -> list[str]:
        return [
            e["asset"]["external_id"] for e in lines(export(client, acme, project["id"], **params))
        ]

    assert external_ids() == ["street", "doc", "tiny"]
    assert external_ids(stage="review") == ["street"]
    assert external_ids(stage="todo") == ["doc", "tiny"]
    assert external_ids(stage=["todo", "review"]) == ["street", "doc", "tiny"]
    assert external_ids(stage="model") == []
    assert external_ids(batch="a") == ["street", "tiny"]
    assert external_ids(batch="b") == ["doc", "tiny"]
    assert external_ids(batch=["a", "b"]) == ["street", "doc", "tiny"]
    assert external_ids(batch="nope") == []
    assert external_ids(stage="todo", batch="a") == ["tiny"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"stage": "shipped"}, "unknown stage 'shipped'"),
        ({"stages": "todo"}, "unknown query parameter(s) stages"),
        ({"batch": ""}, "batch must not be empty"),
    ],
)
def test_bad_export_filters_are_a_422_not_a_silent_full_export(
    client: TestClient, acme: Owner, project: dict[str, Any], params: Any, expected: str
) -> None:
    assert expected in error_of(export(client, acme, project["id"], **params), 422)["message"]


def test_export_of_another_organizations_project_is_not_found(
    client: TestClient, acme: Owner, globex: Owner, project: dict[str, Any]
) -> None:
    error_of(export(client, globex, project["id"]), 404)
    error_of(export(client, acme, "nope"), 404)
    assert client.get(f"{API}/projects/{project['id']}/export").status_code == 401


def test_export_of_an_empty_project_is_empty(
    client: TestClient, acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    response = export(client, acme, project["id"])
    assert response.status_code == 200
    assert response.text == ""
    assert response.headers["x-task-count"] == "0"


def test_export_crosses_page_boundaries_in_order(
    call: Call,
    hub: Hub,
    client: TestClient,
    acme: Owner,
    make_project: MakeProject,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(export_module, "EXPORT_PAGE_SIZE", 4)
    project = make_project(acme)
    assets = [
        AssetIn(markdown=f"m{i}", external_id=str(i), batch="odd" if i % 2 else "even")
        for i in range(13)
    ]
    assert call(hub.workspace.assets.create_many, acme.organization_id, project["id"], assets) == (
        13,
        0,
    )
    exported = lines(export(client, acme, project["id"]))
    assert [e["asset"]["external_id"] for e in exported] == [str(i) for i in range(13)]
    odd = lines(export(client, acme, project["id"], batch="odd"))
    assert [e["asset"]["external_id"] for e in odd] == [str(i) for i in range(1, 13, 2)]
    count = call(
        hub.workspace.exports.count,
        acme.organization_id,
        project["id"],
        stages=None,
        batches=["odd"],
    )
    assert count == 6


async def annotate_every_task(hub: Hub, project_id: str, annotations: dict[str, Any]) -> None:
    """Store `annotations` on every task of the project, as they are (not through the
    models), in one statement."""
    async with hub.store.write() as session:
        await session.execute(
            update(TaskRow).where(TaskRow.project_id == project_id).values(annotations=annotations)
        )


def test_export_memory_stays_flat(
    call: Call, hub: Hub, acme: Owner, make_project: MakeProject
) -> None:
    """20,000 annotated tasks streamed: the traced peak stays a small fraction of what
    holding the export would take (about 200 MB for these tasks, measured)."""
    project = make_project(acme)
    workspace = hub.workspace
    total = 20_000
    for start in range(0, total, 5_000):
        assets = [
            AssetIn(
                url=f"https://img.example/{i}.jpg",
                external_id=f"image-{i}",
                width=1920,
                height=1080,
                batch=f"batch-{i % 10}",
            )
            for i in range(start, start + 5_000)
        ]
        call(workspace.assets.create_many, acme.organization_id, project["id"], assets)
    car = category_ids(project)["car"]
    annotations = {
        "objects": [
            {"category_id": car, "bbox": {"x": i, "y": i, "w": 10, "h": 10}, "source": {}}
            for i in range(3)
        ],
        "classifications": [],
    }

    call(annotate_every_task, hub, project["id"], annotations)

    async def consume(*, limit: int | None = None, traced: bool = True) -> tuple[int, int]:
        seen = 0
        tasks = workspace.exports.stream(acme.organization_id, project["id"])
        if traced:
            tracemalloc.start()
        baseline, _ = tracemalloc.get_traced_memory()
        try:
            async for task in tasks:
                assert len(task.annotations.objects) == 3
                seen += 1
                if seen == limit:
                    break
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await tasks.aclose()  # type: ignore[attr-defined]
        return seen, peak - baseline

    # A first pass compiles and caches the queries, outside the measurement.
    call(consume, limit=2 * export_module.EXPORT_PAGE_SIZE + 1, traced=False)
    seen, peak = call(consume)
    assert seen == total
    assert peak < 6 * 1024 * 1024, f"export peaked at {peak / 1e6:.1f} MB over the baseline"


async def models_and_lines(
    hub: Hub, owner: Owner, project_id: str
) -> tuple[list[ExportedTask], list[bytes]]:
    """The project's tasks as `stream` yields them, and the NDJSON's lines, which must
    parse back to exactly those tasks."""
    exports = hub.workspace.exports
    models = [task async for task in exports.stream(owner.organization_id, project_id)]
    chunks = [chunk async for chunk in exports.ndjson(owner.organization_id, project_id)]
    lines = b"".join(chunks).splitlines()
    assert [ExportedTask.model_validate_json(line) for line in lines] == models
    return models, lines


def test_the_ndjson_lines_are_what_the_stream_yields(
    hub: Hub, call: Call, acme: Owner, project: dict[str, Any]
) -> None:
    """The NDJSON is written from plain data, not from the models: a reader that validates
    its lines (the SDK) must get exactly the tasks `stream` yields, in the same bytes."""

    models, lines = call(models_and_lines, hub, acme, project["id"])
    expected = [model.model_dump_json(exclude_none=True).encode() for model in models]
    assert lines == expected


def test_annotations_a_plugin_wrote_export_in_the_models_order_without_nulls(
    hub: Hub, call: Call, acme: Owner, project: dict[str, Any]
) -> None:
    """A plugin's pre-labels are stored in the order hub.job_types.predictions writes them
    (source and score before the geometry, a version that may be unknown): the export line
    still has the models' field order and leaves the nulls out."""
    ids = category_ids(project)
    source = {"kind": "plugin", "plugin_id": "p1", "plugin_version": None}
    annotations = {
        "objects": [
            {
                "category_id": ids["car"],
                "source": source,
                "score": 0.9,
                "bbox": {"x": 1, "y": 2, "w": 3, "h": 4},
            },
            {"category_id": ids["pin"], "source": source, "point": {"x": 5, "y": 6}},
        ],
        "classifications": [{"category_id": ids["weather"], "source": source, "value": "rain"}],
    }

    call(annotate_every_task, hub, project["id"], annotations)
    models, lines = call(models_and_lines, hub, acme, project["id"])
    for line, model in zip(lines, models, strict=True):
        written = json.loads(line)["annotations"]
        expected = json.loads(model.model_dump_json(exclude_none=True))["annotations"]
        for kind in ("objects", "classifications"):
            assert [list(a) for a in written[kind]] == [list(a) for a in expected[kind]]
            assert [list(a["source"]) for a in written[kind]] == [["kind", "plugin_id"]] * len(
                written[kind]
            )
