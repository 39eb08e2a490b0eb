"""Config presets: saved from the run form, listed and deleted on the plugin's page, used to
pre-fill the run form; checked against the plugin's schema; one organization's only."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from markupsafe import escape

from hub.runtime import Hub
from hub.services.accounts import Principal
from hub.services.errors import NotFound
from tests.web.conftest import Owner, TestClient, WebUser
from tests.web.test_run import make_project, textarea

MakePlugin = Callable[..., dict[str, Any]]
SignIn = Callable[[Owner], WebUser]
Call = Callable[..., Any]


def principal_of(owner: Owner) -> Principal:
    return Principal(user_id=owner.user_id, organization_id=owner.organization_id, role="owner")


def presets_of(call: Call, hub: Hub, owner: Owner, plugin_id: str) -> dict[str, dict[str, Any]]:
    rows = call(hub.presets.list_presets, principal_of(owner), plugin_id)
    return {row.name: row.config for row in rows}


def save(user: WebUser, plugin_id: str, name: str, config: str, **fields: str) -> Any:
    """What the run form's "Save current config as preset" button posts: the whole form."""
    form = {"preset_name": name, "config": config, "operation": "kept", **fields}
    return user.post(f"/plugins/{plugin_id}/presets", form)


def test_saving_a_preset_returns_to_the_run_form_with_it_chosen(
    client: TestClient,
    call: Call,
    hub: Hub,
    acme: Owner,
    make_plugin: MakePlugin,
    web_user: SignIn,
) -> None:
    project = make_project(client, acme)
    plugin = make_plugin(acme, type="export", default_config={"format": "coco"})
    user = web_user(acme)
    response = save(user, plugin["id"], "YOLO run", '{"format": "yolo"}', project_id=project["id"])
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location == f"/plugins/{plugin['id']}/run?preset=YOLO+run&project_id={project['id']}"
    assert presets_of(call, hub, acme, plugin["id"]) == {"YOLO run": {"format": "yolo"}}

    page = user.get(location)
    assert page.status_code == 200
    assert textarea(page.text, "config") == str(escape(json.dumps({"format": "yolo"}, indent=2)))
    assert '<option value="YOLO run" selected>' in page.text
    assert f'<option value="{project["id"]}" selected>' in page.text
    # The picker can switch presets without a reload: every preset's config is on the page.
    assert "preset-configs" in page.text


def test_the_plugin_page_lists_presets_with_their_config(
    acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme, type="custom")
    user = web_user(acme)
    assert "No presets yet" in user.get(f"/plugins/{plugin['id']}").text
    save(user, plugin["id"], "b-second", '{"n": 2}')
    save(user, plugin["id"], "a-first", '{"label": "<i>x</i>"}')
    page = user.get(f"/plugins/{plugin['id']}").text
    assert page.index('data-preset="a-first"') < page.index('data-preset="b-second"')
    assert "\\u003ci\\u003ex" in page  # still the config's JSON, never markup
    assert "<i>x</i>" not in page
    assert f"/plugins/{plugin['id']}/run?preset=a-first" in page


def test_saving_under_the_same_name_replaces_the_config(
    call: Call, hub: Hub, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme, type="custom")
    user = web_user(acme)
    assert save(user, plugin["id"], "nightly", '{"depth": 1}').status_code == 303
    assert save(user, plugin["id"], " nightly ", '{"depth": 2}').status_code == 303
    assert presets_of(call, hub, acme, plugin["id"]) == {"nightly": {"depth": 2}}


def test_deleting_a_preset(
    call: Call, hub: Hub, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme, type="custom")
    user = web_user(acme)
    save(user, plugin["id"], "keep", "{}")
    save(user, plugin["id"], "drop", "{}")
    (drop,) = [
        p
        for p in call(hub.presets.list_presets, principal_of(acme), plugin["id"])
        if p.name == "drop"
    ]
    response = user.post(f"/plugins/{plugin['id']}/presets/{drop.id}/delete")
    assert response.status_code == 303
    assert response.headers["location"] == f"/plugins/{plugin['id']}#presets"
    assert set(presets_of(call, hub, acme, plugin["id"])) == {"keep"}
    again = user.post(f"/plugins/{plugin['id']}/presets/{drop.id}/delete")
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("name", "config", "message"),
    [
        ("broken", '{"depth":', "config is not valid JSON"),
        ("list", "[1, 2]", "config must be a JSON object"),
        ("", '{"depth": 1}', "a preset needs a name"),
        ("x" * 201, '{"depth": 1}', "at most 200 characters"),
        ("typed", '{"depth": "deep"}', "the preset&#39;s config does not match"),
    ],
)
def test_a_refused_preset_redraws_the_run_form_with_why(
    call: Call,
    hub: Hub,
    acme: Owner,
    make_plugin: MakePlugin,
    web_user: SignIn,
    name: str,
    config: str,
    message: str,
) -> None:
    schema = {"type": "object", "properties": {"depth": {"type": "integer"}}}
    plugin = make_plugin(acme, type="custom", config_schema=schema)
    response = save(web_user(acme), plugin["id"], name, config)
    assert response.status_code == 422
    assert "The preset was not saved" in response.text
    assert message in response.text
    assert textarea(response.text, "config") == str(escape(config))
    assert 'value="kept"' in response.text  # the rest of the form survives too
    assert presets_of(call, hub, acme, plugin["id"]) == {}


def test_an_unknown_preset_falls_back_to_the_default_config(
    acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme, type="custom", default_config={"depth": 5})
    page = web_user(acme).get(f"/plugins/{plugin['id']}/run?preset=gone")
    assert page.status_code == 200
    assert "there is no preset named &#39;gone&#39;" in page.text
    assert textarea(page.text, "config") == str(escape(json.dumps({"depth": 5}, indent=2)))


def test_preset_forms_need_the_csrf_token(
    call: Call, hub: Hub, acme: Owner, make_plugin: MakePlugin, web_user: SignIn
) -> None:
    plugin = make_plugin(acme, type="custom")
    user = web_user(acme)
    refused = user.post(
        f"/plugins/{plugin['id']}/presets", {"preset_name": "p", "config": "{}"}, csrf=""
    )
    assert refused.status_code == 403
    assert presets_of(call, hub, acme, plugin["id"]) == {}
    save(user, plugin["id"], "p", "{}")
    (preset,) = call(hub.presets.list_presets, principal_of(acme), plugin["id"])
    delete = user.post(f"/plugins/{plugin['id']}/presets/{preset.id}/delete", csrf="")
    assert delete.status_code == 403
    assert set(presets_of(call, hub, acme, plugin["id"])) == {"p"}


def test_presets_belong_to_one_organization(
    call: Call,
    hub: Hub,
    acme: Owner,
    globex: Owner,
    make_plugin: MakePlugin,
    web_user: SignIn,
) -> None:
    plugin = make_plugin(acme, type="custom")
    save(web_user(acme), plugin["id"], "acme-secret", '{"token": "s3cret"}')
    (preset,) = call(hub.presets.list_presets, principal_of(acme), plugin["id"])

    intruder = web_user(globex)
    assert intruder.get(f"/plugins/{plugin['id']}/run?preset=acme-secret").status_code == 404
    assert save(intruder, plugin["id"], "acme-secret", "{}").status_code == 404
    deleted = intruder.post(f"/plugins/{plugin['id']}/presets/{preset.id}/delete")
    assert deleted.status_code == 404
    # Not through one of its own plugins either.
    own = make_plugin(globex, type="custom")
    assert intruder.post(f"/plugins/{own['id']}/presets/{preset.id}/delete").status_code == 404
    own_page = intruder.get(f"/plugins/{own['id']}")
    assert "acme-secret" not in own_page.text
    assert "s3cret" not in own_page.text
    with pytest.raises(NotFound):
        call(hub.presets.list_presets, principal_of(globex), plugin["id"])
    assert presets_of(call, hub, acme, plugin["id"]) == {"acme-secret": {"token": "s3cret"}}
