"""A task's page: its image with the annotations drawn over it, and the forms that move it,
change its batches and replace its annotations."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

from tests.web.conftest import Owner, TestClient, WebUser
from tests.web.project_helpers import API, get_task, make_project, one_task

WebUsers = Callable[[Owner], WebUser]


def _category(project: dict[str, Any], name: str) -> str:
    return next(str(c["id"]) for c in project["categories"] if c["name"] == name)


def _annotations_editor(page: str) -> Any:
    """The JSON in the page's annotations textarea."""
    match = re.search(r'<textarea id="annotations"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    assert match, "no annotations editor"
    return json.loads(html.unescape(match.group(1)))


def test_the_annotations_are_drawn_over_the_image_and_listed(
    client: TestClient, acme: Owner, web_user: WebUsers, make_plugin: Callable[..., Any]
) -> None:
    project = make_project(client, acme)
    plugin = make_plugin(acme, name="Detector", type="model")
    task = one_task(
        client, acme, project["id"], url="https://img.example/a.jpg", width=640, height=480
    )
    annotations = {
        "objects": [
            {
                "category_id": _category(project, "car"),
                "bbox": {"x": 10, "y": 20, "w": 30, "h": 40},
            },
            {"category_id": _category(project, "road"), "polygon": [[0, 0], [5, 0], [5, 5]]},
            {
                "category_id": _category(project, "pin"),
                "point": {"x": 7, "y": 8},
                "source": {"kind": "plugin", "plugin_id": plugin["id"], "plugin_version": "1.2"},
                "score": 0.875,
            },
        ],
        "classifications": [{"category_id": _category(project, "weather"), "value": "sunny"}],
    }
    put = client.put(
        f"{API}/tasks/{task['id']}/annotations", headers=acme.headers, json=annotations
    )
    assert put.status_code == 200, put.text

    page = web_user(acme).get(f"/tasks/{task['id']}")
    assert page.status_code == 200
    text = page.text
    assert 'src="https://img.example/a.jpg"' in text
    assert 'viewBox="0 0 640 480"' in text
    car = '<rect data-shape="bbox" data-category="car" data-source="human" stroke="#ff0000"'
    assert car in text
    assert 'x="10.0" y="20.0" width="30.0" height="40.0" fill="#ff0000"' in text
    assert 'data-shape="polygon" data-category="road" data-source="human"' in text
    assert 'points="0.0,0.0 5.0,0.0 5.0,5.0 "' in text
    # The plugin's point is dashed and says who made it.
    assert 'data-shape="point" data-category="pin" data-source="plugin"' in text
    assert 'stroke-dasharray="6 3" cx="7.0" cy="8.0"' in text
    assert f'r="{640 / 120}"' in text
    assert "<title>pin · plugin Detector · score 0.88</title>" in text
    assert text.count('stroke-dasharray="6 3"') == 1
    # A model plugin of the organization is offered for this task.
    assert (
        f"/plugins/{plugin['id']}/run?project_id={project['id']}&amp;task_id={task['id']}" in text
    )
    assert text.count("<tr data-object>") == 3
    assert "Detector</a> 1.2" in text
    assert "0.88" in text
    assert "sunny" in text
    assert _annotations_editor(text) == put.json()["annotations"]


def test_an_image_of_unknown_size_leaves_its_overlay_to_the_script(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    project = make_project(client, acme)
    task = one_task(client, acme, project["id"])
    text = web_user(acme).get(f"/tasks/{task['id']}").text
    assert "data-overlay" in text
    assert "viewBox" not in text
    assert "/static/projects.js" in text
    assert "Not annotated yet" in text


def test_moving_a_task_into_a_plugin_stage_queues_its_job(
    client: TestClient, acme: Owner, web_user: WebUsers, make_plugin: Callable[..., Any]
) -> None:
    project = make_project(client, acme)
    task = one_task(client, acme, project["id"])
    model = make_plugin(acme, type="model")
    client.put(
        f"{API}/projects/{project['id']}/stages/model/plugin",
        headers=acme.headers,
        json={"plugin_id": model["id"], "next_stage": "review"},
    )
    user = web_user(acme)
    response = user.post(f"/tasks/{task['id']}/stage", {"stage": "model"})
    assert response.status_code == 303
    moved = get_task(client, acme, task["id"])
    assert moved["stage"] == "model"
    assert moved["stage_job_id"]
    assert f'href="/jobs/{moved["stage_job_id"]}"' in user.get(f"/tasks/{task['id']}").text

    unknown = user.post(f"/tasks/{task['id']}/stage", {"stage": "nowhere"})
    assert unknown.status_code == 422
    assert "unknown stage &#39;nowhere&#39;" in unknown.text
    assert get_task(client, acme, task["id"])["stage"] == "model"


def test_batches_are_replaced_one_per_line(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    project = make_project(client, acme)
    task = one_task(client, acme, project["id"], url="https://img.example/b.jpg", batch="old")
    user = web_user(acme)
    response = user.post(
        f"/tasks/{task['id']}/batches", {"batches": "monday\n priority \n\nmonday"}
    )
    assert response.status_code == 303
    assert get_task(client, acme, task["id"])["batches"] == ["monday", "priority"]
    too_long = user.post(f"/tasks/{task['id']}/batches", {"batches": "x" * 201})
    assert too_long.status_code == 422
    assert "1 to 200 characters" in too_long.text
    assert get_task(client, acme, task["id"])["batches"] == ["monday", "priority"]


def test_annotations_are_replaced_from_json_and_bad_ones_are_explained(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    project = make_project(client, acme)
    task = one_task(client, acme, project["id"])
    user = web_user(acme)
    car = _category(project, "car")
    good = {"objects": [{"category_id": car, "bbox": {"x": 1, "y": 2, "w": 3, "h": 4}}]}
    assert (
        user.post(f"/tasks/{task['id']}/annotations", {"annotations": json.dumps(good)}).status_code
        == 303
    )
    saved = get_task(client, acme, task["id"])["annotations"]
    assert saved["objects"][0]["bbox"] == {"x": 1.0, "y": 2.0, "w": 3.0, "h": 4.0}

    wrong_tool = json.dumps({"objects": [{"category_id": car, "point": {"x": 1, "y": 2}}]})
    response = user.post(f"/tasks/{task['id']}/annotations", {"annotations": wrong_tool})
    assert response.status_code == 422
    assert "uses the bbox tool but the object has a point" in response.text
    assert "<details open>" in response.text  # the editor stays open on what was typed
    assert "&#34;point&#34;" in response.text
    not_json = user.post(f"/tasks/{task['id']}/annotations", {"annotations": "{objects"})
    assert not_json.status_code == 422
    assert "Invalid JSON" in not_json.text
    assert get_task(client, acme, task["id"])["annotations"] == saved
