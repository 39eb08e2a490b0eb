"""Shortcuts for the project page tests: set up through the REST API, read back through it."""

from __future__ import annotations

from typing import Any

from tests.hub.conftest import Owner, TestClient
from tests.workspace.helpers import API, CATEGORIES, add_assets, all_tasks, png_bytes

__all__ = ["API", "CATEGORIES", "add_assets", "all_tasks", "png_bytes"]


def make_project(client: TestClient, owner: Owner, **fields: Any) -> dict[str, Any]:
    body = {"name": "Street scenes", "categories": CATEGORIES, "stages": ["model"], **fields}
    response = client.post(f"{API}/projects", headers=owner.headers, json=body)
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    return project


def get_project(client: TestClient, owner: Owner, project_id: str) -> dict[str, Any]:
    response = client.get(f"{API}/projects/{project_id}", headers=owner.headers)
    assert response.status_code == 200, response.text
    project: dict[str, Any] = response.json()
    return project


def get_task(client: TestClient, owner: Owner, task_id: str) -> dict[str, Any]:
    response = client.get(f"{API}/tasks/{task_id}", headers=owner.headers)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


def one_task(client: TestClient, owner: Owner, project_id: str, **asset: Any) -> dict[str, Any]:
    """A new task on an image by URL (or on the asset given)."""
    before = {t["id"] for t in all_tasks(client, owner, project_id)}
    add_assets(client, owner, project_id, [asset or {"url": "https://img.example/a.jpg"}])
    (task,) = [t for t in all_tasks(client, owner, project_id) if t["id"] not in before]
    return task
