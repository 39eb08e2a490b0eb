"""The SDK's export and markdown job types end to end: a real hub, real plugin processes.

Exports: every form a callback may return (bytes, a path, file objects, chunks, Ango's
tuple), on local storage and on S3 (presigned PUT), and what a job token may reach.
Markdown: DataFrames, plain lists over several posts, bad items, and a killed attempt.
"""

from __future__ import annotations

import json
import random
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.databases import Databases
from tests.e2e.harness import HubProcess, MotoServer, PluginProcess, wait_until
from tests.e2e.test_export_markdown import download, iter_tasks, run_job

pytestmark = pytest.mark.e2e

EXPORT_PLUGIN = "sdk_export_forms"
MARKDOWN_PLUGIN = "sdk_markdown_docs"
MiB = 1024 * 1024


def payload(job_id: str, size: int) -> bytes:
    """What sdk_export_forms writes for a job (the same formula as the plugin's)."""
    return random.Random(job_id).randbytes(size)


@dataclass
class Env:
    """A hub shared by this module's tests, with the plugin processes started on it."""

    hub: HubProcess
    workdir: Path
    plugins: list[PluginProcess] = field(default_factory=list)

    def start(self, script: str, plugin_id: str, secret: str) -> PluginProcess:
        plugin = PluginProcess(script, hub=self.hub, plugin_id=plugin_id, secret=secret)
        self.plugins.append(plugin.start())
        return plugin

    def stop(self) -> None:
        for plugin in self.plugins:
            plugin.stop()
        self.hub.stop()


@dataclass
class Exporter:
    """The export test plugin on a hub, and a project to export."""

    env: Env
    plugin_id: str
    project_id: str

    @property
    def hub(self) -> HubProcess:
        return self.env.hub

    def run(self, config: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        config = {"dir": str(self.env.workdir), **config}
        return run_job(
            self.hub, self.plugin_id, {"project_id": self.project_id, "config": config}, timeout
        )


def new_project(hub: HubProcess) -> str:
    created = hub.api(
        "POST", "/projects", json={"name": f"md-{uuid.uuid4().hex[:8]}", "categories": []}
    )
    assert created.status_code == 201, created.text
    project_id: str = created.json()["id"]
    return project_id


def _env(hub: HubProcess, workdir: Path) -> Env:
    hub.data_dir.mkdir(parents=True)
    hub.create_admin()
    hub.start()
    workdir.mkdir()
    return Env(hub, workdir)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("sdk-local")
    with databases.new() as database_url:
        env = _env(HubProcess(root / "hub", database_url=database_url), root / "work")
        yield env
        env.stop()


@pytest.fixture(scope="module")
def exporter(local: Env) -> Exporter:
    plugin_id, secret = local.hub.create_plugin("forms", "export")
    local.start(EXPORT_PLUGIN, plugin_id, secret)
    return Exporter(local, plugin_id, new_project(local.hub))


@pytest.fixture(scope="module")
def s3(
    tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[tuple[Exporter, MotoServer]]:
    pytest.importorskip("moto", reason="moto is needed for the S3 storage tests")
    moto = MotoServer().start()
    moto.create_bucket("sdk-blobs")
    root = tmp_path_factory.mktemp("sdk-s3")
    with databases.new() as database_url:
        hub = HubProcess(
            root / "hub",
            database_url=database_url,
            env={**moto.env, "HUB_STORAGE_URL": "s3://sdk-blobs/x"},
        )
        env = _env(hub, root / "work")
        plugin_id, secret = hub.create_plugin("forms", "export")
        env.start(EXPORT_PLUGIN, plugin_id, secret)
        yield Exporter(env, plugin_id, new_project(hub)), moto
        env.stop()
    moto.stop()


def artifact(hub: HubProcess, job_id: str) -> httpx.Response:
    return httpx.get(
        f"{hub.url}/api/v1/jobs/{job_id}/artifact",
        headers={"Authorization": f"Bearer {hub.api_key}"},
        timeout=30,
    )


def log_messages(hub: HubProcess, job_id: str) -> list[str]:
    return [record["message"] for record in hub.logs(job_id)]


def io_request(hub: HubProcess, method: str, path: str, token: str) -> httpx.Response:
    return httpx.request(
        method,
        f"{hub.url}{path}",
        content=b"late" if method == "PUT" else None,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


# --- export: the forms a callback may return -------------------------------------------------

FORMS: dict[str, dict[str, Any]] = {
    "bytes": {"form": "bytes", "content_type": "application/json"},
    "path": {"form": "path", "content_type": "application/zip", "size": 300_000},
    "bytesio": {"form": "fileobj", "kind": "bytesio", "content_type": "application/x-ndjson"},
    "real-file": {"form": "fileobj", "kind": "file", "size": 600_000},
    "chunks": {"form": "chunks", "size": 3 * MiB // 2 + 17, "content_type": "application/zip"},
    "tuple": {"form": "tuple", "size": 4096},
}


@pytest.mark.parametrize("case", list(FORMS))
def test_export_form_uploads_exactly_the_bytes(exporter: Exporter, case: str) -> None:
    hub = exporter.hub
    config = {**FORMS[case], "filename": f"résumé {case}.bin"}
    job = exporter.run(config)
    assert job["status"] == "succeeded", job["error"]
    expected = payload(job["id"], int(config.get("size", 1000)))
    content_type = config.get("content_type", "application/octet-stream")

    response = artifact(hub, job["id"])
    assert response.status_code == 200, response.text
    assert response.content == expected
    assert response.headers["content-type"] == content_type
    assert response.headers["content-disposition"] == (
        f"attachment; filename*=UTF-8''{quote(config['filename'])}"
    )
    assert job["result"]["artifact"]["size"] == len(expected)
    assert job["result"]["artifact"]["filename"] == config["filename"]

    messages = log_messages(hub, job["id"])
    if config["form"] == "path":  # a path is left where it is
        written = exporter.env.workdir / f"{job['id']}.bin"
        assert written.read_bytes() == expected
    if config["form"] in ("fileobj", "tuple"):  # a file object is closed once uploaded
        kind = config.get("kind", "bytesio")
        assert f"closed=True kind={kind}" in messages, messages


def test_export_returning_something_else_fails_naming_export_result(exporter: Exporter) -> None:
    job = exporter.run({"form": "bad"})
    assert job["status"] == "failed"
    assert "ExportResult" in job["error"]["message"], job["error"]
    assert "dict" in job["error"]["message"]
    assert artifact(exporter.hub, job["id"]).status_code == 404


@pytest.mark.parametrize("case", ["chunks", "bytesio", "real-file"])
def test_export_form_to_s3_via_presigned_put(s3: tuple[Exporter, MotoServer], case: str) -> None:
    exporter, moto = s3
    hub = exporter.hub
    config = FORMS[case]
    job = exporter.run(config)
    assert job["status"] == "succeeded", job["error"]
    expected = payload(job["id"], int(config.get("size", 1000)))
    assert job["result"]["artifact"]["size"] == len(expected)

    redirect = artifact(hub, job["id"])
    assert redirect.status_code == 307
    assert redirect.headers["location"].startswith(moto.url)
    stored = httpx.get(redirect.headers["location"], timeout=30)
    assert stored.status_code == 200
    assert stored.content == expected
    assert stored.headers["content-type"] == config.get("content_type", "application/octet-stream")
    assert download(hub, job["id"]) == expected
    if config["form"] == "fileobj":
        assert f"closed=True kind={config['kind']}" in log_messages(hub, job["id"])


def test_s3_download_keeps_the_filename(s3: tuple[Exporter, MotoServer]) -> None:
    exporter, _ = s3
    job = exporter.run({"form": "bytes", "filename": "pets-coco.json"})
    assert job["status"] == "succeeded", job["error"]
    redirect = artifact(exporter.hub, job["id"])
    assert redirect.status_code == 307
    stored = httpx.get(redirect.headers["location"], timeout=30)
    assert "pets-coco.json" in stored.headers.get("content-disposition", "")


def test_export_of_a_wrapped_file_object_sends_what_read_returns(exporter: Exporter) -> None:
    size = 400_000
    job = exporter.run({"form": "gzip", "size": size})
    assert job["status"] == "succeeded", job["error"]
    expected = payload(job["id"], 1000) * (size // 1000)
    assert job["result"]["artifact"]["size"] == len(expected)
    assert download(exporter.hub, job["id"]) == expected


# --- export: what a job token reaches ----------------------------------------------------------


def test_job_token_reaches_only_its_own_running_attempt(exporter: Exporter) -> None:
    hub = exporter.hub
    workdir = exporter.env.workdir
    release = workdir / f"release-{uuid.uuid4().hex}"
    held = hub.api(
        "POST",
        f"/plugins/{exporter.plugin_id}/jobs",
        json={
            "project_id": exporter.project_id,
            "config": {"form": "hold", "release": str(release), "size": 2000},
        },
    )
    assert held.status_code == 202, held.text
    other_id = held.json()["id"]
    wait_until(lambda: hub.job(other_id)["status"] == "running", 20)

    # While the other job runs, this job's token is refused on the other job's path.
    probe = exporter.run({"form": "probe", "other_job": other_id, "size": 3000})
    assert probe["status"] == "succeeded", probe["error"]
    messages = log_messages(hub, probe["id"])
    assert "other_job_status=403 message=this token is for another job" in messages, messages
    token = (workdir / f"token-{probe['id']}").read_text()

    # Once its attempt is over, the token reaches nothing, not even its own job's paths.
    late = io_request(hub, "PUT", f"/io/jobs/{probe['id']}/artifact", token)
    assert late.status_code == 403, late.text
    assert "no longer running" in late.json()["error"]["message"]
    assert io_request(hub, "GET", f"/io/jobs/{probe['id']}/tasks", token).status_code == 403
    assert io_request(hub, "PUT", f"/io/jobs/{other_id}/artifact", token).status_code == 403
    forged = io_request(hub, "PUT", f"/io/jobs/{other_id}/artifact", token[:-4] + "AAAA")
    assert forged.status_code == 401

    release.touch()
    wait_until(lambda: hub.job(other_id)["status"] in {"succeeded", "failed"}, 20)
    assert hub.job(other_id)["status"] == "succeeded", hub.job(other_id)["error"]
    assert download(hub, other_id) == payload(other_id, 2000)
    assert download(hub, probe["id"]) == payload(probe["id"], 3000)


# --- markdown ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def markdown(local: Env) -> tuple[Env, str]:
    plugin_id, secret = local.hub.create_plugin("docs", "markdown")
    local.start(MARKDOWN_PLUGIN, plugin_id, secret)
    return local, plugin_id


def markdown_by_id(hub: HubProcess, project_id: str) -> dict[str, str]:
    """Every asset's markdown by external id, from the project's NDJSON export (the task
    list leaves markdown out); fails on a repeated external id."""
    response = hub.api("GET", f"/projects/{project_id}/export")
    assert response.status_code == 200, response.text
    lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    by_id = {line["asset"]["external_id"]: line["asset"]["markdown"] for line in lines}
    assert len(by_id) == len(lines), "duplicate external ids"
    assert len(lines) == len(list(iter_tasks(hub, project_id)))
    return by_id


SCORES_CSV = 'name,score\nalpha,1\nbeta,2.5\n"gamma, the third",4\n"del\nta",6.5\n'


def test_markdown_from_a_dataframe(markdown: tuple[Env, str]) -> None:
    env, plugin_id = markdown
    hub = env.hub
    project_id = new_project(hub)
    job = run_job(
        hub,
        plugin_id,
        {
            "project_id": project_id,
            "input": {"template": "unused", "csv_text": SCORES_CSV},
            "config": {"mode": "frame"},
        },
    )
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["created"] == 4
    assert "num_rows=4 rows=4 columns=['name', 'score']" in log_messages(hub, job["id"])
    scores = {"alpha": "1", "beta": "2.5", "gamma, the third": "4", "del\nta": "6.5"}
    assert markdown_by_id(hub, project_id) == {
        name: f"# {name}\n\nscore: {score}\n\nmean score: 3.50" for name, score in scores.items()
    }

    # From an uploaded file the hub does not count the rows up front: num_rows is None.
    uploaded = httpx.post(
        f"{hub.url}/api/v1/files",
        params={"filename": "scores.csv"},
        content=SCORES_CSV.encode(),
        headers={"Authorization": f"Bearer {hub.api_key}", "Content-Type": "text/csv"},
    )
    assert uploaded.status_code == 201, uploaded.text
    from_file = run_job(
        hub,
        plugin_id,
        {
            "project_id": new_project(hub),
            "input": {"template": "unused", "csv_file_id": uploaded.json()["id"]},
            "config": {"mode": "frame"},
        },
    )
    assert from_file["status"] == "succeeded", from_file["error"]
    assert "num_rows=None rows=4 columns=['name', 'score']" in log_messages(hub, from_file["id"])


def test_markdown_plain_list_is_posted_in_chunks_of_500(markdown: tuple[Env, str]) -> None:
    env, plugin_id = markdown
    hub = env.hub
    project_id = new_project(hub)
    job = run_job(
        hub,
        plugin_id,
        {
            "project_id": project_id,
            "input": {"template": "unused", "csv_text": "a\n1\n"},
            "config": {"mode": "list", "count": 1200},
        },
    )
    assert job["status"] == "succeeded", job["error"]
    assert job["result"] == {"documents": 1200, "created": 1200, "skipped": 0}
    posts = hub.log().count(f'"POST /io/jobs/{job["id"]}/documents HTTP/1.1" 200')
    assert posts == 3
    by_id = markdown_by_id(hub, project_id)
    assert by_id == {f"item-{n:04}": f"item {n}" for n in range(1200)}


@pytest.mark.parametrize("item", ["# just a string", 42, None])
def test_markdown_item_that_is_not_a_document_fails(markdown: tuple[Env, str], item: Any) -> None:
    env, plugin_id = markdown
    hub = env.hub
    project_id = new_project(hub)
    job = run_job(
        hub,
        plugin_id,
        {
            "project_id": project_id,
            "input": {"template": "unused", "csv_text": "a\n1\n"},
            "config": {"mode": "bad_item", "item": item},
        },
    )
    assert job["status"] == "failed"
    assert "MarkdownDocument" in job["error"]["message"], job["error"]
    assert hub.api("GET", f"/projects/{project_id}").json()["task_count"] == 0


def test_markdown_attempt_killed_midway_leaves_no_duplicates(local: Env) -> None:
    hub = local.hub
    plugin_id, secret = hub.create_plugin("slow-docs", "markdown")
    project_id = new_project(hub)
    first = local.start(MARKDOWN_PLUGIN, plugin_id, secret)
    submitted = hub.api(
        "POST",
        f"/plugins/{plugin_id}/jobs",
        json={
            "project_id": project_id,
            "input": {"template": "unused", "csv_text": "a\n1\n"},
            "config": {"mode": "slow", "count": 600, "hold_after": 500},
        },
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]

    def task_count() -> int:
        count: int = hub.api("GET", f"/projects/{project_id}").json()["task_count"]
        return count

    wait_until(lambda: task_count() >= 500, 30)
    first.signal(signal.SIGKILL)
    first.wait()
    assert task_count() == 500  # the first attempt's first post, and no more

    local.start(MARKDOWN_PLUGIN, plugin_id, secret)
    wait_until(lambda: hub.job(job_id)["status"] in {"succeeded", "failed", "cancelled"}, 60)
    job = hub.job(job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["attempts"] == 2
    assert job["result"]["created"] == 600
    by_id = markdown_by_id(hub, project_id)
    assert by_id == {f"doc-{n:04}": f"doc {n} attempt 2" for n in range(600)}
    assert task_count() == 600
