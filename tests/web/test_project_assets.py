"""Adding assets from the dashboard: image uploads, images by URL, a markdown document; and
uploaded images served to the signed-in browser."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hub.web import project_assets
from tests.web.conftest import Owner, TestClient, WebUser
from tests.web.project_helpers import all_tasks, make_project, png_bytes

WebUsers = Callable[[Owner], WebUser]


def test_uploaded_images_become_tasks_and_show_in_the_gallery(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    project = make_project(client, acme)
    user = web_user(acme)
    assert 'enctype="multipart/form-data"' in user.get(f"/projects/{project['id']}/assets/new").text
    image = png_bytes(4, 3)
    response = user.post(
        f"/projects/{project['id']}/assets/upload",
        {"batch": "monday"},
        files=[("file", ("red.png", image, "image/png")), ("file", ("b.png", image, "image/png"))],
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/projects/{project['id']}?added=2"
    tasks = all_tasks(client, acme, project["id"])
    assert [(t["asset"]["metadata"]["filename"], t["batches"]) for t in tasks] == [
        ("red.png", ["monday"]),
        ("b.png", ["monday"]),
    ]
    assert (tasks[0]["asset"]["width"], tasks[0]["asset"]["height"]) == (4, 3)

    gallery = user.get(response.headers["location"]).text
    assert "2 assets added" in gallery
    asset_id = tasks[0]["asset"]["id"]
    assert f'src="/assets/{asset_id}/file"' in gallery
    served = user.get(f"/assets/{asset_id}/file")
    assert served.status_code == 200
    assert served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]


def test_an_upload_without_a_file_is_shown_again_with_the_error(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    project = make_project(client, acme)
    response = web_user(acme).post(
        f"/projects/{project['id']}/assets/upload",
        {"batch": "kept"},
        files=[("file", ("", b"", "application/octet-stream"))],  # an empty file input
    )
    assert response.status_code == 422
    assert "choose one or more images" in response.text
    assert 'value="kept"' in response.text
    assert all_tasks(client, acme, project["id"]) == []


def test_an_upload_over_the_cap_is_refused(
    client: TestClient, acme: Owner, web_user: WebUsers, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(client, acme)
    monkeypatch.setattr(project_assets, "MAX_UPLOAD_BYTES", 10_000)
    response = web_user(acme).post(
        f"/projects/{project['id']}/assets/upload",
        files=[("file", ("big.png", b"\x89PNG" + b"\x00" * 20_000, "image/png"))],
    )
    assert response.status_code == 413
    assert "too large" in response.text
    assert all_tasks(client, acme, project["id"]) == []


def test_images_by_url_are_added_one_per_line(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    project = make_project(client, acme)
    response = web_user(acme).post(
        f"/projects/{project['id']}/assets/urls",
        {"urls": " https://img.example/1.jpg\n\nhttps://img.example/2.jpg\n", "batch": "web"},
    )
    assert response.status_code == 303
    assert [(t["asset"]["url"], t["batches"]) for t in all_tasks(client, acme, project["id"])] == [
        ("https://img.example/1.jpg", ["web"]),
        ("https://img.example/2.jpg", ["web"]),
    ]


def test_a_bad_url_adds_nothing_and_keeps_the_list(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    project = make_project(client, acme)
    urls = "https://img.example/1.jpg\njavascript:alert(1)"
    response = web_user(acme).post(f"/projects/{project['id']}/assets/urls", {"urls": urls})
    assert response.status_code == 422
    assert "url must be an http(s) URL" in response.text
    assert "https://img.example/1.jpg\njavascript:alert(1)</textarea>" in response.text
    assert all_tasks(client, acme, project["id"]) == []


def test_a_markdown_document_is_stored_verbatim_and_shown_sanitized(
    client: TestClient, acme: Owner, web_user: WebUsers
) -> None:
    project = make_project(client, acme)
    user = web_user(acme)
    text = "# Ticket 17\n\nThe **printer** is on fire. <script>alert(1)</script>\n"
    response = user.post(
        f"/projects/{project['id']}/assets/markdown",
        {"markdown": text, "external_id": "ticket-17", "batch": "tickets"},
    )
    assert response.status_code == 303
    (task,) = all_tasks(client, acme, project["id"])
    assert (task["asset"]["external_id"], task["batches"]) == ("ticket-17", ["tickets"])
    page = user.get(f"/tasks/{task['id']}").text
    assert "<h1>Ticket 17</h1>" in page
    assert "<strong>printer</strong>" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    empty = user.post(f"/projects/{project['id']}/assets/markdown", {"markdown": "  \n"})
    assert empty.status_code == 422
    assert "nothing to add" in empty.text
