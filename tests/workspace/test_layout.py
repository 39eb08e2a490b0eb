"""The workspace package's rules: one writer of task rows, one stage check, no ORM rows and
no URLs of its own in what it returns."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ango_plugins_sdk.protocol.workspace import ProjectInfo
from hub.paths import asset_file_path, job_data_path
from hub.runtime import Hub
from hub.services.errors import Invalid
from hub.workspace import Workspace
from hub.workspace.projects import check_stages
from hub.workspace.views import ProjectSummary
from tests.hub.conftest import Owner
from tests.workspace.helpers import MakeProject, png_bytes

Call = Callable[..., Any]
HUB = Path(__file__).resolve().parents[2] / "hub"
TASK_WRITES = re.compile(
    r"(insert|update|delete)\((TaskRow|TaskBatch)\)|(?<!class )\b(TaskRow|TaskBatch)\("
)


def test_only_task_rows_writes_task_and_batch_rows() -> None:
    writers = {
        path.relative_to(HUB).as_posix()
        for path in HUB.rglob("*.py")
        if TASK_WRITES.search(path.read_text(encoding="utf-8"))
    }
    assert writers == {"workspace/task_rows.py"}


PROJECT = ProjectInfo(id="p1", name="streets", stages=["todo", "done"])


def test_an_unknown_stage_is_named_with_the_projects_stages() -> None:
    check_stages(PROJECT, ["done", "todo"])
    with pytest.raises(Invalid, match=r"^unknown stage 'qa'; project p1 has stages todo, done$"):
        check_stages(PROJECT, ["todo", "qa"])


def test_an_unknown_stage_in_an_input_field_names_the_field() -> None:
    with pytest.raises(Invalid, match=r"^input\.advance: project has no stage 'qa'$"):
        check_stages(PROJECT, ["qa"], field="input.advance")


def test_the_hubs_paths() -> None:
    assert asset_file_path("a1") == "/api/v1/assets/a1/file"
    assert job_data_path("j1", "assets/") == "/io/jobs/j1/assets/"


def test_projects_are_listed_as_plain_values(
    call: Call, hub: Hub, acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme)
    principal = call(hub.accounts.authenticate_api_key, acme.api_key)
    projects, _ = call(hub.workspace.projects.page, principal)
    assert [type(p) for p in projects] == [ProjectSummary]
    assert projects[0].id == project["id"]


def test_an_uploads_url_comes_from_the_function_the_hub_gives(
    call: Call, hub: Hub, acme: Owner, make_project: MakeProject
) -> None:
    elsewhere = Workspace.build(hub.store, hub.storage, asset_url=lambda i: f"/elsewhere/{i}")
    project = make_project(acme)

    async def one_image() -> Any:
        yield png_bytes(2, 2)

    uploaded = call(
        elsewhere.assets.upload_image, acme.organization_id, project["id"], "a.png", one_image()
    )
    assert uploaded.asset.url == f"/elsewhere/{uploaded.asset.id}"
    (exported,) = call(_listed, elsewhere.exports.stream(acme.organization_id, project["id"]))
    assert exported.asset.url == f"/elsewhere/{uploaded.asset.id}"


async def _listed(items: Any) -> list[Any]:
    return [item async for item in items]
