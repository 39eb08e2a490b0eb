"""`plugin-hub plugin push`: a manifest creates the organization's plugin, or updates the
one pushed with the same key; the secret only on creation or rotation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from ango_plugins_sdk.manifest import ManifestError, load_manifest
from hub import cli
from hub.db import ConfigPreset
from hub.runtime import Hub
from tests.hub.conftest import Owner, basic_auth

MANIFEST = """
[plugin]
key = "greeter"
name = "Greeter"
type = "custom"
version = "{version}"
description = "Says hello"
default_config = {{ greeting = "{greeting}" }}
config_schema = {{ type = "object", properties = {{ greeting = {{ type = "string" }} }} }}

[[plugin.presets]]
name = "Formal"
config = {{ greeting = "Good day" }}
"""


def manifest_in(folder: Path, version: str = "1.0.0", greeting: str = "Hi") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(MANIFEST.format(version=version, greeting=greeting))
    (folder / "README.md").write_text("# Greeter\n\n<script>alert(1)</script>**bold**")
    return folder


def test_push_creates_then_updates_the_same_plugin(
    call: Callable[..., Any], hub: Hub, acme: Owner, client: TestClient, tmp_path: Path
) -> None:
    folder = manifest_in(tmp_path / "greeter")
    first = call(hub.manifests.push, acme.organization_id, load_manifest(folder))
    assert first.created
    assert first.secret
    assert first.presets == ["Formal"]
    manifest_in(folder, version="1.1.0", greeting="Hello")
    second = call(hub.manifests.push, acme.organization_id, load_manifest(folder))
    assert not second.created
    assert second.secret is None
    assert second.plugin.id == first.plugin.id

    plugins = client.get("/api/v1/plugins", headers=acme.headers).json()["items"]
    assert [p["id"] for p in plugins] == [first.plugin.id]
    plugin = plugins[0]
    assert plugin["default_config"] == {"greeting": "Hello"}
    assert plugin["details"].startswith("# Greeter")
    assert second.plugin.version == "1.1.0"
    # The old secret still works: a push does not rotate it.
    with client.websocket_connect(
        "/ws/plugin", headers=basic_auth(first.plugin.id, first.secret)
    ) as ws:
        ws.send_json({"type": "hello", "plugin_version": "1.1.0", "job_type": "custom"})
        assert ws.receive_json()["type"] == "welcome"


def test_push_saves_presets_and_rotates_only_when_asked(
    call: Callable[..., Any], hub: Hub, acme: Owner, client: TestClient, tmp_path: Path
) -> None:
    folder = manifest_in(tmp_path / "greeter")
    first = call(hub.manifests.push, acme.organization_id, load_manifest(folder))
    rotated = call(hub.manifests.push, acme.organization_id, load_manifest(folder), rotate=True)
    assert rotated.secret
    assert rotated.secret != first.secret
    assert saved_presets(call, hub, first.plugin.id) == [("Formal", {"greeting": "Good day"})]
    (folder / "plugin.toml").write_text(
        (folder / "plugin.toml").read_text().replace('"Good day"', '"Good evening"')
    )
    call(hub.manifests.push, acme.organization_id, load_manifest(folder))
    assert saved_presets(call, hub, first.plugin.id) == [("Formal", {"greeting": "Good evening"})]


def saved_presets(call: Callable[..., Any], hub: Hub, plugin_id: str) -> list[tuple[str, Any]]:
    async def read() -> list[tuple[str, Any]]:
        async with hub.store.read() as session:
            rows = await session.scalars(
                select(ConfigPreset).where(ConfigPreset.plugin_id == plugin_id)
            )
            return [(row.name, row.config) for row in rows]

    result: list[tuple[str, Any]] = call(read)
    return result


def test_a_key_the_manifest_leaves_out_keeps_its_value(
    call: Callable[..., Any], hub: Hub, acme: Owner, client: TestClient, tmp_path: Path
) -> None:
    folder = manifest_in(tmp_path / "greeter")
    first = call(hub.manifests.push, acme.organization_id, load_manifest(folder))
    # Made public in the dashboard; the manifest says nothing about it.
    changed = client.patch(
        f"/api/v1/plugins/{first.plugin.id}", json={"public": True}, headers=acme.headers
    )
    assert changed.status_code == 200
    manifest_in(folder, version="2.0.0")
    call(hub.manifests.push, acme.organization_id, load_manifest(folder))
    plugin = client.get(f"/api/v1/plugins/{first.plugin.id}", headers=acme.headers).json()
    assert plugin["public"] is True
    assert plugin["version"] == "2.0.0"
    # What the manifest does set wins.
    text = (folder / "plugin.toml").read_text()
    (folder / "plugin.toml").write_text(
        text.replace('type = "custom"', 'type = "custom"\npublic = false')
    )
    call(hub.manifests.push, acme.organization_id, load_manifest(folder))
    plugin = client.get(f"/api/v1/plugins/{first.plugin.id}", headers=acme.headers).json()
    assert plugin["public"] is False


def test_the_same_key_in_another_organization_is_another_plugin(
    call: Callable[..., Any], hub: Hub, acme: Owner, globex: Owner, tmp_path: Path
) -> None:
    manifest = load_manifest(manifest_in(tmp_path / "greeter"))
    ours = call(hub.manifests.push, acme.organization_id, manifest)
    theirs = call(hub.manifests.push, globex.organization_id, manifest)
    assert theirs.created
    assert theirs.plugin.id != ours.plugin.id


def test_a_type_change_or_a_config_off_schema_is_refused_with_the_key(
    call: Callable[..., Any], hub: Hub, acme: Owner, tmp_path: Path
) -> None:
    folder = manifest_in(tmp_path / "greeter")
    call(hub.manifests.push, acme.organization_id, load_manifest(folder))
    text = (folder / "plugin.toml").read_text()
    (folder / "plugin.toml").write_text(text.replace('type = "custom"', 'type = "export"'))
    with pytest.raises(ManifestError, match=r"plugin.toml: plugin.type: .*cannot change"):
        call(hub.manifests.push, acme.organization_id, load_manifest(folder))
    (folder / "plugin.toml").write_text(text.replace('greeting = "Hi"', "greeting = 5"))
    with pytest.raises(ManifestError, match=r"plugin.toml: plugin.default_config: .*schema"):
        call(hub.manifests.push, acme.organization_id, load_manifest(folder))
    (folder / "plugin.toml").write_text(text.replace('"Good day"', "7"))
    with pytest.raises(ManifestError, match=r"plugin.toml: plugin.presets: preset 'Formal'"):
        call(hub.manifests.push, acme.organization_id, load_manifest(folder))


def test_the_cli_prints_the_id_and_the_secret_once(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    admin = ["admin", "create", "--email", "o@acme.example", "--password", "pw-12345678"]
    assert cli.main([*admin, "--org", "acme"]) == 0
    capsys.readouterr()
    folder = manifest_in(tmp_path / "greeter")
    assert cli.main(["plugin", "push", str(folder), "--org", "acme"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["created"] is True
    assert created["secret"].startswith("phs_")
    assert cli.main(["plugin", "push", str(folder / "plugin.toml"), "--org", "acme"]) == 0
    printed = capsys.readouterr()
    again = json.loads(printed.out)
    if not database_url:  # SQLite in the data dir
        # A hub running on the same SQLite file would not see the update before a restart.
        assert "push to a running hub with --hub URL" in printed.err
    assert again["id"] == created["id"]
    assert "secret" not in again
    assert cli.main(["plugin", "push", str(folder), "--org", "acme", "--rotate"]) == 0
    assert json.loads(capsys.readouterr().out)["secret"] != created["secret"]

    (folder / "plugin.toml").write_text("[plugin]\nname = 'x'\n")
    assert cli.main(["plugin", "push", str(folder), "--org", "acme"]) == 1
    assert f"plugin-hub: {folder / 'plugin.toml'}: plugin.key: missing" in capsys.readouterr().err
    assert cli.main(["plugin", "push", str(tmp_path / "none"), "--org", "acme"]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def manifest_json(folder: Path) -> dict[str, Any]:
    """What `plugin push --hub` sends: the manifest with its files read."""
    body: dict[str, Any] = load_manifest(folder).model_dump(mode="json")
    body["source"] = "plugin.toml"
    return body


def test_push_over_the_api_creates_then_updates(
    client: TestClient, acme: Owner, globex: Owner, tmp_path: Path
) -> None:
    body = manifest_json(manifest_in(tmp_path / "greeter"))
    url = "/api/v1/plugins/by-key/greeter"
    created = client.put(url, json=body, headers=acme.headers)
    assert created.status_code == 201, created.text
    assert created.json()["secret"].startswith("phs_")
    body["version"] = "1.0.1"
    again = client.put(url, json=body, headers=acme.headers)
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"]
    assert "secret" not in again.json()
    rotated = client.put(url + "?rotate=true", json=body, headers=acme.headers)
    assert rotated.json()["secret"] not in (None, created.json()["secret"])
    plugin = client.get(f"/api/v1/plugins/{created.json()['id']}", headers=acme.headers).json()
    assert (plugin["version"], plugin["manifest_key"]) == ("1.0.1", "greeter")
    # Another organization's push of the same key is its own plugin.
    theirs = client.put(url, json=body, headers=globex.headers)
    assert theirs.status_code == 201
    assert theirs.json()["id"] != created.json()["id"]


def test_push_over_the_api_refuses_a_bad_manifest_naming_the_key(
    client: TestClient, acme: Owner, tmp_path: Path
) -> None:
    body = manifest_json(manifest_in(tmp_path / "greeter"))
    url = "/api/v1/plugins/by-key/greeter"
    assert client.put(url, json=body, headers=acme.headers).status_code == 201
    wrong_type = client.put(url, json={**body, "type": "export"}, headers=acme.headers)
    assert wrong_type.status_code == 422
    assert "plugin.toml: plugin.type:" in wrong_type.json()["error"]["message"]
    other_key = client.put("/api/v1/plugins/by-key/other", json=body, headers=acme.headers).json()
    assert "the URL's is not" in other_key["error"]["message"]
    unknown = client.put(url, json={**body, "verison": "2"}, headers=acme.headers)
    assert unknown.status_code == 422
    assert "verison" in unknown.json()["error"]["message"]
    assert client.put(url, json=body).status_code == 401
