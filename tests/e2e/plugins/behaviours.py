"""A custom plugin whose behaviour the job's config picks; ASYNC=1 makes the callback async.

config.mode:
  "boom"      raise ValueError("boom")
  "work"      log and report progress every 0.1 s for config.seconds, checking for a cancel
  "forever"   like "work" but never ends on its own (until cancelled)
"""

import asyncio
import os
import time

from ango_plugins_sdk import CustomJob, CustomPlugin, run


def work_sync(job: CustomJob[dict]) -> dict:
    mode = job.config.get("mode")
    if mode == "boom":
        raise ValueError("boom")
    steps = 10**9 if mode == "forever" else int(float(job.config.get("seconds", 1)) * 10)
    for step in range(steps):
        if job.cancelled:
            job.logger.info("saw the cancel at step %d", step)
            return {"stopped_at": step}
        job.logger.info("step %d", step)
        job.progress(step + 1, steps if mode != "forever" else None)
        time.sleep(0.1)
    return {"steps": steps}


async def work_async(job: CustomJob[dict]) -> dict:
    mode = job.config.get("mode")
    if mode == "boom":
        raise ValueError("boom")
    steps = 10**9 if mode == "forever" else int(float(job.config.get("seconds", 1)) * 10)
    for step in range(steps):
        job.logger.info("step %d", step)
        job.progress(step + 1, steps if mode != "forever" else None)
        await asyncio.sleep(0.1)  # a cancel lands here as CancelledError
    return {"steps": steps}


if __name__ == "__main__":
    callback = work_async if os.environ.get("ASYNC") == "1" else work_sync
    run(CustomPlugin(callback=callback, concurrency=4))
