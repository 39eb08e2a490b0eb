"""Plugin stages from the dashboard: bind with a class mapping by category name, edit,
unbind, and re-run a stage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.web.conftest import Owner, TestClient, WebUser
from tests.web.project_helpers import API, add_assets, all_tasks, make_project

WebUsers = Callable[[Owner], WebUser]
MakePlugin = Callable[..., dict[str, Any]]


def _bindings(client: TestClient, owner: Owner, project_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{API}/projects/{project_id}/stages", headers=owner.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_stage_is_bound_with_a_mapping_by_category_name(
    client: TestClient, acme: Owner, web_user: WebUsers, make_plugin: MakePlugin
) -> None:
    project = make_project(client, acme)
    car = next(c["id"] for c in project["categories"] if c["name"] == "car")
    model = make_plugin(acme, name="Detector", type="model", class_names=["auto", "bike"])
    make_plugin(acme, name="Exporter", type="export")
    user = web_user(acme)
    page = user.get(f"/projects/{project['id']}/stages").text
    assert "Detector" in page
    assert "Exporter" not in page

    response = user.post(
        f"/projects/{project['id']}/stages",
        {
            "stage": "model",
            "next_stage": "review",
            "plugin_id": model["id"],
            "class_mapping": "auto = car\n\n",
            "config": '{"min_score": 0.5}',
            "overwrite": "on",
        },
    )
    assert response.status_code == 303
    (binding,) = _bindings(client, acme, project["id"])
    assert binding == {
        "stage": "model",
        "plugin_id": model["id"],
        "next_stage": "review",
        "config": {"min_score": 0.5},
        "class_mapping": {"auto": car},
        "overwrite": True,
    }
    listed = user.get(f"/projects/{project['id']}/stages").text
    assert 'data-binding="model"' in listed
    assert "auto → car" in listed
    editing = user.get(f"/projects/{project['id']}/stages?stage=model").text
    assert ">auto = car</textarea>" in editing
    assert "model → review" in user.get(f"/projects/{project['id']}").text


def test_a_bad_binding_is_shown_again_with_the_error(
    client: TestClient, acme: Owner, web_user: WebUsers, make_plugin: MakePlugin
) -> None:
    project = make_project(client, acme)
    model = make_plugin(acme, type="model")
    user = web_user(acme)
    form = {
        "stage": "model",
        "next_stage": "review",
        "plugin_id": model["id"],
        "class_mapping": "auto = lorry",
        "config": "",
    }
    response = user.post(f"/projects/{project['id']}/stages", form)
    assert response.status_code == 422
    assert "no category &#39;lorry&#39; in this project" in response.text
    assert ">auto = lorry</textarea>" in response.text
    same_stage = user.post(
        f"/projects/{project['id']}/stages", {**form, "class_mapping": "", "next_stage": "model"}
    )
    assert same_stage.status_code == 422
    assert "next_stage must differ" in same_stage.text
    assert _bindings(client, acme, project["id"]) == []


def test_unbind_removes_the_binding(
    client: TestClient, acme: Owner, web_user: WebUsers, make_plugin: MakePlugin
) -> None:
    project = make_project(client, acme)
    model = make_plugin(acme, type="model")
    client.put(
        f"{API}/projects/{project['id']}/stages/model/plugin",
        headers=acme.headers,
        json={"plugin_id": model["id"], "next_stage": "review"},
    )
    user = web_user(acme)
    response = user.post(f"/projects/{project['id']}/stages/unbind", {"stage": "model"})
    assert response.status_code == 303
    assert _bindings(client, acme, project["id"]) == []
    assert (
        user.post(f"/projects/{project['id']}/stages/unbind", {"stage": "model"}).status_code == 404
    )


def test_rerun_queues_a_job_for_every_task_in_the_stage(
    client: TestClient, acme: Owner, web_user: WebUsers, make_plugin: MakePlugin
) -> None:
    project = make_project(client, acme)
    add_assets(
        client,
        acme,
        project["id"],
        [{"url": f"https://img.example/{n}.jpg"} for n in range(3)],
    )
    # Moved in before the stage is bound: no job yet, which is what a re-run is for.
    for task in all_tasks(client, acme, project["id"])[:2]:
        client.patch(f"{API}/tasks/{task['id']}", headers=acme.headers, json={"stage": "model"})
    model = make_plugin(acme, type="model")
    client.put(
        f"{API}/projects/{project['id']}/stages/model/plugin",
        headers=acme.headers,
        json={"plugin_id": model["id"], "next_stage": "review"},
    )
    user = web_user(acme)
    response = user.post(f"/projects/{project['id']}/stages/rerun", {"stage": "model"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/projects/{project['id']}/stages?queued=2&rerun=model"
    assert "Re-ran model: 2 jobs queued" in user.get(response.headers["location"]).text
    jobs = client.get(f"{API}/jobs", headers=acme.headers, params={"plugin_id": model["id"]})
    assert len(jobs.json()["items"]) == 2
    not_bound = user.post(f"/projects/{project['id']}/stages/rerun", {"stage": "qa"})
    assert not_bound.status_code == 404


def test_the_bound_stages_are_listed_by_name_whatever_order_they_were_bound_in(
    client: TestClient, acme: Owner, make_plugin: MakePlugin
) -> None:
    stages = ["triage", "model", "check"]
    project = make_project(client, acme, stages=stages)
    model = make_plugin(acme, type="model")

    def bind(stage: str, next_stage: str) -> None:
        response = client.put(
            f"{API}/projects/{project['id']}/stages/{stage}/plugin",
            headers=acme.headers,
            json={"plugin_id": model["id"], "next_stage": next_stage},
        )
        assert response.status_code == 200, response.text

    for stage in stages:
        bind(stage, "review")
    bind("check", "done")  # an update: PostgreSQL then keeps that row elsewhere on disk
    listed = _bindings(client, acme, project["id"])
    assert [b["stage"] for b in listed] == sorted(stages)
