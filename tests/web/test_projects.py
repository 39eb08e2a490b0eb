"""Project pages: the list, the new-project form, a project's page with its task gallery and
export; another organization's projects stay invisible; every form needs its CSRF token."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.web.conftest import Owner, TestClient, WebUser
from tests.web.project_helpers import (
    API,
    add_assets,
    all_tasks,
    get_project,
    make_project,
    one_task,
)

WebUsers = Callable[[Owner], WebUser]


def test_the_list_shows_the_organizations_projects_newest_first(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    make_project(client, acme, name="Older")
    make_project(client, acme, name="Newer", description="Cars & <people>")
    page = web_user(acme).get("/projects")
    assert page.status_code == 200
    assert page.text.index("Newer") < page.text.index("Older")
    assert "Cars &amp; &lt;people&gt;" in page.text
    assert 'href="/projects" aria-current="page"' in page.text


def test_a_project_is_created_from_the_form(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    user = web_user(acme)
    assert 'name="category_name"' in user.get("/projects/new").text
    response = user.post(
        "/projects",
        {
            "name": "  Birds  ",
            "description": "Garden birds",
            "category_name": ["robin", "", "song"],
            "category_tool": ["bbox", "bbox", "classification"],
            "category_color": ["#ff0000", "", ""],
            "stages": "model\n\nqa\n",
        },
    )
    assert response.status_code == 303
    project_id = response.headers["location"].removeprefix("/projects/")
    project = get_project(client, acme, project_id)
    assert project["name"] == "Birds"
    assert project["stages"] == ["todo", "in_progress", "review", "done", "model", "qa"]
    assert [(c["name"], c["tool"], c["color"]) for c in project["categories"]] == [
        ("robin", "bbox", "#ff0000"),
        ("song", "classification", "#ff7f0e"),  # the palette's second colour
    ]
    page = user.get(f"/projects/{project_id}")
    assert "Garden birds" in page.text
    assert "robin" in page.text
    assert "No tasks yet" in page.text


def test_an_invalid_project_is_shown_again_with_the_error_and_what_was_typed(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    user = web_user(acme)
    response = user.post(
        "/projects",
        {
            "name": "Twice",
            "category_name": ["car", "car"],
            "category_tool": ["bbox", "point"],
            "category_color": ["", ""],
            "stages": "qa",
        },
    )
    assert response.status_code == 422
    assert "category names must be unique" in response.text
    assert 'value="Twice"' in response.text
    assert response.text.count('value="car"') == 2
    assert ">qa</textarea>" in response.text
    listed = client.get(f"{API}/projects", headers=acme.headers).json()["items"]
    assert listed == []


def test_the_gallery_filters_by_stage_and_batch(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    project = make_project(client, acme)
    add_assets(
        client,
        acme,
        project["id"],
        [
            {"url": "https://img.example/mon.jpg", "external_id": "mon-1", "batch": "monday"},
            {"url": "https://img.example/tue.jpg", "external_id": "tue-1", "batch": "tuesday"},
            {"markdown": "# Ticket", "external_id": "ticket-1", "batch": "tuesday"},
        ],
    )
    moved = next(
        t for t in all_tasks(client, acme, project["id"]) if t["asset"]["external_id"] == "tue-1"
    )
    client.patch(f"{API}/tasks/{moved['id']}", headers=acme.headers, json={"stage": "review"})
    user = web_user(acme)

    everything = user.get(f"/projects/{project['id']}").text
    assert all(name in everything for name in ("mon-1", "tue-1", "ticket-1"))
    assert 'src="https://img.example/mon.jpg"' in everything
    assert '<td data-stage-count="review">1</td>' in everything

    tuesday = user.get(f"/projects/{project['id']}?batch=tuesday&stage=").text
    assert "tue-1" in tuesday
    assert "ticket-1" in tuesday
    assert "mon-1" not in tuesday
    in_review = user.get(f"/projects/{project['id']}?stage=review&batch=tuesday").text
    assert "tue-1" in in_review
    assert "ticket-1" not in in_review
    assert user.get(f"/projects/{project['id']}?stage=nope").status_code == 422


def test_the_export_downloads_the_filtered_tasks(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    project = make_project(client, acme, name="Streets/2026")
    add_assets(
        client,
        acme,
        project["id"],
        [
            {"url": "https://img.example/1.jpg", "external_id": "one", "batch": "a"},
            {"url": "https://img.example/2.jpg", "external_id": "two", "batch": "b"},
        ],
    )
    user = web_user(acme)
    response = user.get(f"/projects/{project['id']}/export?stage=&batch=b")
    assert response.status_code == 200
    assert response.headers["x-task-count"] == "1"
    assert response.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''Streets%2F2026.ndjson"
    )
    (line,) = response.text.splitlines()
    assert json.loads(line)["asset"]["external_id"] == "two"
    assert len(user.get(f"/projects/{project['id']}/export").text.splitlines()) == 2


def test_another_organizations_projects_are_not_found_and_not_listed(
    client: TestClient, acme: Owner, globex: Owner, web_user: WebUsers
) -> None:
    project = make_project(client, acme, name="Acme secret plans")
    task = one_task(client, acme, project["id"])
    pid = project["id"]
    outsider = web_user(globex)
    assert "Acme secret plans" not in outsider.get("/projects").text
    for path in (
        f"/projects/{pid}",
        f"/projects/{pid}/export",
        f"/projects/{pid}/assets/new",
        f"/projects/{pid}/stages",
        f"/tasks/{task['id']}",
        f"/assets/{task['asset']['id']}/file",
    ):
        response = outsider.get(path)
        assert response.status_code == 404, path
        assert "Acme secret plans" not in response.text
    for path, form in (
        (f"/projects/{pid}/assets/urls", {"urls": "https://img.example/x.jpg"}),
        (f"/projects/{pid}/assets/markdown", {"markdown": "# hi"}),
        (f"/projects/{pid}/stages/unbind", {"stage": "model"}),
        (f"/projects/{pid}/stages/rerun", {"stage": "model"}),
        (f"/tasks/{task['id']}/stage", {"stage": "done"}),
        (f"/tasks/{task['id']}/batches", {"batches": "stolen"}),
        (f"/tasks/{task['id']}/annotations", {"annotations": "{}"}),
    ):
        assert outsider.post(path, form).status_code == 404, path
    upload = outsider.post(
        f"/projects/{pid}/assets/upload", files=[("file", ("x.png", b"\x89PNG", "image/png"))]
    )
    assert upload.status_code == 404
    after = all_tasks(client, acme, pid)
    assert [(t["id"], t["stage"], t["batches"]) for t in after] == [(task["id"], "todo", [])]


def test_every_project_form_is_refused_without_its_csrf_token(
    client: TestClient, acme: Owner, web_user: WebUsers, make_plugin: Callable[..., dict[str, str]]
) -> None:
    project = make_project(client, acme)
    task = one_task(client, acme, project["id"])
    plugin = make_plugin(acme, type="model")
    pid, tid = project["id"], task["id"]
    user = web_user(acme)
    forms = [
        ("/projects", {"name": "Sneaky"}),
        (f"/projects/{pid}/assets/urls", {"urls": "https://img.example/x.jpg"}),
        (f"/projects/{pid}/assets/markdown", {"markdown": "# sneaky"}),
        (
            f"/projects/{pid}/stages",
            {"stage": "model", "next_stage": "review", "plugin_id": plugin["id"]},
        ),
        (f"/projects/{pid}/stages/unbind", {"stage": "model"}),
        (f"/projects/{pid}/stages/rerun", {"stage": "model"}),
        (f"/tasks/{tid}/stage", {"stage": "done"}),
        (f"/tasks/{tid}/batches", {"batches": "sneaky"}),
        (f"/tasks/{tid}/annotations", {"annotations": "{}"}),
    ]
    for path, form in forms:
        assert user.post(path, form, csrf="").status_code == 403, path
    upload = user.post(
        f"/projects/{pid}/assets/upload",
        files=[("file", ("x.png", b"\x89PNG", "image/png"))],
        csrf="",
    )
    assert upload.status_code == 403
    assert [
        p["name"] for p in client.get(f"{API}/projects", headers=acme.headers).json()["items"]
    ] == [project["name"]]
    assert [(t["stage"], t["batches"]) for t in all_tasks(client, acme, pid)] == [("todo", [])]
    stages = client.get(f"{API}/projects/{pid}/stages", headers=acme.headers).json()
    assert stages["items"] == []
