"""The "Run a plugin" pages: a form per plugin type, its JSON helpers (folder listings, CSV
upload, markdown preview, job state), CSRF, and organizations kept apart. No plugin process
runs: submitted jobs stay queued and are read back through the REST API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from markupsafe import escape

from hub.services.markdown_preview import fill_template
from tests.web.conftest import Owner, TestClient, WebUser
from tests.workspace.helpers import API, add_assets, all_tasks

MakePlugin = Callable[..., dict[str, Any]]
SignIn = Callable[[Owner], WebUser]

CATEGORIES = [
    {"name": "Face", "tool": "bbox"},
    {"name": "eye", "tool": "bbox"},
    {"name": "car", "tool": "polygon"},
]


def make_project(client: TestClient, owner: Owner, name: str = "Portraits") -> dict[str, Any]:
    """A project with three image tasks, the first two in batch "monday"."""
    response = client.post(
        f"{API}/projects",
        headers=owner.headers,
        json={"name": name, "categories": CATEGORIES, "stages": ["model"]},
    )
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    add_assets(
        client,
        owner,
        project["id"],
        [{"url": f"https://img.example/{i}.jpg", "external_id": f"img-{i}"} for i in range(3)],
    )
    for task in all_tasks(client, owner, project["id"])[:2]:
        response = client.patch(
            f"{API}/tasks/{task['id']}", headers=owner.headers, json={"batches": ["monday"]}
        )
        assert response.status_code == 200, response.text
    return project


def category_id(project: dict[str, Any], name: str) -> str:
    (found,) = [c["id"] for c in project["categories"] if c["name"] == name]
    return str(found)


def jobs_of(client: TestClient, owner: Owner, plugin_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{API}/jobs", headers=owner.headers, params={"plugin_id": plugin_id})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def job_at(client: TestClient, owner: Owner, response: httpx.Response) -> dict[str, Any]:
    """The job a run form's 303 points at, read through the REST API."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/jobs/")
    job = client.get(f"{API}{location}", headers=owner.headers)
    assert job.status_code == 200, job.text
    body: dict[str, Any] = job.json()
    return body


def post_json(user: WebUser, path: str, body: Any, *, csrf: bool = True) -> httpx.Response:
    headers = {"X-CSRF-Token": user.csrf} if csrf else {}
    return user._send("POST", path, json=body, headers=headers)


def upload_csv(user: WebUser, plugin_id: str, text: str, *, csrf: bool = True) -> httpx.Response:
    headers = {"Content-Type": "text/csv", **({"X-CSRF-Token": user.csrf} if csrf else {})}
    return user._send(
        "POST",
        f"/plugins/{plugin_id}/run/csv?filename=people.csv",
        content=text.encode(),
        headers=headers,
    )


def textarea(html: str, name: str) -> str:
    """What the textarea named `name` holds, as the page's HTML has it (escaped)."""
    start = html.index(f'name="{name}"')
    start = html.index(">", start) + 1
    return html[start : html.index("</textarea>", start)]


# --- each type's form --------------------------------------------------------------------

TYPE_MARKERS = {
    "custom": 'name="operation"',
    "export": 'name="stages"',
    "model": 'name="map.face"',
    "batch_model": 'name="chunk_size"',
    "file_explorer": "data-explorer",
    "markdown": "data-template",
}


@pytest.mark.parametrize("plugin_type", list(TYPE_MARKERS))
def test_run_page_shows_the_default_config_for_every_type(
    client: TestClient,
    acme: Owner,
    make_plugin: MakePlugin,
    web_user: SignIn,
    plugin_type: str,
) -> None:
    make_project(client, acme)
    default = {"threshold": 0.5, "label": f"<b>{plugin_type}</b>"}
    plugin = make_plugin(acme, type=plugin_type, default_config=default, class_names=["face"])
    page = web_user(acme).get(f"/plugins/{plugin['id']}/run")
    assert page.status_code == 200, page.text
    assert textarea(page.text, "config") == str(escape(json.dumps(default, indent=2)))
    assert "<b>" not in textarea(page.text, "config")
    assert TYPE_MARKERS[plugin_type] in page.text
    assert "/static/run.js" in page.text


def test_custom_run_submits_and_goes_to_the_job(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = make_project(client, acme)
    plugin = make_plugin(acme, type="custom")
    user = web_user(acme)
    response = user.post(
        f"/plugins/{plugin['id']}/run",
        {
            "project_id": project["id"],
            "operation": "stats",
            "config": '{"depth": 3}',
            "input": '{"what": ["a", "b"]}',
        },
    )
    job = job_at(client, acme, response)
    assert job["plugin_id"] == plugin["id"]
    assert job["status"] == "queued"
    assert job["operation"] == "stats"
    assert job["config"] == {"depth": 3}
    assert job["input"] == {"what": ["a", "b"], "project_id": project["id"]}
    assert user.get(response.headers["location"]).status_code == 200


def test_custom_run_without_a_project_is_fine(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme, type="custom", default_config={"a": 1})
    response = web_user(acme).post(
        f"/plugins/{plugin['id']}/run", {"project_id": "", "config": '{"a": 1}', "input": ""}
    )
    job = job_at(client, acme, response)
    assert job["input"] == {}
    assert job["operation"] is None


def test_invalid_json_config_is_a_422_and_submits_nothing(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme, type="custom")
    response = web_user(acme).post(
        f"/plugins/{plugin['id']}/run",
        {"config": '{"depth": 3,', "operation": "kept", "input": "{}"},
    )
    assert response.status_code == 422
    assert "config is not valid JSON" in response.text
    assert textarea(response.text, "config") == str(escape('{"depth": 3,'))
    assert 'value="kept"' in response.text
    assert jobs_of(client, acme, plugin["id"]) == []


def test_a_config_the_schema_refuses_is_a_422_naming_the_problem(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    schema = {"type": "object", "properties": {"depth": {"type": "integer"}}}
    plugin = make_plugin(acme, type="custom", config_schema=schema)
    response = web_user(acme).post(
        f"/plugins/{plugin['id']}/run", {"config": '{"depth": "deep"}', "input": "{}"}
    )
    assert response.status_code == 422
    assert "does not match the plugin&#39;s config schema at depth" in response.text
    assert jobs_of(client, acme, plugin["id"]) == []


def test_export_run_sends_the_stage_and_batch_filters(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = make_project(client, acme)
    plugin = make_plugin(acme, type="export", default_config={"format": "coco"})
    user = web_user(acme)
    page = user.get(f"/plugins/{plugin['id']}/run?project_id={project['id']}")
    assert 'name="batches" value="monday"' in page.text
    response = user.post(
        f"/plugins/{plugin['id']}/run",
        {
            "project_id": project["id"],
            "loaded_project_id": project["id"],
            "stages": ["todo", "review"],
            "batches": "monday",
            "config": '{"format": "yolo"}',
        },
    )
    job = job_at(client, acme, response)
    assert job["input"]["stages"] == ["todo", "review"]
    assert job["input"]["batches"] == ["monday"]
    assert job["input"]["num_tasks"] == 2
    assert job["config"] == {"format": "yolo"}


def test_model_run_preselects_the_task_and_maps_classes_by_name(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    make_project(client, acme, name="Other")  # newer projects must not win over the task's
    project = make_project(client, acme)
    task = all_tasks(client, acme, project["id"])[2]
    plugin = make_plugin(acme, type="model", class_names=["face", "eye", "nose"])
    page = web_user(acme).get(f"/plugins/{plugin['id']}/run?task_id={task['id']}")
    assert page.status_code == 200, page.text
    assert f'<option value="{project["id"]}" selected>' in page.text
    assert f'<option value="{task["id"]}" selected>' in page.text
    face, eye = category_id(project, "Face"), category_id(project, "eye")
    # Same name, case aside: face -> Face, eye -> eye; nose has no category of its name.
    assert f'<option value="{face}" selected>Face (bbox)</option>' in page.text
    assert f'<option value="{eye}" selected>eye (bbox)</option>' in page.text
    nose_select = page.text.split('name="map.nose"')[1].split("</select>")[0]
    assert "selected" not in nose_select


def test_model_run_sends_the_class_mapping_and_merge_choice(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = make_project(client, acme)
    task = all_tasks(client, acme, project["id"])[0]
    plugin = make_plugin(acme, type="model", class_names=["face", "eye"])
    response = web_user(acme).post(
        f"/plugins/{plugin['id']}/run",
        {
            "project_id": project["id"],
            "loaded_project_id": project["id"],
            "task_id": task["id"],
            "map.face": category_id(project, "Face"),
            "map.eye": "",
            "overwrite": "merge",
            "config": "{}",
        },
    )
    job = job_at(client, acme, response)
    assert job["input"]["task_id"] == task["id"]
    assert job["input"]["class_mapping"] == {
        "face": {"category_id": category_id(project, "Face"), "tool": "bbox"}
    }
    assert job["input"]["overwrite"] is False
    assert job["priority"] == "interactive"


def test_model_run_without_class_names_takes_the_mapping_as_json(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = make_project(client, acme)
    task = all_tasks(client, acme, project["id"])[0]
    plugin = make_plugin(acme, type="model")
    user = web_user(acme)
    assert 'name="class_mapping"' in user.get(f"/plugins/{plugin['id']}/run").text
    car = category_id(project, "car")
    response = user.post(
        f"/plugins/{plugin['id']}/run",
        {
            "project_id": project["id"],
            "loaded_project_id": project["id"],
            "task_id": task["id"],
            "class_mapping": json.dumps({"vehicle": car}),
            "overwrite": "replace",
            "config": "{}",
        },
    )
    job = job_at(client, acme, response)
    assert job["input"]["class_mapping"] == {"vehicle": {"category_id": car, "tool": "polygon"}}
    assert job["input"]["overwrite"] is True


def test_batch_model_run_sends_filters_mapping_and_chunk_size(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = make_project(client, acme)
    plugin = make_plugin(acme, type="batch_model", class_names=["face"])
    response = web_user(acme).post(
        f"/plugins/{plugin['id']}/run",
        {
            "project_id": project["id"],
            "loaded_project_id": project["id"],
            "stages": "todo",
            "batches": "monday",
            "map.face": category_id(project, "Face"),
            "overwrite": "replace",
            "chunk_size": "1",
            "config": '{"min_score": 0.2}',
        },
    )
    run = job_at(client, acme, response)
    assert run["operation"] == "run"
    assert run["config"] == {"min_score": 0.2, "chunk_size": 1}
    assert run["input"]["stages"] == ["todo"]
    assert run["input"]["batches"] == ["monday"]
    assert run["input"]["class_mapping"]["face"]["category_id"] == category_id(project, "Face")
    assert run["input"]["total"] == 2
    chunks = [j for j in jobs_of(client, acme, plugin["id"]) if j["operation"] == "chunk"]
    assert len(chunks) == 2


def test_a_bad_chunk_size_is_a_422(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = make_project(client, acme)
    plugin = make_plugin(acme, type="batch_model", class_names=["face"])
    response = web_user(acme).post(
        f"/plugins/{plugin['id']}/run",
        {"project_id": project["id"], "chunk_size": "2000", "config": "{}"},
    )
    assert response.status_code == 422
    assert "chunk_size must be a whole number from 1 to 1000" in response.text
    assert jobs_of(client, acme, plugin["id"]) == []


def test_switching_project_redraws_the_form_and_keeps_the_config(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    first = make_project(client, acme, name="First")
    second = client.post(
        f"{API}/projects",
        headers=acme.headers,
        json={"name": "Second", "categories": [], "stages": ["second-pass"]},
    ).json()
    plugin = make_plugin(acme, type="export")
    response = web_user(acme).post(
        f"/plugins/{plugin['id']}/run",
        {
            "action": "reload",
            "project_id": second["id"],
            "loaded_project_id": first["id"],
            "stages": "model",  # the first project's choice: dropped with it
            "config": '{"edited": true}',
        },
    )
    assert response.status_code == 200, response.text
    assert 'value="second-pass"' in response.text
    assert 'value="model" checked' not in response.text
    assert textarea(response.text, "config") == str(escape('{"edited": true}'))
    assert jobs_of(client, acme, plugin["id"]) == []


# --- file explorer -------------------------------------------------------------------------


def test_explore_queues_an_interactive_list_job(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = make_project(client, acme)
    plugin = make_plugin(acme, type="file_explorer")
    user = web_user(acme)
    response = post_json(
        user,
        f"/plugins/{plugin['id']}/explore",
        {
            "project_id": project["id"],
            "config": {"bucket": "photos"},
            "folder": "2024/",
            "page_token": "p2",
        },
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    job = client.get(f"{API}/jobs/{answer['job_id']}", headers=acme.headers).json()
    assert job["operation"] == "list"
    assert job["priority"] == "interactive"
    assert job["config"] == {"bucket": "photos"}
    assert job["input"]["folder"] == "2024/"
    assert job["input"]["page_token"] == "p2"
    state = user.get(answer["state_url"])
    assert state.status_code == 200
    assert state.json()["status"] == "queued"
    assert state.json()["terminal"] is False
    assert state.json()["result"] is None


def test_explore_errors_answer_json(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    explorer = make_plugin(acme, type="file_explorer")
    custom = make_plugin(acme, type="custom")
    user = web_user(acme)
    missing_project = post_json(user, f"/plugins/{explorer['id']}/explore", {"project_id": "x1"})
    assert missing_project.status_code == 404
    assert "not found" in missing_project.json()["error"]
    wrong_type = post_json(user, f"/plugins/{custom['id']}/explore", {"project_id": "x1"})
    assert wrong_type.status_code == 422
    assert "file_explorer" in wrong_type.json()["error"]
    assert jobs_of(client, acme, explorer["id"]) == []


def test_import_submits_the_picked_files(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = make_project(client, acme)
    plugin = make_plugin(acme, type="file_explorer")
    response = web_user(acme).post(
        f"/plugins/{plugin['id']}/run",
        {
            "project_id": project["id"],
            "folder": "2024/",
            "files": json.dumps(["2024/a.jpg", "2024/b.jpg"]),
            "extensions": ".jpg, .png",
            "batch": "june",
            "dedupe": "on",
            "config": "{}",
        },
    )
    job = job_at(client, acme, response)
    assert job["operation"] == "import"
    assert job["input"]["files"] == ["2024/a.jpg", "2024/b.jpg"]
    assert job["input"]["folder"] == "2024/"
    assert job["input"]["extensions"] == [".jpg", ".png"]
    assert job["input"]["batch"] == "june"
    assert job["input"]["dedupe"] is True
    assert job["input"]["recursive"] is False


# --- markdown ------------------------------------------------------------------------------

PEOPLE = 'name,bio\nAda,"Wrote <script>alert(1)</script> **notes**"\nAlan,Computed\n'


def test_markdown_preview_fills_the_first_row_and_escapes_script(
    acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme, type="markdown")
    user = web_user(acme)
    uploaded = upload_csv(user, plugin["id"], PEOPLE)
    assert uploaded.status_code == 201, uploaded.text
    response = post_json(
        user,
        f"/plugins/{plugin['id']}/run/preview",
        {
            "template": "# {{ name }}\n\n{{bio}} {{{{literal}} {{ age }}",
            "csv_file_id": uploaded.json()["id"],
        },
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert "<h1>Ada</h1>" in preview["html"]
    assert "<strong>notes</strong>" in preview["html"]
    assert "<script>" not in preview["html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in preview["html"]
    assert "{{literal}}" in preview["html"]
    assert "Alan" not in preview["html"]
    assert preview["columns"] == ["name", "bio"]
    assert preview["missing"] == ["age"]


def test_fill_template_follows_the_documented_placeholders() -> None:
    row = {"name": "Ada", "Unit price": "3", "bio": "likes {{name}}"}
    filled, missing = fill_template(
        "{{name}}|{{  name }}|{{ Unit price }}|{{bio}}|{{{{name}}|{{ nope }}|{{ Name }}", row
    )
    # Values go in once, as they are: a value's own {{name}} is not filled again.
    assert filled == "Ada|Ada|3|likes {{name}}|{{name}}|{{ nope }}|{{ Name }}"
    assert missing == ["nope", "Name"]


def test_markdown_preview_reads_a_quoted_multiline_first_row_past_a_bom(
    acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme, type="markdown")
    user = web_user(acme)
    csv_text = '\ufeffname,bio\n"Ada","line one\n\nline two"\n'
    file_id = upload_csv(user, plugin["id"], csv_text).json()["id"]
    preview = post_json(
        user,
        f"/plugins/{plugin['id']}/run/preview",
        {"template": "{{name}}: {{bio}}", "csv_file_id": file_id},
    ).json()
    assert preview["columns"] == ["name", "bio"]
    assert "<p>Ada: line one</p>" in preview["html"]
    assert "<p>line two</p>" in preview["html"]
    header_only = upload_csv(user, plugin["id"], "name,bio\n").json()["id"]
    empty_row = post_json(
        user,
        f"/plugins/{plugin['id']}/run/preview",
        {"template": "{{name}}", "csv_file_id": header_only},
    ).json()
    assert empty_row["missing"] == []  # no data row: nothing filled, nothing missing
    assert "{{name}}" in empty_row["html"]


def test_markdown_preview_without_a_csv_shows_the_template(
    acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme, type="markdown")
    response = post_json(
        web_user(acme), f"/plugins/{plugin['id']}/run/preview", {"template": "*{{ name }}*"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["html"].strip() == "<p><em>{{ name }}</em></p>"


def test_markdown_run_uses_the_uploaded_csv(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = make_project(client, acme)
    plugin = make_plugin(acme, type="markdown")
    user = web_user(acme)
    file_id = upload_csv(user, plugin["id"], PEOPLE).json()["id"]
    response = user.post(
        f"/plugins/{plugin['id']}/run",
        {
            "project_id": project["id"],
            "csv_file_id": file_id,
            "template": "# {{name}}\n",
            "config": '{"dedupe": false}',
        },
    )
    job = job_at(client, acme, response)
    assert job["input"]["csv_file_id"] == file_id
    assert job["input"]["template"] == "# {{name}}\n"
    assert job["input"]["project_id"] == project["id"]


def test_markdown_run_takes_the_csv_with_the_form_without_script(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = make_project(client, acme)
    plugin = make_plugin(acme, type="markdown")
    response = web_user(acme).post(
        f"/plugins/{plugin['id']}/run",
        {"project_id": project["id"], "template": "{{name}}", "config": "{}"},
        files={"csv": ("people.csv", PEOPLE.encode(), "text/csv")},
    )
    job = job_at(client, acme, response)
    assert job["input"]["csv_file_id"]


def test_markdown_run_without_a_csv_is_a_422_that_keeps_the_template(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = make_project(client, acme)
    plugin = make_plugin(acme, type="markdown")
    response = web_user(acme).post(
        f"/plugins/{plugin['id']}/run",
        {"project_id": project["id"], "template": "# <i>{{name}}</i>", "config": "{}"},
    )
    assert response.status_code == 422
    assert "upload a CSV file" in response.text
    assert textarea(response.text, "template") == str(escape("# <i>{{name}}</i>"))
    assert jobs_of(client, acme, plugin["id"]) == []


# --- CSRF and organizations ----------------------------------------------------------------


def test_run_forms_and_helpers_need_the_csrf_token(
    client: TestClient, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    project = make_project(client, acme)
    custom = make_plugin(acme, type="custom")
    explorer = make_plugin(acme, type="file_explorer")
    markdown = make_plugin(acme, type="markdown")
    user = web_user(acme)
    refused = user.post(f"/plugins/{custom['id']}/run", {"config": "{}"}, csrf="")
    assert refused.status_code == 403
    assert jobs_of(client, acme, custom["id"]) == []
    listing = post_json(
        user, f"/plugins/{explorer['id']}/explore", {"project_id": project["id"]}, csrf=False
    )
    assert listing.status_code == 403
    assert jobs_of(client, acme, explorer["id"]) == []
    assert upload_csv(user, markdown["id"], PEOPLE, csrf=False).status_code == 403
    with_file = user.post(
        f"/plugins/{markdown['id']}/run",
        {"project_id": project["id"], "template": "{{name}}", "config": "{}"},
        files={"csv": ("people.csv", PEOPLE.encode(), "text/csv")},
        csrf="",
    )
    assert with_file.status_code == 403
    assert jobs_of(client, acme, markdown["id"]) == []
    preview = post_json(
        user, f"/plugins/{markdown['id']}/run/preview", {"template": "x"}, csrf=False
    )
    assert preview.status_code == 403


def test_another_organization_cannot_run_or_see_the_plugin(
    client: TestClient,
    acme: Owner,
    globex: Owner,
    make_plugin: MakePlugin,
    web_user: SignIn,
) -> None:
    project = make_project(client, acme, name="Acme secret project")
    custom = make_plugin(acme, type="custom")
    explorer = make_plugin(acme, type="file_explorer")
    markdown = make_plugin(acme, type="markdown")
    acme_user = web_user(acme)
    job_url = acme_user.post(f"/plugins/{custom['id']}/run", {"config": "{}"}).headers["location"]
    file_id = upload_csv(acme_user, markdown["id"], PEOPLE).json()["id"]

    intruder = web_user(globex)
    assert intruder.get(f"/plugins/{custom['id']}/run").status_code == 404
    assert intruder.post(f"/plugins/{custom['id']}/run", {"config": "{}"}).status_code == 404
    listing = post_json(intruder, f"/plugins/{explorer['id']}/explore", {"project_id": "x"})
    assert listing.status_code == 404
    assert intruder.get(f"{job_url}/state").status_code == 404
    assert upload_csv(intruder, markdown["id"], PEOPLE).status_code == 404
    assert len(jobs_of(client, acme, custom["id"])) == 1

    # Globex's own plugins cannot reach Acme's projects, tasks or files either.
    own = make_plugin(globex, type="export")
    own_page = intruder.get(f"/plugins/{own['id']}/run")
    assert own_page.status_code == 200
    assert "Acme secret project" not in own_page.text
    assert intruder.get(f"/plugins/{own['id']}/run?project_id={project['id']}").status_code == 404
    stolen = intruder.post(f"/plugins/{own['id']}/run", {"project_id": project["id"]})
    assert stolen.status_code == 404
    assert jobs_of(client, globex, own["id"]) == []
    own_markdown = make_plugin(globex, type="markdown")
    peek = post_json(
        intruder,
        f"/plugins/{own_markdown['id']}/run/preview",
        {"template": "{{name}}", "csv_file_id": file_id},
    )
    assert peek.status_code == 404
    assert "Ada" not in peek.text
