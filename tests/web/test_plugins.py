"""The plugin pages: create and edit with every field, the secret shown once, rotation."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from tests.web.conftest import Owner, TestClient, WebUser

FIELDS = {
    "name": "Detector",
    "type": "model",
    "description": "<script>alert(1)</script> finds faces",
    "details": "# Faces\n\n<script>alert(2)</script> *fast* [docs](javascript:alert(3))",
    "banner_url": "https://example.com/banner.png",
    "class_names": "face\neye\n",
    "public": "on",
    "listed": "on",
    "default_config": '{"threshold": 0.5}',
    "config_schema": '{"type": "object", "properties": {"threshold": {"type": "number"}}}',
    "job_timeout_s": "30",
}


def _created(response: Any) -> tuple[str, str]:
    plugin_id = re.search(r'id="plugin-id">([0-9a-f]{24})<', response.text)
    secret = re.search(r"data-secret>(phs_[^<]+)<", response.text)
    assert plugin_id, response.text
    assert secret, response.text
    return plugin_id.group(1), secret.group(1)


def test_create_with_every_field_shows_the_secret_once(
    client: TestClient, acme: Owner, web_user: Callable[[Owner], WebUser]
) -> None:
    user = web_user(acme)
    response = user.post("/plugins", FIELDS)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    plugin_id, secret = _created(response)

    stored = client.get(f"/api/v1/plugins/{plugin_id}", headers=acme.headers).json()
    assert stored["type"] == "model"
    assert stored["class_names"] == ["face", "eye"]
    assert stored["public"] is stored["listed"] is True
    assert stored["default_config"] == {"threshold": 0.5}
    assert stored["config_schema"]["properties"]["threshold"] == {"type": "number"}
    assert stored["job_timeout_s"] == 30
    assert stored["banner_url"] == FIELDS["banner_url"]

    detail = user.get(f"/plugins/{plugin_id}").text
    assert secret not in detail  # once means once
    assert "&lt;script&gt;alert(1)&lt;/script&gt; finds faces" in detail
    assert "<script>alert" not in detail
    assert "<em>fast</em>" in detail  # details render as sanitized markdown
    assert 'href="javascript:' not in detail  # shown as text, never a link


def test_invalid_json_config_is_refused_with_the_form_kept(
    acme: Owner, web_user: Callable[[Owner], WebUser]
) -> None:
    user = web_user(acme)
    response = user.post("/plugins", {**FIELDS, "name": "Broken", "default_config": "{nope"})
    assert response.status_code == 422
    assert "default config is not valid JSON" in response.text
    assert 'value="Broken"' in response.text  # what was typed is still there
    assert "Broken" not in user.get("/plugins").text

    schema_mismatch = {**FIELDS, "name": "Mismatch", "default_config": '{"threshold": "high"}'}
    response = user.post("/plugins", schema_mismatch)
    assert response.status_code == 422
    assert "threshold" in response.text


def test_edit_changes_fields_but_not_the_type(
    client: TestClient, acme: Owner, web_user: Callable[[Owner], WebUser]
) -> None:
    user = web_user(acme)
    plugin_id, _ = _created(user.post("/plugins", FIELDS))
    form = user.get(f"/plugins/{plugin_id}/edit").text
    assert "Save changes" in form
    assert json.dumps({"threshold": 0.5}, indent=2).replace('"', "&#34;") in form

    changed = {**FIELDS, "name": "Detector 2", "public": "", "default_config": "{}"}
    del changed["public"]
    response = user.post(f"/plugins/{plugin_id}/edit", {**changed, "type": "custom"})
    assert response.status_code == 303
    stored = client.get(f"/api/v1/plugins/{plugin_id}", headers=acme.headers).json()
    assert stored["name"] == "Detector 2"
    assert stored["public"] is False
    assert stored["type"] == "model"


def test_rotating_the_secret_shows_a_new_one(
    client: TestClient, acme: Owner, web_user: Callable[[Owner], WebUser]
) -> None:
    user = web_user(acme)
    plugin_id, first = _created(user.post("/plugins", FIELDS))
    response = user.post(f"/plugins/{plugin_id}/rotate-secret")
    assert response.status_code == 200
    again, second = _created(response)
    assert again == plugin_id
    assert second != first
    hub = client.app.state.hub  # type: ignore[attr-defined]
    assert client.portal is not None
    assert client.portal.call(hub.plugins.authenticate, plugin_id, second) is not None
    assert client.portal.call(hub.plugins.authenticate, plugin_id, first) is None


def test_another_organizations_plugin_is_not_there(
    acme: Owner,
    globex: Owner,
    web_user: Callable[[Owner], WebUser],
    make_plugin: Callable[..., dict[str, Any]],
) -> None:
    theirs = make_plugin(acme, name="Acme secret sauce")
    intruder = web_user(globex)
    assert "Acme secret sauce" not in intruder.get("/plugins").text
    for path in (f"/plugins/{theirs['id']}", f"/plugins/{theirs['id']}/edit"):
        assert intruder.get(path).status_code == 404
    for path in ("rotate-secret", "delete", "edit"):
        assert intruder.post(f"/plugins/{theirs['id']}/{path}", FIELDS).status_code == 404
    assert "Acme secret sauce" in web_user(acme).get("/plugins").text


def test_plugin_forms_need_the_csrf_token(
    acme: Owner, web_user: Callable[[Owner], WebUser], make_plugin: Callable[..., dict[str, Any]]
) -> None:
    user = web_user(acme)
    plugin = make_plugin(acme)
    for path in (
        "/plugins",
        f"/plugins/{plugin['id']}/edit",
        f"/plugins/{plugin['id']}/rotate-secret",
        f"/plugins/{plugin['id']}/delete",
    ):
        assert user.post(path, FIELDS, csrf="").status_code == 403, path
    assert user.get(f"/plugins/{plugin['id']}").status_code == 200


def test_a_pushed_plugin_shows_its_readme_sanitised_and_its_version(
    web_user: Callable[[Owner], WebUser],
    acme: Owner,
    call: Callable[..., Any],
    hub: Any,
    tmp_path: Any,
) -> None:
    from ango_plugins_sdk.manifest import load_manifest

    (tmp_path / "plugin.toml").write_text(
        '[plugin]\nkey = "greeter"\nname = "Greeter"\ntype = "custom"\nversion = "2.3.4"\n'
    )
    (tmp_path / "README.md").write_text("# Greeter\n\n<script>alert(1)</script>**bold**")
    pushed = call(hub.manifests.push, acme.organization_id, load_manifest(tmp_path))
    page = web_user(acme).get(f"/plugins/{pushed.plugin.id}").text
    assert "<strong>bold</strong>" in page
    assert "<script>alert(1)" not in page
    assert "<dd>2.3.4</dd>" in page
    assert "<code>greeter</code>" in page
