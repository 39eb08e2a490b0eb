"""File explorer plugin: browse an S3-compatible bucket from the hub, import images as assets.

Run it with the plugin's credentials and the storage's in the environment (the hub never sees
the storage credentials):

    AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION=us-east-1 \\
    AWS_ENDPOINT_URL=http://127.0.0.1:9000 \\
    PLUGIN_ID=... PLUGIN_SECRET=... HUB_URL=http://127.0.0.1:8000 \\
    python examples/file_explorer/plugin.py

Config: `{"bucket": "my-bucket", "prefix": "", "import_mode": "presigned" | "copy",
"url_expiry_s": 3600, ...}`; every key is described in README.md and `explorer.py`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ango_plugins_sdk import FileExplorerJob, FileExplorerPlugin, ImportItem, ListingPage, run

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, HERE)
from explorer import (  # noqa: E402
    ExplorerConfig,
    ExplorerError,
    ImportStats,
    iter_import,
    list_page,
    make_client,
)

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

PROGRESS_EVERY = 10
"""Items between progress reports during an import (the SDK throttles what it sends)."""

_client: S3Client | None = None
_client_lock = threading.Lock()


def s3_client() -> S3Client:
    """The process's S3 client, made on first use from the environment (thread-safe)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = make_client()
        return _client


class ImportCancelled(RuntimeError):
    """The hub asked to cancel the import: no more items are produced."""


def explore(job: FileExplorerJob[ExplorerConfig]) -> ListingPage | Iterator[ImportItem]:
    """`list`: one page of a folder. `import`: the items to create, as a lazy iterator."""
    config = job.config
    if job.operation == "list":
        return list_page(
            s3_client(),
            config,
            folder=job.folder,
            page_token=job.page_token,
            page_size=job.page_size,
        )
    if job.operation == "import":
        stats = ImportStats()
        # Checks the folder, files and extensions now: a bad one fails the job before anything.
        items = iter_import(
            s3_client(),
            config,
            folder=job.folder,
            recursive=job.recursive,
            files=job.files,
            extensions=job.extensions,
            stats=stats,
            logger=job.logger,
        )
        what = f"{len(job.files)} files" if job.files else f"folder {job.folder or '/'!r}"
        job.logger.info(
            "importing %s of bucket %r%s as %s",
            what,
            config.bucket,
            " (recursive)" if job.recursive and not job.files else "",
            config.import_mode,
        )
        return _tracked(job, items, stats)
    raise ExplorerError(
        f"unknown file explorer operation {job.operation!r}; expected 'list' or 'import'"
    )


def _tracked(
    job: FileExplorerJob[Any], items: Iterator[ImportItem], stats: ImportStats
) -> Iterator[ImportItem]:
    """The items, with progress as a running count (the total is unknown until the end)."""
    done = 0
    for item in items:
        if job.cancelled:
            raise ImportCancelled(f"import cancelled after {done} items")
        yield item
        done += 1
        if done % PROGRESS_EVERY == 0:
            job.progress(done, None, f"{done} items")
    job.progress(done, done or None, f"{done} items")
    job.logger.info("import done: %s", stats.summary())


explorer_plugin = FileExplorerPlugin(callback=explore, config_model=ExplorerConfig, concurrency=4)

if __name__ == "__main__":
    s3_client()  # now, not on the first listing (reads the environment; no network yet)
    run(explorer_plugin)
