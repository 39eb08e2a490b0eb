"""A custom plugin for the multi-node tests: squares `config["n"]`, and keeps its own
execution log, one line per callback run: "<job id> <attempt> <pid>", in
`$EXECUTION_LOG_DIR/<pid>.log`, flushed before the work starts, so that the test can audit
that no (job, attempt) ran twice however the hub nodes around it died.

Config: {"n": int, "sleep": seconds (optional)}.
"""

import os
import time
from pathlib import Path

from ango_plugins_sdk import CustomJob, CustomPlugin, run

# One write(2) per line on an O_APPEND descriptor: whole lines, whichever thread writes.
LOG = os.open(
    Path(os.environ["EXECUTION_LOG_DIR"]) / f"{os.getpid()}.log",
    os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    0o600,
)


def square(job: CustomJob[dict]) -> dict:
    os.write(LOG, f"{job.id} {job.attempt} {os.getpid()}\n".encode())
    time.sleep(float(job.config.get("sleep", 0)))
    n = int(job.config["n"])
    return {"square": n * n}


if __name__ == "__main__":
    run(CustomPlugin(callback=square, concurrency=int(os.environ.get("CONCURRENCY", "8"))))
