"""GET /projects/{id}/tasks, GET/PATCH /tasks/{id}, PUT /tasks/{id}/annotations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.hub.conftest import Owner
from tests.workspace.helpers import API, MakeProject, add_assets, all_tasks, category_ids
from tests.workspace.test_projects import error_of


@pytest.fixture
def project(client: TestClient, acme: Owner, make_project: MakeProject) -> dict[str, Any]:
    """A project with 7 image tasks: batches a (0-3), b (2-5), none (6)."""
    project = make_project(acme, stages=["model"])
    assets = [
        {"url": f"https://img.example/{i}.jpg", "external_id": str(i), "width": 100, "height": 50}
        for i in range(7)
    ]
    add_assets(client, acme, project["id"], assets)
    tasks = all_tasks(client, acme, project["id"])
    for index, task in enumerate(tasks):
        batches = [n for n, members in (("a", range(4)), ("b", range(2, 6))) if index in members]
        if batches:
            response = client.patch(
                f"{API}/tasks/{task['id']}", headers=acme.headers, json={"batches": batches}
            )
            assert response.status_code == 200, response.text
    return project


def external_ids(tasks: list[dict[str, Any]]) -> list[str]:
    return [t["asset"]["external_id"] for t in tasks]


def test_tasks_page_in_creation_order(
    client: TestClient, acme: Owner, project: dict[str, Any]
) -> None:
    url = f"{API}/projects/{project['id']}/tasks"
    first = client.get(url, headers=acme.headers, params={"limit": 3}).json()
    assert external_ids(first["items"]) == ["0", "1", "2"]
    assert first["next"]
    second = client.get(
        url, headers=acme.headers, params={"limit": 3, "cursor": first["next"]}
    ).json()
    assert external_ids(second["items"]) == ["3", "4", "5"]
    third = client.get(
        url, headers=acme.headers, params={"limit": 3, "cursor": second["next"]}
    ).json()
    assert external_ids(third["items"]) == ["6"]
    assert third["next"] is None
    item = first["items"][0]
    assert set(item) == {
        "id",
        "project_id",
        "stage",
        "batches",
        "asset",
        "created_at",
        "updated_at",
        "stage_job_id",
    }
    assert item["stage_job_id"] is None
    assert item["project_id"] == project["id"]
    datetime.fromisoformat(item["updated_at"])


def test_tasks_filter_by_stage_and_batch(
    client: TestClient, acme: Owner, project: dict[str, Any]
) -> None:
    tasks = all_tasks(client, acme, project["id"])
    for task in tasks[1:3]:
        response = client.patch(
            f"{API}/tasks/{task['id']}", headers=acme.headers, json={"stage": "model"}
        )
        assert response.status_code == 200, response.text
    assert external_ids(all_tasks(client, acme, project["id"], batch="a")) == ["0", "1", "2", "3"]
    assert external_ids(all_tasks(client, acme, project["id"], batch="b")) == ["2", "3", "4", "5"]
    assert external_ids(all_tasks(client, acme, project["id"], stage="model")) == ["1", "2"]
    assert external_ids(all_tasks(client, acme, project["id"], stage="todo", batch="b")) == [
        "3",
        "4",
        "5",
    ]
    assert all_tasks(client, acme, project["id"], batch="nope") == []
    paged = all_tasks(client, acme, project["id"], batch="b", limit=1)
    assert external_ids(paged) == ["2", "3", "4", "5"]
    assert [t["batches"] for t in all_tasks(client, acme, project["id"], batch="b")] == [
        ["a", "b"],
        ["a", "b"],
        ["b"],
        ["b"],
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"stage": "nope"}, "unknown stage 'nope'"),
        ({"stages": "todo"}, "unknown query parameter(s) stages"),
        ({"stage": ""}, "stage must not be empty"),
        ({"stage": ["todo", "done"]}, "at most one stage"),
        ({"limit": "0"}, "limit must be between 1 and 200"),
    ],
)
def test_bad_task_filters_are_a_422(
    client: TestClient, acme: Owner, project: dict[str, Any], params: Any, expected: str
) -> None:
    response = client.get(
        f"{API}/projects/{project['id']}/tasks", headers=acme.headers, params=params
    )
    assert expected in error_of(response, 422)["message"]


def test_patch_moves_stage_and_replaces_batches(
    client: TestClient, acme: Owner, project: dict[str, Any]
) -> None:
    task = all_tasks(client, acme, project["id"])[0]
    response = client.patch(
        f"{API}/tasks/{task['id']}",
        headers=acme.headers,
        json={"stage": "review", "batches": ["z", "c", "z"]},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["stage"] == "review"
    assert changed["batches"] == ["c", "z"]
    assert changed["updated_at"] > task["updated_at"]
    assert client.get(f"{API}/tasks/{task['id']}", headers=acme.headers).json() == changed
    cleared = client.patch(f"{API}/tasks/{task['id']}", headers=acme.headers, json={"batches": []})
    assert cleared.json()["batches"] == []
    assert cleared.json()["stage"] == "review"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"stage": "shipped"}, "unknown stage 'shipped'"),
        ({"stage": None}, "stage cannot be null"),
        ({"batches": None}, "batches cannot be null"),
        ({"batches": [""]}, "batches.0"),
        ({"priority": 1}, "priority"),
    ],
)
def test_bad_task_changes_are_a_422(
    client: TestClient, acme: Owner, project: dict[str, Any], body: Any, expected: str
) -> None:
    task = all_tasks(client, acme, project["id"])[0]
    response = client.patch(f"{API}/tasks/{task['id']}", headers=acme.headers, json=body)
    assert expected in error_of(response, 422)["message"]


# --- annotations ---------------------------------------------------------------------------


def valid_annotations(project: dict[str, Any]) -> dict[str, Any]:
    ids = category_ids(project)
    return {
        "objects": [
            {"category_id": ids["car"], "bbox": {"x": 1, "y": 2.5, "w": 30, "h": 20}},
            {"category_id": ids["road"], "polygon": [[0, 0], [10, 0], [5, 8]]},
            {
                "category_id": ids["pin"],
                "point": {"x": 4, "y": 4},
                "source": {"kind": "plugin", "plugin_id": "p1", "plugin_version": "2.0"},
                "score": 0.75,
            },
        ],
        "classifications": [{"category_id": ids["weather"], "value": "rain"}],
    }


def test_put_annotations_then_read_them_back(
    client: TestClient, acme: Owner, project: dict[str, Any]
) -> None:
    task = all_tasks(client, acme, project["id"])[0]
    annotations = valid_annotations(project)
    response = client.put(
        f"{API}/tasks/{task['id']}/annotations", headers=acme.headers, json=annotations
    )
    assert response.status_code == 200, response.text
    human = {"kind": "human"}
    expected = {
        "objects": [
            {**annotations["objects"][0], "source": human},
            {**annotations["objects"][1], "source": human},
            annotations["objects"][2],
        ],
        "classifications": [{**annotations["classifications"][0], "source": human}],
    }
    expected["objects"][0]["bbox"] = {"x": 1.0, "y": 2.5, "w": 30.0, "h": 20.0}
    assert response.json()["annotations"] == expected
    fetched = client.get(f"{API}/tasks/{task['id']}", headers=acme.headers).json()
    assert fetched["annotations"] == expected
    assert fetched["stage"] == "todo"

    emptied = client.put(f"{API}/tasks/{task['id']}/annotations", headers=acme.headers, json={})
    assert emptied.json()["annotations"] == {"objects": [], "classifications": []}


def _bad(project: dict[str, Any], kind: str) -> dict[str, Any]:
    ids = category_ids(project)
    box = {"x": 0, "y": 0, "w": 5, "h": 5}
    ok = {"category_id": ids["car"], "bbox": box}
    cases: dict[str, dict[str, Any]] = {
        "unknown category": {"objects": [ok, {"category_id": "nope", "bbox": box}]},
        "bbox on polygon": {"objects": [{"category_id": ids["road"], "bbox": box}]},
        "polygon on bbox": {
            "objects": [ok, ok, {"category_id": ids["car"], "polygon": [[0, 0], [1, 0], [1, 1]]}]
        },
        "object on classification": {
            "objects": [{"category_id": ids["weather"], "point": {"x": 1, "y": 1}}]
        },
        "classification on bbox": {"classifications": [{"category_id": ids["car"], "value": True}]},
        "unknown classification": {"classifications": [{"category_id": "zz", "value": 1}]},
        "polygon with 2 points": {
            "objects": [{"category_id": ids["road"], "polygon": [[0, 0], [1, 1]]}]
        },
        "negative w": {"objects": [ok, {"category_id": ids["car"], "bbox": {**box, "w": -1}}]},
        "two geometries": {"objects": [{**ok, "point": {"x": 1, "y": 1}}]},
        "no geometry": {"objects": [{"category_id": ids["car"]}]},
        "score above 1": {"objects": [{**ok, "score": 1.5}]},
        "not finite": {"objects": [{**ok, "bbox": {**box, "x": 1e300}}]},
    }
    return cases[kind]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("unknown category", "objects[1]: category_id 'nope' is not a category of project"),
        ("bbox on polygon", "objects[0]: category 'road' uses the polygon tool but the object"),
        ("polygon on bbox", "objects[2]: category 'car' uses the bbox tool but the object has a"),
        ("object on classification", "objects[0]: category 'weather' is a classification"),
        ("classification on bbox", "classifications[0]: category 'car' uses the bbox tool"),
        ("unknown classification", "classifications[0]: category_id 'zz' is not a category"),
        ("polygon with 2 points", "objects.0.polygon"),
        ("negative w", "objects.1.bbox.w"),
        ("two geometries", "exactly one of bbox, polygon, point"),
        ("no geometry", "exactly one of bbox, polygon, point"),
        ("score above 1", "objects.0.score"),
        ("not finite", "objects.0.bbox.x"),
    ],
)
def test_bad_annotations_are_a_422_naming_the_index_and_why(
    client: TestClient, acme: Owner, project: dict[str, Any], kind: str, expected: str
) -> None:
    task = all_tasks(client, acme, project["id"])[0]
    url = f"{API}/tasks/{task['id']}/annotations"
    assert client.put(url, headers=acme.headers, json=valid_annotations(project)).status_code == 200
    response = client.put(url, headers=acme.headers, json=_bad(project, kind))
    error = error_of(response, 422)
    assert error["code"] == "invalid"
    assert expected in error["message"]
    # nothing changed
    fetched = client.get(f"{API}/tasks/{task['id']}", headers=acme.headers).json()
    assert len(fetched["annotations"]["objects"]) == 3


def test_categories_of_another_project_are_refused(
    client: TestClient, acme: Owner, project: dict[str, Any], make_project: MakeProject
) -> None:
    other = make_project(acme, name="other")
    task = all_tasks(client, acme, project["id"])[0]
    response = client.put(
        f"{API}/tasks/{task['id']}/annotations",
        headers=acme.headers,
        json={"objects": [{"category_id": category_ids(other)["pin"], "point": {"x": 1, "y": 1}}]},
    )
    assert "is not a category of project" in error_of(response, 422)["message"]


def test_many_problems_are_summarised(
    client: TestClient, acme: Owner, project: dict[str, Any]
) -> None:
    task = all_tasks(client, acme, project["id"])[0]
    bad = [{"category_id": f"c{i}", "point": {"x": 0, "y": 0}} for i in range(8)]
    response = client.put(
        f"{API}/tasks/{task['id']}/annotations", headers=acme.headers, json={"objects": bad}
    )
    message = error_of(response, 422)["message"]
    assert "objects[4]" in message
    assert "objects[5]" not in message
    assert "(and 3 more)" in message


# --- isolation -----------------------------------------------------------------------------


def test_another_organization_cannot_see_or_touch_tasks(
    client: TestClient, acme: Owner, globex: Owner, project: dict[str, Any]
) -> None:
    task = all_tasks(client, acme, project["id"])[0]
    url = f"{API}/tasks/{task['id']}"
    error_of(client.get(url, headers=globex.headers), 404)
    error_of(client.patch(url, headers=globex.headers, json={"stage": "done"}), 404)
    error_of(client.put(f"{url}/annotations", headers=globex.headers, json={}), 404)
    error_of(client.get(f"{API}/projects/{project['id']}/tasks", headers=globex.headers), 404)
    error_of(client.get(f"{API}/tasks/nope", headers=acme.headers), 404)
    assert client.get(url, headers=acme.headers).json()["stage"] == "todo"
