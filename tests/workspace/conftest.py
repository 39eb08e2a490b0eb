"""Workspace tests run on the in-process hub of tests/hub/conftest.py, whose fixtures are
re-exported here, plus a fixture that makes projects through the API."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

# As in tests/hub/conftest.py: starlette warns when its TestClient runs on `httpx`, and the
# suite turns warnings into errors; this may be the first import of it in a run.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from tests.hub.conftest import (  # noqa: F401 (fixtures, used by name)
    Owner,
    _fast_password_hashing,
    acme,
    call,
    client,
    globex,
    hub,
    settings,
    settings_overrides,
)
from tests.workspace.helpers import API, CATEGORIES, MakeProject


@pytest.fixture
def make_project(client: TestClient) -> MakeProject:  # noqa: F811
    """Create a project through the API; returns the 201 body."""

    def _make(owner: Owner, **fields: Any) -> dict[str, Any]:
        body = {"name": "streets", "categories": CATEGORIES, **fields}
        response = client.post(f"{API}/projects", headers=owner.headers, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    return _make
