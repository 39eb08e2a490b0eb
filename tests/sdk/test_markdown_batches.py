"""How a markdown callback's documents travel to the hub: in requests the hub's body cap
takes, however big or many the documents are."""

from __future__ import annotations

from typing import Any

from ango_plugins_sdk import MarkdownDocument, MarkdownJob
from ango_plugins_sdk._job import JobEvents
from ango_plugins_sdk._markdown import BYTES_PER_REQUEST, DOCUMENTS_PER_REQUEST


class RecordingPosts:
    """Takes the POSTs the SDK makes and answers as the hub does."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []

    def post_json(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(payload["documents"])
        return {"created": len(payload["documents"]), "skipped": 0}


def send(documents: list[MarkdownDocument]) -> tuple[RecordingPosts, dict[str, int]]:
    job: MarkdownJob[Any] = MarkdownJob(
        id="job-1",
        attempt=1,
        config={},
        operation=None,
        input={"io": {"token": "t", "documents_url": "/io/jobs/job-1/documents"}},
        timeout_s=None,
        events=JobEvents(),
        base_url="http://hub.example",
    )
    recorder = RecordingPosts()
    job._data = recorder  # type: ignore[assignment]
    totals = job._finish(documents)
    return recorder, totals


def request_bytes(request: list[dict[str, Any]]) -> int:
    return sum(len(d["markdown"].encode()) for d in request)


def test_big_documents_go_in_requests_of_bounded_size() -> None:
    big = "é" * 500_000  # 1 MB of UTF-8 each: 20 of them would be 20 MB in one request
    recorder, totals = send([MarkdownDocument(markdown=big) for _ in range(20)])
    assert totals == {"documents": 20, "created": 20, "skipped": 0}
    assert len(recorder.requests) > 1
    assert all(request_bytes(r) <= BYTES_PER_REQUEST for r in recorder.requests)
    assert sum(len(r) for r in recorder.requests) == 20


def test_the_largest_documents_still_fit() -> None:
    largest = "😀" * 1_000_000  # the most a document may hold: 4 MB of UTF-8
    recorder, _ = send([MarkdownDocument(markdown=largest) for _ in range(5)])
    assert [len(r) for r in recorder.requests] == [2, 2, 1]
    assert all(request_bytes(r) <= BYTES_PER_REQUEST for r in recorder.requests)


def test_many_small_documents_go_in_requests_of_bounded_count() -> None:
    count = DOCUMENTS_PER_REQUEST * 2 + 1
    recorder, totals = send([MarkdownDocument(markdown=f"# {n}") for n in range(count)])
    assert [len(r) for r in recorder.requests] == [DOCUMENTS_PER_REQUEST] * 2 + [1]
    assert totals["documents"] == count
