"""Plugins for bench/interactive.py. BENCH_KIND=explorer: a file explorer whose listing is
instant and whose imports take config.seconds; BENCH_KIND=model: a model whose callback
sleeps config.seconds (0 for the measured, no-op jobs)."""

import asyncio
import os

from ango_plugins_sdk import (
    FileEntry,
    FileExplorerJob,
    FileExplorerPlugin,
    ImportItem,
    ListingPage,
    ModelJob,
    ModelPlugin,
    run,
)


async def explore(job: FileExplorerJob[dict]) -> object:
    if job.operation == "list":
        return ListingPage(files=[FileEntry(name=f"{n}.jpg", key=f"{n}.jpg") for n in range(50)])
    await asyncio.sleep(float(job.config.get("seconds", 0)))
    return [ImportItem(url="https://bucket.example/x.jpg", external_id="x")]


async def predict(job: ModelJob[dict]) -> list:
    await asyncio.sleep(float(job.config.get("seconds", 0)))
    return []


if __name__ == "__main__":
    if os.environ["BENCH_KIND"] == "explorer":
        run(FileExplorerPlugin(callback=explore, concurrency=4))
    else:
        run(ModelPlugin(callback=predict, concurrency=4))
