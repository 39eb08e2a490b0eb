"""What a file explorer returns: a page of a folder's listing, or the items to import.

The plugin builds them, the hub checks a listing page again before it shows it. Pure models,
no I/O.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

_MODEL = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FolderEntry(BaseModel):
    model_config = _MODEL
    name: str
    key: str
    """What to pass back as `folder` to list inside it."""


class FileEntry(BaseModel):
    model_config = _MODEL
    name: str
    key: str
    size: Annotated[int, Field(ge=0)] | None = None
    modified: str | None = None
    """ISO 8601 time of the last change, when the storage knows it."""


class ListingPage(BaseModel):
    """One page of a folder: its subfolders and files, and where the next page starts."""

    model_config = _MODEL
    folders: list[FolderEntry] = []
    files: list[FileEntry] = []
    next_page_token: str | None = None


class ImportItem(BaseModel):
    """One asset to create: by URL (e.g. presigned), or from bytes the plugin read."""

    model_config = _MODEL
    external_id: Annotated[str, Field(max_length=500)] | None = None
    url: Annotated[str, Field(max_length=4_000)] | None = None
    data: bytes | None = None
    filename: str | None = None
    width: Annotated[int, Field(gt=0)] | None = None
    height: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _url_or_data(self) -> ImportItem:
        if (self.url is None) == (self.data is None):
            raise ValueError("an import item needs exactly one of url or data")
        return self
