"""What an export callback's file becomes: the bytes the SDK uploads and the artifact it reports.

The upload goes to a recording stand-in for the job's data client, so these tests see exactly
the body and the length the SDK would send, without a hub.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from ango_plugins_sdk import ExportJob, ExportResult
from ango_plugins_sdk._job import JobEvents

DATA = bytes(range(256)) * 40  # 10,240 bytes, more than one line of anything
KEY = "artifacts/job-1/1/export"


class RecordingUpload:
    """Takes the PUT the SDK makes and answers as the hub does: {"size": bytes received}."""

    def __init__(self) -> None:
        self.body = b""
        self.size: int | None = None

    def put(
        self, url: str, body: Iterable[bytes], *, size: int | None, auth: bool, content_type: str
    ) -> dict[str, Any]:
        self.body = b"".join(body)
        self.size = size
        return {"size": len(self.body)}


def finish(value: Any, *, needs_length: bool = False) -> tuple[RecordingUpload, dict[str, Any]]:
    """Run ExportJob's finishing step on a callback's return value."""
    upload: dict[str, Any] = {"url": "/io/jobs/job-1/artifact", "auth": True, "key": KEY}
    if needs_length:
        upload.update(url="https://bucket.example/presigned", auth=False, needs_length=True)
    job: ExportJob[Any] = ExportJob(
        id="job-1",
        attempt=1,
        config={},
        operation=None,
        input={"io": {"token": "t", "tasks_url": "/io/jobs/job-1/tasks", "upload": upload}},
        timeout_s=None,
        events=JobEvents(),
        base_url="http://hub.example",
    )
    recorder = RecordingUpload()
    job._data = recorder  # type: ignore[assignment]
    output = job._finish(value)
    assert recorder.size in (None, len(recorder.body)), "the announced length must be the body's"
    artifact: dict[str, Any] = output["artifact"]
    return recorder, artifact


def written(data: bytes) -> io.BytesIO:
    """A buffer as an author leaves it after writing: positioned at its end."""
    buffer = io.BytesIO()
    buffer.write(data)
    return buffer


@pytest.mark.parametrize("needs_length", [False, True], ids=["hub", "presigned"])
def test_ango_tuple_with_a_buffer_left_at_its_end_sends_the_whole_buffer(
    needs_length: bool,
) -> None:
    sent, artifact = finish(("export.json", written(DATA)), needs_length=needs_length)
    assert sent.body == DATA
    assert artifact["size"] == len(DATA)
    assert artifact["filename"] == "export.json"


def test_export_result_with_a_buffer_left_at_its_end_sends_the_whole_buffer() -> None:
    sent, artifact = finish(ExportResult(file=written(DATA), filename="a.bin"))
    assert sent.body == DATA
    assert artifact["size"] == len(DATA)


def test_a_partly_read_buffer_is_sent_from_its_start() -> None:
    buffer = io.BytesIO(DATA)
    buffer.read(100)
    sent, _ = finish(ExportResult(file=buffer, filename="a.bin"))
    assert sent.body == DATA


def test_a_real_file_is_read_from_where_its_author_put_it(tmp_path: Path) -> None:
    path = tmp_path / "with-header.bin"
    path.write_bytes(b"HEADER" + DATA)
    handle = path.open("rb")
    handle.seek(len(b"HEADER"))  # on purpose: the header is not part of the export
    sent, artifact = finish(ExportResult(file=handle, filename="a.bin"))
    assert sent.body == DATA
    assert artifact["size"] == len(DATA)
    assert handle.closed


def test_a_real_file_left_at_its_end_reports_zero_bytes_for_the_hub_to_refuse(
    tmp_path: Path,
) -> None:
    handle = (tmp_path / "out.bin").open("w+b")
    handle.write(DATA)  # and no seek(0): the hub fails the job, naming seek(0)
    sent, artifact = finish(ExportResult(file=handle, filename="a.bin"))
    assert sent.body == b""
    assert artifact["size"] == 0
    assert artifact["allow_empty"] is False


def test_the_artifact_says_an_empty_file_is_not_intended_by_default() -> None:
    _, artifact = finish(ExportResult(file=b"", filename="none.csv"))
    assert artifact["size"] == 0
    assert artifact["allow_empty"] is False


def test_the_artifact_carries_allow_empty_when_the_callback_intends_an_empty_file() -> None:
    sent, artifact = finish(ExportResult(file=b"", filename="none.csv", allow_empty=True))
    assert sent.body == b""
    assert artifact == {
        "key": KEY,
        "filename": "none.csv",
        "size": 0,
        "content_type": "application/octet-stream",
        "allow_empty": True,
    }
