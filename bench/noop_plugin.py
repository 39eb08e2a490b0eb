"""A custom plugin whose callback does nothing: what is left is the platform's own cost."""

import os

from ango_plugins_sdk import CustomJob, CustomPlugin, run


async def noop(job: CustomJob[dict]) -> dict:
    return {}


if __name__ == "__main__":
    run(CustomPlugin(callback=noop, concurrency=int(os.environ.get("CONCURRENCY", "64"))))
