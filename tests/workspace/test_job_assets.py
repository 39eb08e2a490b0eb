"""A markdown job's assets are created once, however many attempts the job takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from ango_plugins_sdk.protocol import JobStatus
from ango_plugins_sdk.protocol.workspace import AssetIn
from hub.jobs.state import ActiveJob
from hub.runtime import Hub
from tests.hub.conftest import Owner
from tests.workspace.helpers import MakeProject, all_tasks


def markdown_job(owner: Owner, project_id: str, attempt: int) -> ActiveJob:
    return ActiveJob(
        id="01a20500000000000000abcd",
        organization_id=owner.organization_id,
        plugin_id="p",
        created_by=owner.user_id,
        type="markdown",
        operation=None,
        config={},
        input={"project_id": project_id},
        priority=1,
        timeout_s=None,
        status=JobStatus.RUNNING,
        created_at=0.0,
        attempt=attempt,
    )


def test_a_new_attempt_removes_what_earlier_attempts_created(
    client: TestClient, hub: Hub, call: Callable[..., Any], acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme, categories=[])
    documents = [AssetIn(markdown=f"doc {n}", batch="b") for n in range(3)]
    first = markdown_job(acme, project["id"], attempt=1)
    tag = call(hub.job_types.services.job_assets.tag, first)
    assert tag == f"{first.id}:1"
    call(
        hub.workspace.assets.create_many,
        acme.organization_id,
        project["id"],
        documents,
        created_by_job=tag,
    )
    # Someone else's assets are never touched.
    call(
        hub.workspace.assets.create_many,
        acme.organization_id,
        project["id"],
        [AssetIn(markdown="mine")],
    )
    assert len(all_tasks(client, acme, project["id"])) == 4

    second = markdown_job(acme, project["id"], attempt=2)
    tag = call(hub.job_types.services.job_assets.tag, second)
    assert tag == f"{second.id}:2"
    assert len(all_tasks(client, acme, project["id"])) == 1  # attempt 1's three are gone
    call(
        hub.workspace.assets.create_many,
        acme.organization_id,
        project["id"],
        documents,
        created_by_job=tag,
    )
    # Asking again within the same attempt removes nothing of its own.
    call(hub.job_types.services.job_assets.tag, second)
    assert len(all_tasks(client, acme, project["id"])) == 4


def test_a_retried_job_keeps_what_earlier_runs_created(
    client: TestClient, hub: Hub, call: Callable[..., Any], acme: Owner, make_project: MakeProject
) -> None:
    project = make_project(acme, categories=[])
    first_run = markdown_job(acme, project["id"], attempt=1)
    tag = call(hub.job_types.services.job_assets.tag, first_run)
    call(
        hub.workspace.assets.create_many,
        acme.organization_id,
        project["id"],
        [AssetIn(markdown="kept")],
        created_by_job=tag,
    )
    # Retried after it succeeded: the engine starts a new run at attempt 2.
    retried = markdown_job(acme, project["id"], attempt=3)
    retried.input["run_from_attempt"] = 2
    call(
        hub.workspace.assets.create_many,
        acme.organization_id,
        project["id"],
        [AssetIn(markdown="lost half-way")],
        created_by_job=f"{retried.id}:2",
    )
    call(hub.job_types.services.job_assets.tag, retried)
    remaining = all_tasks(client, acme, project["id"])
    assert len(remaining) == 1  # attempt 2's went; the first run's stayed
