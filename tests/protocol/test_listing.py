"""The file explorer's shapes: a listing page and the items to import."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ango_plugins_sdk.protocol.listing import FileEntry, FolderEntry, ImportItem, ListingPage


def test_a_listing_page_round_trips_through_json() -> None:
    page = ListingPage(
        folders=[FolderEntry(name="a", key="a/")],
        files=[FileEntry(name="x.png", key="x.png", size=3, modified="2024-01-01T00:00:00Z")],
        next_page_token="2",
    )
    assert ListingPage.model_validate(page.model_dump(mode="json")) == page
    assert ListingPage().model_dump() == {"folders": [], "files": [], "next_page_token": None}


@pytest.mark.parametrize(
    "body",
    [
        {"files": [{"name": "x", "key": "x", "size": -1}]},
        {"folders": [{"name": "a"}]},
        {"folders": [], "colour": "red"},
    ],
    ids=["negative-size", "folder-without-key", "unknown-key"],
)
def test_a_listing_page_refuses_what_the_hub_cannot_show(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ListingPage.model_validate(body)


@pytest.mark.parametrize(
    "item",
    [{"url": "https://bucket.example/x.png"}, {"data": b"\x89PNG", "filename": "x.png"}],
    ids=["by-url", "by-bytes"],
)
def test_an_import_item_has_a_url_or_bytes(item: dict[str, Any]) -> None:
    assert ImportItem.model_validate({"external_id": "x", **item}).external_id == "x"


@pytest.mark.parametrize(
    "item",
    [{}, {"url": "https://bucket.example/x.png", "data": b"x"}, {"url": "u", "width": 0}],
    ids=["neither", "both", "zero-width"],
)
def test_an_import_item_refuses_a_bad_shape(item: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ImportItem.model_validate(item)
