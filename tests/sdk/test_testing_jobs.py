"""`ango_plugins_sdk.testing` per job type: the job built from plain data or files, its data
paths served as the hub serves them, and what the callback sent back."""

from __future__ import annotations

import io
import json
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest

from ango_plugins_sdk import (
    BatchModelJob,
    BatchModelPlugin,
    BBox,
    ExportJob,
    ExportPlugin,
    ExportResult,
    FileEntry,
    FileExplorerJob,
    FileExplorerPlugin,
    ImportItem,
    ListingPage,
    MarkdownDocument,
    MarkdownJob,
    MarkdownPlugin,
    ModelJob,
    ModelPlugin,
)
from ango_plugins_sdk._local_io import LocalIO, LoopbackHub
from ango_plugins_sdk.protocol import JobType
from ango_plugins_sdk.protocol.workspace import ExportedTask
from ango_plugins_sdk.testing import (
    image_size,
    run_batch_model,
    run_export,
    run_file_explorer_import,
    run_file_explorer_list,
    run_markdown,
    run_model,
)

PHOTO = Path(__file__).resolve().parents[1] / "fixtures" / "astronaut.jpg"


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def task(task_id: str, stage: str = "done", batches: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "stage": stage,
        "batches": list(batches),
        "asset": {"id": f"a-{task_id}", "type": "image", "width": 100, "height": 50},
        "annotations": {
            "objects": [
                {
                    "category_id": "c1",
                    "category": "car",
                    "tool": "bbox",
                    "bbox": {"x": 1, "y": 2, "w": 3, "h": 4},
                }
            ],
            "classifications": [
                {"category_id": "c2", "category": "weather", "value": "sunny"},
            ],
        },
    }


# --- export ----------------------------------------------------------------------------------


def boxes(job: ExportJob) -> ExportResult:
    out = io.BytesIO()
    for done, exported in enumerate(job.tasks(), start=1):
        for obj in exported.annotations.objects:
            out.write(
                json.dumps({"task": exported.task_id, "class": obj.category}).encode() + b"\n"
            )
        job.progress(done, job.num_tasks)
    job.logger.info("project %s, categories %s", job.project.name, job.project.categories)
    return ExportResult(file=out, filename=f"{job.project.name}.ndjson")


def test_export_streams_the_tasks_and_keeps_the_uploaded_file() -> None:
    run = run_export(ExportPlugin(callback=boxes), tasks=[task("t1"), ExportedTask(**task("t2"))])

    run.raise_for_failure()
    assert run.artifact == b'{"task": "t1", "class": "car"}\n{"task": "t2", "class": "car"}\n'
    assert run.filename == "Local project.ndjson"
    assert run.content_type == "application/octet-stream"
    assert run.output["artifact"]["size"] == len(run.artifact)
    assert run.output["artifact"]["key"] == "artifacts/local-job/1/export"
    assert run.progress[-1] == (2, 2, None)
    # The project is made up from the tasks: their categories, stages and batches.
    project = run.job.input["project"]
    assert [(c["id"], c["name"], c["tool"]) for c in project["categories"]] == [
        ("c1", "car", "bbox"),
        ("c2", "weather", "classification"),
    ]
    assert project["stages"] == ["done"]
    assert run.job.input["num_tasks"] == 2
    assert set(run.job.input["io"]) == {"token", "tasks_url", "upload"}


def test_export_reads_an_ndjson_file_and_applies_the_hubs_filters(tmp_path: Path) -> None:
    lines = [task("t1", "todo", ("mon",)), task("t2", "done", ("mon",)), task("t3", "done")]
    path = tmp_path / "export.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    plugin = ExportPlugin(callback=boxes)

    run = run_export(
        plugin, tasks=path, stages=["done"], batches=["mon"], project={"id": "p", "name": "P"}
    )

    assert run.artifact == b'{"task": "t2", "class": "car"}\n'
    assert run.filename == "P.ndjson"
    assert run.job.input["num_tasks"] == 1
    assert run.job.input["stages"] == ["done"]
    assert run_export(plugin, tasks=str(path)).job.input["num_tasks"] == 3


def test_export_of_a_generator_is_uploaded_chunked_and_whole() -> None:
    def chunks(job: ExportJob) -> ExportResult:
        return ExportResult(file=(bytes([i]) * 100_000 for i in range(5)), filename="big.bin")

    run = run_export(ExportPlugin(callback=chunks))

    assert run.artifact == b"".join(bytes([i]) * 100_000 for i in range(5))
    assert run.output["artifact"]["size"] == 500_000


def test_an_empty_export_fails_as_the_hub_refuses_it_unless_intended() -> None:
    def empty(job: ExportJob) -> ExportResult:
        return ExportResult(file=b"", filename="e.csv", allow_empty=job.config.get("ok", False))

    plugin = ExportPlugin(callback=empty)
    refused = run_export(plugin)
    assert refused.status == "failed"
    assert refused.error is not None
    assert refused.error.kind == "InvalidResult"
    assert refused.error.message.startswith("the export file is empty (0 bytes)")
    assert refused.artifact == b""
    assert run_export(plugin, config={"ok": True}).status == "succeeded"


# --- model and batch model ----------------------------------------------------------------


def measure(job: ModelJob) -> list[BBox]:
    data = job.asset.read_bytes()
    job.logger.info("%d bytes", len(data))
    asset = job.task.asset
    return [
        BBox(cls=cls, x=0, y=0, w=asset.width or 1, h=asset.height or 1)
        for cls in job.class_mapping
    ]


def test_a_model_job_from_an_image_path_has_a_task_made_for_it() -> None:
    run = run_model(ModelPlugin(callback=measure, class_names=["face", "eye"]), image=PHOTO)

    run.raise_for_failure()
    assert [(p["cls"], p["w"], p["h"]) for p in run.predictions] == [
        ("face", 512, 512),
        ("eye", 512, 512),
    ]
    assert run.logs[0].message == f"{PHOTO.stat().st_size} bytes"
    job_input = run.job.input
    assert job_input["task_id"] == "task-1"
    assert job_input["task"]["asset"]["external_id"] == "astronaut.jpg"
    assert job_input["class_mapping"] == {
        "face": {"category_id": "face", "tool": "bbox"},
        "eye": {"category_id": "eye", "tool": "bbox"},
    }
    assert set(job_input["io"]) == {"token", "asset_url"}


def test_a_model_job_with_its_own_task_bytes_and_mapping() -> None:
    given = task("t9")
    run = run_model(
        ModelPlugin(callback=measure),
        task=given,
        image=png(7, 3),
        class_mapping={"face": "cat-1", "eye": {"category_id": "cat-2", "tool": "point"}},
    )
    assert run.job.input["task_id"] == "t9"
    assert [(p["cls"], p["w"], p["h"]) for p in run.predictions] == [
        ("face", 100, 50),
        ("eye", 100, 50),
    ]
    assert run.job.input["class_mapping"]["eye"] == {"category_id": "cat-2", "tool": "point"}


@pytest.fixture
def image_site() -> Iterator[str]:
    """Somewhere else an image is served from (an asset by URL)."""

    class Site(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = png(4, 4)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/img.png"
    server.shutdown()
    server.server_close()
    thread.join()


def test_an_image_by_url_is_a_redirect_as_on_the_hub(image_site: str) -> None:
    def size(job: ModelJob) -> list[BBox]:
        w, h = image_size(job.asset.read_bytes()) or (0, 0)
        return [BBox(cls="x", x=0, y=0, w=w, h=h)]

    run = run_model(ModelPlugin(callback=size), image=image_site)
    assert run.job.input["task"]["asset"]["url"] == image_site
    assert [(p["w"], p["h"]) for p in run.predictions] == [(4, 4)]


def measure_all(job: BatchModelJob) -> dict[str, Any]:
    predictions: dict[str, list[BBox]] = {}
    errors: dict[str, str] = {}
    for one in job.tasks:
        found = image_size(one.asset.read_bytes())
        if found is None:
            errors[one.task_id] = "not an image"
        else:
            predictions[one.task_id] = [BBox(cls="all", x=0, y=0, w=found[0], h=found[1])]
    return {"predictions": predictions, "errors": errors}


def test_a_batch_chunk_of_images_and_task_image_pairs(tmp_path: Path) -> None:
    small = tmp_path / "small.png"
    small.write_bytes(png(2, 3))
    run = run_batch_model(
        BatchModelPlugin(callback=measure_all),
        tasks=[PHOTO, small, (task("mine"), b"GIF89a?"), (None, png(5, 5))],
    )

    run.raise_for_failure()
    assert {k: (v[0]["w"], v[0]["h"]) for k, v in run.predictions.items()} == {
        "task-1": (512, 512),
        "task-2": (2, 3),
        "task-4": (5, 5),
    }
    assert run.errors == {"mine": "not an image"}
    assert run.job.operation == "chunk"
    assert [t["asset"]["id"] for t in run.job.input["tasks"]] == [
        "asset-1",
        "asset-2",
        "a-mine",
        "asset-4",
    ]


def test_a_chunk_reads_only_its_own_tasks_assets() -> None:
    def snoop(job: BatchModelJob) -> dict[str, Any]:
        job._data.open(job._io["assets_url"] + "someone-elses").read()
        return {}

    run = run_batch_model(BatchModelPlugin(callback=snoop), tasks=[png(1, 1)])
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.kind == "HubHTTPError"
    assert run.error.message == "HTTP 403: that asset is not one of this chunk's tasks"


# --- markdown -------------------------------------------------------------------------------


def cards(job: MarkdownJob) -> Any:
    job.logger.info("rows: %s", job.num_rows)
    for row in job.rows():
        yield MarkdownDocument(
            markdown=job.template.replace("{{name}}", row["name"]),
            external_id=row["sku"],
            batch=row.get("batch") or None,
        )


def test_markdown_from_csv_text_counts_its_rows_and_keeps_the_documents() -> None:
    csv = "sku,name,batch\nA,Apple,fruit\nB,Bean,\nA,Again,fruit\n"
    run = run_markdown(
        MarkdownPlugin(callback=cards), csv=csv, template="# {{name}}", config={"dedupe": True}
    )

    run.raise_for_failure()
    assert [(d.markdown, d.external_id, d.batch) for d in run.documents] == [
        ("# Apple", "A", "fruit"),
        ("# Bean", "B", None),
        ("# Again", "A", "fruit"),
    ]
    assert run.output == {"documents": 3, "created": 2, "skipped": 1}  # dedupe, as the hub does
    assert run.logs[0].message == "rows: 3"
    assert run.job.input["csv_text"] == csv


def test_markdown_from_a_file_is_an_upload_the_hub_does_not_count(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes("\ufeffsku,name\nA,Ä\n".encode())
    run = run_markdown(MarkdownPlugin(callback=cards), csv=path, template="{{name}}")
    assert [d.markdown for d in run.documents] == ["Ä"]
    assert run.output == {"documents": 1, "created": 1, "skipped": 0}
    assert run.logs[0].message == "rows: None"
    assert "csv_text" not in run.job.input
    assert run_markdown(MarkdownPlugin(callback=cards), csv=path.read_bytes()).documents


# --- file explorer --------------------------------------------------------------------------


def explore(job: FileExplorerJob) -> Any:
    if job.operation == "list":
        files = [
            FileEntry(name=f"{job.folder}{i}.png", key=f"{job.folder}{i}")
            for i in range(job.page_size)
        ]
        return ListingPage(files=files, next_page_token=str(job.page_size))
    for key in job.files:
        if key.endswith(".png"):
            yield ImportItem(external_id=key, data=png(1, 1), filename=key)
        else:
            yield ImportItem(
                external_id=key, url=f"https://bucket.example/{key}", width=3, height=4
            )


def test_a_listing_is_a_page() -> None:
    run = run_file_explorer_list(FileExplorerPlugin(callback=explore), folder="a/", page_size=2)
    assert run.listing == ListingPage(
        files=[FileEntry(name="a/0.png", key="a/0"), FileEntry(name="a/1.png", key="a/1")],
        next_page_token="2",
    )
    assert "io" not in run.job.input  # a listing gets no data paths
    assert run.job.input == {
        "project_id": "local-project",
        "folder": "a/",
        "page_token": None,
        "page_size": 2,
    }


def test_an_import_keeps_what_the_hub_received_by_url_and_by_upload() -> None:
    files = ["x.jpg", "y.png", "x.jpg", "y.png"]
    run = run_file_explorer_import(
        FileExplorerPlugin(callback=explore), files=files, dedupe=True, batch="b1"
    )

    run.raise_for_failure()
    assert run.output == {"created": 2, "skipped": 2, "items": 4}
    assert [(i.external_id, i.url is not None, i.data is not None) for i in run.imported] == [
        ("y.png", False, True),  # an upload goes at once; URL items go in requests of 200
        ("y.png", False, True),
        ("x.jpg", True, False),
        ("x.jpg", True, False),
    ]
    assert run.imported[0].data == png(1, 1)
    assert run.imported[0].filename == "y.png"
    assert (run.imported[2].width, run.imported[2].height) == (3, 4)
    assert run.job.input["batch"] == "b1"


def test_an_item_the_hub_refuses_fails_the_import_with_the_hubs_message() -> None:
    def bad(job: FileExplorerJob) -> list[ImportItem]:
        return [ImportItem(url="ftp://nope/x.png")]

    run = run_file_explorer_import(FileExplorerPlugin(callback=bad))
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.kind == "HubHTTPError"
    assert run.error.message.startswith("HTTP 422: invalid import item:")
    assert "url must be an http(s) URL" in run.error.message


# --- the loopback data paths themselves ----------------------------------------------------


def request(
    url: str, *, token: str | None, method: str = "GET", body: bytes | None = None
) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        with urllib.request.urlopen(  # noqa: S310 (a loopback http:// URL)
            urllib.request.Request(url, body, headers, method=method)  # noqa: S310
        ) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, json.loads(refused.read())


def test_the_paths_answer_like_the_hubs() -> None:
    data = LocalIO(JobType.MARKDOWN, "j1", 1, "secret", csv=b"a\n1\n")
    hub = LoopbackHub(data)
    base = hub.base_url + "/io/jobs/j1/"
    try:
        assert request(base + "csv", token="secret") == (200, b"a\n1\n")
        assert request(base + "csv", token=None) == (
            401,
            {
                "error": {
                    "code": "unauthenticated",
                    "message": "send the job token as 'Authorization: Bearer <token>'",
                }
            },
        )
        assert request(base + "csv", token="other")[1]["error"]["message"] == "invalid job token"
        wrong_job = hub.base_url + "/io/jobs/j2/csv"
        assert (
            request(wrong_job, token="secret")[1]["error"]["message"]
            == "this token is for another job"
        )
        assert request(base + "tasks", token="secret") == (
            403,
            {"error": {"code": "forbidden", "message": "this data path is not for markdown jobs"}},
        )
        assert request(base + "nothing", token="secret")[0] == 404
        too_many = json.dumps({"documents": [{"markdown": "m"}] * 1001}).encode()
        status, answer = request(base + "documents", token="secret", method="POST", body=too_many)
        assert (status, answer["error"]["code"]) == (422, "invalid")
    finally:
        hub.close()
    assert data.paths() == {
        "token": "secret",
        "csv_url": "/io/jobs/j1/csv",
        "documents_url": "/io/jobs/j1/documents",
    }


def test_image_sizes_from_headers() -> None:
    assert image_size(PHOTO.read_bytes()) == (512, 512)
    assert image_size(png(640, 480)) == (640, 480)
    assert image_size(b"GIF89a") is None
    assert image_size(b"\xff\xd8\xff") is None
