"""A custom plugin whose callback does nothing: what is left is the platform's own cost.
`{"sleep": seconds}` in a job's config makes it wait that long instead (cancellable)."""

import asyncio
import os

from ango_plugins_sdk import CustomJob, CustomPlugin, run


async def noop(job: CustomJob[dict]) -> dict:
    if "sleep" in job.config:
        await asyncio.sleep(float(job.config["sleep"]))
    return {}


if __name__ == "__main__":
    run(CustomPlugin(callback=noop, concurrency=int(os.environ.get("CONCURRENCY", "64"))))
