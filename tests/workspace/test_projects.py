"""POST /projects, GET /projects, GET /projects/{id}: the category schema and stages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.runtime import Hub
from tests.hub.conftest import Owner
from tests.workspace.helpers import API, CATEGORIES, MakeProject, add_assets


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"]
    assert error["message"]
    return error


def test_create_project_returns_categories_with_ids_and_default_stages(
    client: TestClient, acme: Owner
) -> None:
    response = client.post(
        f"{API}/projects",
        headers=acme.headers,
        json={
            "name": "  streets ",
            "description": "dashcam frames",
            "categories": CATEGORIES,
            "stages": ["yolo", "qa"],
        },
    )
    assert response.status_code == 201, response.text
    project = response.json()
    assert project["name"] == "streets"
    assert project["description"] == "dashcam frames"
    assert project["organization_id"] == acme.organization_id
    assert project["stages"] == ["todo", "in_progress", "review", "done", "yolo", "qa"]
    assert project["batches"] == []
    assert project["task_count"] == 0
    datetime.fromisoformat(project["created_at"])
    categories = project["categories"]
    assert [(c["name"], c["tool"]) for c in categories] == [
        ("car", "bbox"),
        ("road", "polygon"),
        ("pin", "point"),
        ("weather", "classification"),
    ]
    assert categories[0]["color"] == "#ff0000"
    assert all(c["color"].startswith("#") and len(c["color"]) == 7 for c in categories)
    assert len({c["id"] for c in categories}) == 4

    fetched = client.get(f"{API}/projects/{project['id']}", headers=acme.headers)
    assert fetched.status_code == 200
    assert fetched.json() == project


def test_default_stages_given_again_are_not_repeated(client: TestClient, acme: Owner) -> None:
    response = client.post(
        f"{API}/projects", headers=acme.headers, json={"name": "p", "stages": ["todo", "model"]}
    )
    assert response.status_code == 201, response.text
    assert response.json()["stages"] == ["todo", "in_progress", "review", "done", "model"]


def test_get_project_counts_tasks_and_lists_batches(
    client: TestClient, acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    add_assets(
        client,
        acme,
        project["id"],
        [
            {"url": "https://img.example/1.jpg", "batch": "week-2"},
            {"url": "https://img.example/2.jpg", "batch": "week-1"},
            {"url": "https://img.example/3.jpg", "batch": "week-1"},
            {"markdown": "# hi"},
        ],
    )
    fetched = client.get(f"{API}/projects/{project['id']}", headers=acme.headers).json()
    assert fetched["task_count"] == 4
    assert fetched["batches"] == ["week-1", "week-2"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"name": "p", "categories": [{"name": "car", "tool": "bbox"}] * 2},
            "category names must be unique; 'car' appears twice",
        ),
        ({"name": "p", "categories": [{"name": "car", "tool": "cuboid"}]}, "categories.0.tool"),
        ({"name": "p", "categories": [{"name": "", "tool": "bbox"}]}, "categories.0.name"),
        (
            {"name": "p", "categories": [{"name": "car", "tool": "bbox", "color": "red"}]},
            "categories.0.color",
        ),
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "p", "stages": ["qa", "qa"]}, "stage names must be unique"),
        ({"name": "p", "owner": "me"}, "owner"),
    ],
)
def test_invalid_project_is_a_422_naming_the_problem(
    client: TestClient, acme: Owner, body: dict[str, Any], expected: str
) -> None:
    response = client.post(f"{API}/projects", headers=acme.headers, json=body)
    error = error_of(response, 422)
    assert error["code"] == "invalid"
    assert expected in error["message"]


def test_projects_need_an_api_key(client: TestClient) -> None:
    assert client.post(f"{API}/projects", json={"name": "p"}).status_code == 401
    assert client.get(f"{API}/projects/whatever").status_code == 401


def test_list_projects_pages_newest_first_within_the_organization(
    client: TestClient, acme: Owner, globex: Owner, make_project: MakeProject
) -> None:
    ids = [make_project(acme, name=f"p{i}")["id"] for i in range(3)]
    make_project(globex, name="theirs")
    first = client.get(f"{API}/projects", headers=acme.headers, params={"limit": 2}).json()
    assert [p["id"] for p in first["items"]] == ids[::-1][:2]
    second = client.get(
        f"{API}/projects", headers=acme.headers, params={"limit": 2, "cursor": first["next"]}
    ).json()
    assert [p["id"] for p in second["items"]] == [ids[0]]
    assert second["next"] is None


def test_another_organizations_project_is_not_found(
    client: TestClient, acme: Owner, globex: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    error = error_of(client.get(f"{API}/projects/{project['id']}", headers=globex.headers), 404)
    assert error["code"] == "not_found"
    error_of(client.get(f"{API}/projects/nope", headers=acme.headers), 404)


def test_project_info_is_what_a_plugin_learns(
    client: TestClient,
    call: Callable[..., Any],
    hub: Hub,
    acme: Owner,
    globex: Owner,
    make_project: MakeProject,
) -> None:
    from hub.services.errors import NotFound

    project = make_project(acme, stages=["model"])
    add_assets(client, acme, project["id"], [{"markdown": "x", "batch": "b"}, {"markdown": "y"}])
    info = call(hub.workspace.projects.info, acme.organization_id, project["id"])
    assert info.id == project["id"]
    assert info.name == "streets"
    assert [c.model_dump(mode="json") for c in info.categories] == project["categories"]
    assert info.stages == ["todo", "in_progress", "review", "done", "model"]
    assert info.batches == ["b"]
    count = call(hub.workspace.exports.count, acme.organization_id, project["id"], stages=["todo"])
    assert count == 2
    assert (
        call(hub.workspace.exports.count, acme.organization_id, project["id"], batches=["b"]) == 1
    )
    with pytest.raises(NotFound):
        call(hub.workspace.projects.info, globex.organization_id, project["id"])
