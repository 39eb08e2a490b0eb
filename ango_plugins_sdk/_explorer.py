"""File explorer jobs: browse a storage the plugin can reach, and import what is picked."""

from __future__ import annotations

import inspect
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from ango_plugins_sdk._job import ConfigT, DataJob, PlainConfig
from ango_plugins_sdk._plugins import Plugin
from ango_plugins_sdk.protocol import JobType
from ango_plugins_sdk.protocol.listing import ImportItem, ListingPage

ITEMS_PER_REQUEST = 200


class FileExplorerJob(DataJob[ConfigT]):
    job_type = JobType.FILE_EXPLORER

    @property
    def folder(self) -> str:
        return str(self.input.get("folder", ""))

    @property
    def page_token(self) -> str | None:
        return self.input.get("page_token")

    @property
    def page_size(self) -> int:
        return int(self.input.get("page_size", 100))

    @property
    def recursive(self) -> bool:
        return bool(self.input.get("recursive", False))

    @property
    def files(self) -> list[str]:
        return list(self.input.get("files", []))

    @property
    def extensions(self) -> list[str]:
        return list(self.input.get("extensions", []))

    def _finish(self, value: Any) -> Any:
        if self.operation == "list":
            if inspect.isgenerator(value):
                # One callback may `yield` import items and `return` a listing; a function
                # with `yield` in it is a generator either way, its return value inside.
                try:
                    next(value)
                except StopIteration as done:
                    value = done.value
                else:
                    raise TypeError("a listing must return a ListingPage, not yield items")
            if not isinstance(value, ListingPage):
                raise TypeError(f"a listing must return a ListingPage, not {type(value).__name__}")
            return value.model_dump(mode="json")
        if isinstance(value, ImportItem):
            value = [value]
        if not isinstance(value, Iterable) or isinstance(value, str | bytes | dict):
            raise TypeError(
                f"an import must return or yield ImportItems, not {type(value).__name__}"
            )
        totals = {"created": 0, "skipped": 0, "items": 0}
        by_url: list[dict[str, Any]] = []
        for item in value:
            if not isinstance(item, ImportItem):
                item = ImportItem.model_validate(item)
            totals["items"] += 1
            if item.data is not None:
                self._add(totals, self._upload(item))
            else:
                by_url.append(
                    item.model_dump(
                        include={"url", "external_id", "width", "height"}, exclude_none=True
                    )
                )
                if len(by_url) >= ITEMS_PER_REQUEST:
                    self._add(
                        totals, self._data.post_json(self._io["items_url"], {"items": by_url})
                    )
                    by_url = []
        if by_url:
            self._add(totals, self._data.post_json(self._io["items_url"], {"items": by_url}))
        return totals

    def _upload(self, item: ImportItem) -> dict[str, Any]:
        query = urllib.parse.urlencode(
            {
                k: v
                for k, v in {"external_id": item.external_id, "filename": item.filename}.items()
                if v
            }
        )
        assert item.data is not None
        return self._data.put(
            f"{self._io['upload_url']}?{query}", [item.data], size=len(item.data), auth=True
        )

    @staticmethod
    def _add(totals: dict[str, int], answer: dict[str, Any]) -> None:
        totals["created"] += int(answer.get("created", 0))
        totals["skipped"] += int(answer.get("skipped", 0))


FileExplorerReturn = ListingPage | ImportItem | Iterable[ImportItem | Mapping[str, Any]]
"""`list` returns a `ListingPage`; `import` returns or yields `ImportItem`s (or their dicts).
One generator may do both: yield the items, return the page."""


class FileExplorerPlugin(
    Plugin[FileExplorerJob[ConfigT], ConfigT, FileExplorerReturn, FileExplorerJob[PlainConfig]]
):
    """Serves file explorer jobs: a `list` of one folder's page, or an `import` of files."""

    job_class = FileExplorerJob
