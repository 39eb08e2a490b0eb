"""POST /projects/{id}/assets (JSON and multipart upload) and GET /assets/{id}/file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from ango_plugins_sdk.protocol.workspace import AssetIn
from hub.blobs import LocalStorage
from hub.runtime import Hub
from tests.hub.conftest import Owner
from tests.workspace.helpers import (
    API,
    MakeProject,
    add_assets,
    all_tasks,
    jpeg_header,
    png_bytes,
)
from tests.workspace.test_projects import error_of

Call = Callable[..., Any]


def upload(
    client: TestClient,
    owner: Owner,
    project_id: str,
    files: list[tuple[str, bytes]],
    data: dict[str, Any] | None = None,
) -> Any:
    return client.post(
        f"{API}/projects/{project_id}/assets",
        headers=owner.headers,
        files=[("file", (name, content, "image/png")) for name, content in files],
        data=data or {},
    )


# --- JSON ----------------------------------------------------------------------------------


def test_json_assets_create_one_task_each_in_todo(
    client: TestClient, acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    body = add_assets(
        client,
        acme,
        project["id"],
        [
            {
                "url": "https://img.example/a.jpg",
                "external_id": "a",
                "width": 640,
                "height": 480,
                "batch": "b1",
                "metadata": {"camera": "front"},
            },
            {"markdown": "# Title\n\nsome *text*", "external_id": "doc-1", "batch": "b2"},
            {"url": "https://img.example/b.jpg"},
        ],
    )
    assert body == {"created": 3, "skipped": 0}
    tasks = all_tasks(client, acme, project["id"])
    assert [t["stage"] for t in tasks] == ["todo"] * 3
    assert [t["batches"] for t in tasks] == [["b1"], ["b2"], []]
    image, doc, bare = (t["asset"] for t in tasks)
    assert image == {
        "id": image["id"],
        "type": "image",
        "url": "https://img.example/a.jpg",
        "markdown": None,
        "external_id": "a",
        "width": 640,
        "height": 480,
        "metadata": {"camera": "front"},
    }
    assert doc["type"] == "markdown"
    assert doc["markdown"] is None  # lists leave the text out; the task itself has it
    assert doc["external_id"] == "doc-1"
    assert bare["external_id"] is None
    full = client.get(f"{API}/tasks/{tasks[1]['id']}", headers=acme.headers).json()
    assert full["asset"]["markdown"] == "# Title\n\nsome *text*"
    assert full["annotations"] == {"objects": [], "classifications": []}


def test_dedupe_skips_existing_and_repeated_external_ids(
    client: TestClient, acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    add_assets(client, acme, project["id"], [{"markdown": "one", "external_id": "1"}])
    body = add_assets(
        client,
        acme,
        project["id"],
        [
            {"markdown": "again", "external_id": "1"},  # already in the project
            {"markdown": "two", "external_id": "2"},
            {"markdown": "two again", "external_id": "2"},  # earlier in this call
            {"markdown": "no id"},  # never deduped
            {"markdown": "no id either"},
        ],
        dedupe=True,
    )
    assert body == {"created": 3, "skipped": 2}
    tasks = all_tasks(client, acme, project["id"])
    assert [t["asset"]["external_id"] for t in tasks] == ["1", "2", None, None]
    full = [client.get(f"{API}/tasks/{t['id']}", headers=acme.headers).json() for t in tasks]
    assert [t["asset"]["markdown"] for t in full] == ["one", "two", "no id", "no id either"]


def test_without_dedupe_repeated_external_ids_are_created(
    client: TestClient, acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    assets = [{"markdown": "x", "external_id": "same"}] * 2
    assert add_assets(client, acme, project["id"], assets) == {"created": 2, "skipped": 0}


def test_dedupe_is_per_project(client: TestClient, acme: Owner, make_project: MakeProject) -> None:
    first, second = make_project(acme), make_project(acme)
    add_assets(client, acme, first["id"], [{"markdown": "x", "external_id": "e"}])
    body = add_assets(
        client, acme, second["id"], [{"markdown": "x", "external_id": "e"}], dedupe=True
    )
    assert body == {"created": 1, "skipped": 0}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"assets": []}, "assets"),
        ({"assets": [{"external_id": "x"}]}, "exactly one of url or markdown"),
        ({"assets": [{"url": "https://a", "markdown": "m"}]}, "exactly one of url or markdown"),
        ({"assets": [{"url": "file:///etc/passwd"}]}, "http(s) URL"),
        ({"assets": [{"url": "https://a", "width": -1}]}, "assets.0.width"),
        ({"assets": [{"url": "https://a"}], "dedup": True}, "dedup"),
        ({"assets": [{"url": "https://a"}] * 10_001}, "assets"),
    ],
)
def test_invalid_assets_are_a_422(
    client: TestClient,
    acme: Owner,
    make_project: MakeProject,
    body: dict[str, Any],
    expected: str,
) -> None:
    project = make_project(acme)
    response = client.post(
        f"{API}/projects/{project['id']}/assets", headers=acme.headers, json=body
    )
    assert expected in error_of(response, 422)["message"]
    assert all_tasks(client, acme, project["id"]) == []


def test_assets_into_another_organizations_project_are_not_found(
    client: TestClient, acme: Owner, globex: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    response = client.post(
        f"{API}/projects/{project['id']}/assets",
        headers=globex.headers,
        json={"assets": [{"url": "https://a.example/x.png"}]},
    )
    error_of(response, 404)
    error_of(upload(client, globex, project["id"], [("a.png", png_bytes(2, 2))]), 404)
    assert all_tasks(client, acme, project["id"]) == []


def test_a_thousand_assets_take_a_handful_of_statements(
    call: Call, hub: Hub, acme: Owner, make_project: MakeProject
) -> None:
    """Bulk creation is batched: no statement per asset (its speed is bench/'s to measure)."""
    project = make_project(acme)
    assets = [
        AssetIn(url=f"https://img.example/{i}.jpg", external_id=str(i), batch=f"b{i % 3}")
        for i in range(1_000)
    ]
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])  # (connection, cursor, statement, ...)

    engine = hub.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        created = call(
            hub.workspace.assets.create_many,
            acme.organization_id,
            project["id"],
            assets,
            dedupe=True,
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert created == (1_000, 0)
    assert len(statements) <= 20, statements
    again = call(
        hub.workspace.assets.create_many, acme.organization_id, project["id"], assets, dedupe=True
    )
    assert again == (0, 1_000)


def test_a_json_body_over_the_cap_is_refused(
    client: TestClient, acme: Owner, make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.api import projects

    monkeypatch.setattr(projects, "MAX_JSON_ASSETS_BYTES", 100)
    project = make_project(acme)
    response = client.post(
        f"{API}/projects/{project['id']}/assets",
        headers=acme.headers,
        json={"assets": [{"markdown": "x" * 200}]},
    )
    assert error_of(response, 413)["code"] == "too_large"


# --- uploads -------------------------------------------------------------------------------


def test_uploaded_png_reads_back_byte_identical_with_its_size_detected(
    client: TestClient, acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    image = png_bytes(7, 5)
    response = upload(
        client, acme, project["id"], [("red.png", image)], {"external_id": "red", "batch": "up"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] == 1
    assert body["skipped"] == 0
    (item,) = body["items"]
    asset_id = item["id"]
    assert item["type"] == "image"
    assert item["url"] == f"/api/v1/assets/{asset_id}/file"
    assert (item["width"], item["height"]) == (7, 5)
    assert item["external_id"] == "red"
    assert item["metadata"] == {"filename": "red.png"}

    task = client.get(f"{API}/tasks/{item['task_id']}", headers=acme.headers).json()
    assert task["batches"] == ["up"]
    assert task["stage"] == "todo"
    assert task["asset"]["id"] == asset_id

    served = client.get(item["url"], headers=acme.headers)
    assert served.status_code == 200
    assert served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers["content-length"] == str(len(image))
    assert served.headers["x-content-type-options"] == "nosniff"


def test_upload_several_files_with_an_external_id_each(
    client: TestClient, acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    files = [("a.png", png_bytes(3, 2)), ("b.png", png_bytes(2, 9))]
    response = upload(client, acme, project["id"], files, {"external_id": ["ea", "eb"]})
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [(i["external_id"], i["width"], i["height"]) for i in items] == [
        ("ea", 3, 2),
        ("eb", 2, 9),
    ]
    for item, (_name, content) in zip(items, files, strict=True):
        assert client.get(item["url"], headers=acme.headers).content == content


def test_large_upload_streams_through_storage_intact(
    client: TestClient, acme: Owner, make_project: MakeProject
) -> None:
    """Bigger than the form parser's in-memory spool and than one storage chunk."""
    project = make_project(acme)
    content = png_bytes(4, 4) + bytes(range(256)) * 12_000  # ~3 MB
    response = upload(client, acme, project["id"], [("big.png", content)])
    assert response.status_code == 201, response.text
    (item,) = response.json()["items"]
    assert (item["width"], item["height"]) == (4, 4)
    served = client.get(item["url"], headers=acme.headers)
    assert served.content == content


def test_upload_of_an_unknown_format_is_kept_without_a_size_and_served_inert(
    client: TestClient, acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    content = b"<html><script>alert(1)</script></html>"
    response = client.post(
        f"{API}/projects/{project['id']}/assets",
        headers=acme.headers,
        files=[("file", ("x.html", content, "text/html"))],
    )
    assert response.status_code == 201, response.text
    (item,) = response.json()["items"]
    assert item["width"] is None
    assert item["height"] is None
    served = client.get(item["url"], headers=acme.headers)
    assert served.content == content
    assert served.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in served.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("files", "data", "expected"),
    [
        ([], {"batch": "b"}, "send one or more images as 'file' parts"),
        ([("a.png", b"")], {}, "file[0] (a.png) is empty"),
        ([("a.png", b"x")], {"external_id": ["1", "2"]}, "one per file"),
        ([("a.png", b"x")], {"batch": ["1", "2"]}, "at most one batch"),
        ([("a.png", b"x")], {"files": "oops"}, "unknown form field(s) files"),
        ([("a.png", b"x")], {"external_id": "x" * 501}, "external_id"),
    ],
)
def test_invalid_uploads_are_a_422_and_create_nothing(
    client: TestClient,
    acme: Owner,
    make_project: MakeProject,
    files: list[tuple[str, bytes]],
    data: dict[str, Any],
    expected: str,
) -> None:
    project = make_project(acme)
    if files:
        response = upload(client, acme, project["id"], files, data)
    else:  # a multipart body with fields only (httpx would send it url-encoded)
        body = "".join(
            f'--b0und\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in data.items()
        )
        response = client.post(
            f"{API}/projects/{project['id']}/assets",
            headers={**acme.headers, "Content-Type": "multipart/form-data; boundary=b0und"},
            content=(body + "--b0und--\r\n").encode(),
        )
    assert expected in error_of(response, 422)["message"]
    assert all_tasks(client, acme, project["id"]) == []


def test_a_file_field_without_a_filename_is_refused(
    client: TestClient, acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    response = client.post(
        f"{API}/projects/{project['id']}/assets",
        headers=acme.headers,
        data={"file": "not a file"},
        files=[("external_id", (None, b"x"))],
    )
    assert "must be a file part" in error_of(response, 422)["message"]


def test_asset_file_is_404_for_url_assets_unknown_ids_and_other_organizations(
    client: TestClient, acme: Owner, globex: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    add_assets(client, acme, project["id"], [{"url": "https://img.example/a.jpg"}])
    (task,) = all_tasks(client, acme, project["id"])
    url_asset = task["asset"]["id"]
    error_of(client.get(f"{API}/assets/{url_asset}/file", headers=acme.headers), 404)
    error_of(client.get(f"{API}/assets/nope/file", headers=acme.headers), 404)

    response = upload(client, acme, project["id"], [("a.png", png_bytes(1, 1))])
    (item,) = response.json()["items"]
    assert client.get(item["url"], headers=acme.headers).status_code == 200
    error_of(client.get(item["url"], headers=globex.headers), 404)
    assert client.get(item["url"]).status_code == 401


def test_uploaded_jpeg_gets_its_size(
    client: TestClient, acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    content = jpeg_header(800, 600, app_payload=40_000)
    response = client.post(
        f"{API}/projects/{project['id']}/assets",
        headers=acme.headers,
        files=[("file", ("photo.jpg", content, "image/jpeg"))],
    )
    (item,) = response.json()["items"]
    assert (item["width"], item["height"]) == (800, 600)
    served = client.get(item["url"], headers=acme.headers)
    assert served.headers["content-type"] == "image/jpeg"
    assert served.content == content


def test_an_upload_body_over_the_cap_is_refused_declared_or_not(
    client: TestClient, acme: Owner, make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.api import projects

    monkeypatch.setattr(projects, "MAX_UPLOAD_BYTES", 1_000)
    project = make_project(acme)
    declared = upload(client, acme, project["id"], [("a.png", png_bytes(40, 40) + b"\0" * 2_000)])
    assert error_of(declared, 413)["code"] == "too_large"

    boundary = "b0und"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + b"\0" * 5_000
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def chunked() -> Any:  # no Content-Length: the cap must hold while reading
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    response = client.post(
        f"{API}/projects/{project['id']}/assets",
        headers={**acme.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=chunked(),
    )
    assert error_of(response, 413)["code"] == "too_large"
    assert all_tasks(client, acme, project["id"]) == []


def test_an_image_over_the_size_limit_leaves_nothing_behind(
    call: Call, hub: Hub, acme: Owner, make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.services.errors import Invalid
    from hub.workspace import assets as assets_module

    monkeypatch.setattr(assets_module, "MAX_IMAGE_BYTES", 1_000)
    project = make_project(acme)

    async def chunks() -> Any:
        for _ in range(10):
            yield b"\0" * 300

    with pytest.raises(Invalid, match="file too large"):
        call(
            hub.workspace.assets.upload_image,
            acme.organization_id,
            project["id"],
            "big.png",
            chunks(),
        )
    assert isinstance(hub.storage, LocalStorage)
    root = hub.storage.root
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]
    info = call(hub.workspace.projects.info, acme.organization_id, project["id"])
    assert info.batches == []
    assert call(hub.workspace.exports.count, acme.organization_id, project["id"]) == 0
