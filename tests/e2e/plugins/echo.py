"""A custom plugin that returns its config; used by the end-to-end tests.

Config: {"sleep": seconds} makes each job take that long.
"""

import os
import time

from ango_plugins_sdk import CustomJob, CustomPlugin, run


def echo(job: CustomJob[dict]) -> dict:
    job.logger.info("echo job %s attempt %s", job.id, job.attempt)
    time.sleep(float(job.config.get("sleep", 0)))
    job.progress(1, 1)
    return {"config": job.config, "pid": os.getpid()}


if __name__ == "__main__":
    run(CustomPlugin(callback=echo, concurrency=int(os.environ.get("CONCURRENCY", "4"))))
