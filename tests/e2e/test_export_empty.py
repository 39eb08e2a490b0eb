"""An export never ends as a silent empty file: a real hub and a real SDK plugin process.

An in-memory buffer is sent whole whatever its position (Ango's form); a file of 0 bytes
fails the job with a message naming the fixes, unless the callback says it is intended.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.harness import HubProcess, PluginProcess
from tests.e2e.test_export_markdown import download, run_job

PLUGIN = "sdk_export_empty"


@pytest.fixture
def exporter(hub: HubProcess, start_plugin: Callable[..., PluginProcess]) -> Callable[..., Any]:
    plugin_id, secret = hub.create_plugin("empties", "export")
    start_plugin(PLUGIN, plugin_id, secret)
    created = hub.api("POST", "/projects", json={"name": "empties", "categories": []})
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]

    def run(form: str) -> dict[str, Any]:
        body = {"project_id": project_id, "config": {"form": form}}
        return run_job(hub, plugin_id, body)

    return run


def test_empty_exports_fail_unless_intended(hub: HubProcess, exporter: Callable[..., Any]) -> None:
    # Ango's tuple with its buffer left at the end: the whole buffer arrives.
    job = exporter("unrewound-buffer")
    assert job["status"] == "succeeded", job["error"]
    expected = random.Random(job["id"]).randbytes(5000)
    assert job["result"]["artifact"]["size"] == len(expected)
    assert download(hub, job["id"]) == expected

    # A real file is read from where its author left it: here its end, so nothing is sent,
    # and the job fails instead of delivering an empty file.
    for form in ("unrewound-file", "empty"):
        job = exporter(form)
        assert job["status"] == "failed", (form, job)
        assert job["error"]["kind"] == "InvalidResult", job["error"]
        assert "0 bytes" in job["error"]["message"], job["error"]
        assert "allow_empty=True" in job["error"]["message"], job["error"]

    job = exporter("empty-allowed")
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["artifact"]["size"] == 0
    assert download(hub, job["id"]) == b""
