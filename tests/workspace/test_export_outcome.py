"""What the hub makes of an export attempt's result: an empty file fails the job unless the
plugin says it is intended."""

from __future__ import annotations

from typing import Any

import pytest

from ango_plugins_sdk.protocol import JobStatus
from hub.job_types.base import InvalidOutput
from hub.job_types.export import artifact_key
from hub.jobs.state import ActiveJob
from hub.runtime import Hub

JOB_ID = "01a20500000000000000abcd"


def export_job(attempt: int = 1) -> ActiveJob:
    return ActiveJob(
        id=JOB_ID,
        organization_id="org",
        plugin_id="p",
        created_by="u",
        type="export",
        operation=None,
        config={},
        input={"project_id": "proj"},
        priority=1,
        timeout_s=None,
        status=JobStatus.RUNNING,
        created_at=0.0,
        attempt=attempt,
    )


def output(**artifact: Any) -> dict[str, Any]:
    return {"artifact": {"key": artifact_key(JOB_ID, 1), "filename": "export.json", **artifact}}


def test_an_empty_export_fails_the_job_naming_the_fixes(hub: Hub) -> None:
    with pytest.raises(InvalidOutput) as raised:
        hub.job_types.apply(export_job(), output(size=0))
    message = str(raised.value)
    assert "0 bytes" in message
    assert "seek(0)" in message  # the usual cause: a file written and not rewound
    assert "allow_empty=True" in message  # and how to say the empty file is intended


def test_an_empty_export_the_plugin_intends_succeeds(hub: Hub) -> None:
    applied = hub.job_types.apply(export_job(), output(size=0, allow_empty=True))
    assert applied.result["artifact"]["size"] == 0
    assert applied.result["artifact"]["filename"] == "export.json"


def test_a_non_empty_export_succeeds_whatever_allow_empty_says(hub: Hub) -> None:
    for flags in ({}, {"allow_empty": False}, {"allow_empty": True}):
        applied = hub.job_types.apply(export_job(), output(size=12, **flags))
        assert applied.result["artifact"] == {
            "key": artifact_key(JOB_ID, 1),
            "filename": "export.json",
            "size": 12,
            "content_type": "application/octet-stream",
        }


@pytest.mark.parametrize("size", [None, "12", -1, True, 1.5], ids=repr)
def test_an_export_without_a_byte_count_fails(hub: Hub, size: Any) -> None:
    """Without its size the hub could not tell an empty file from a full one."""
    artifact = {} if size is None else {"size": size}
    with pytest.raises(InvalidOutput, match="size"):
        hub.job_types.apply(export_job(), output(**artifact))


def test_allow_empty_must_be_a_boolean(hub: Hub) -> None:
    with pytest.raises(InvalidOutput, match="allow_empty"):
        hub.job_types.apply(export_job(), output(size=0, allow_empty="yes"))
