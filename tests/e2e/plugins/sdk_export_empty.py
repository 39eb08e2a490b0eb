"""An export plugin whose config picks how its file ends up (almost) empty; for the tests of
empty exports.

config:
  form  "unrewound-buffer": Ango's ("<name>", BytesIO) with the buffer left at its end
        "unrewound-file": a temporary file written and not rewound
        "empty": b"" (an empty file nobody said was intended)
        "empty-allowed": b"" with allow_empty=True
  The non-empty forms hold `payload(job.id)`.
"""

from __future__ import annotations

import io
import os
import random
import tempfile
from typing import Any

from ango_plugins_sdk import ExportJob, ExportPlugin, ExportResult, run


def payload(seed: str) -> bytes:
    """The file's bytes: deterministic per job, so that the test can compute them too."""
    return random.Random(seed).randbytes(5000)


def export(job: ExportJob[Any]) -> Any:
    form = job.config["form"]
    if form == "unrewound-buffer":
        buffer = io.BytesIO()
        buffer.write(payload(job.id))
        return ("export.bin", buffer)
    if form == "unrewound-file":
        handle = tempfile.TemporaryFile()  # noqa: SIM115 (the SDK closes it once uploaded)
        handle.write(payload(job.id))
        return ExportResult(file=handle, filename="export.bin")
    if form == "empty":
        return ExportResult(file=b"", filename="nothing.csv")
    if form == "empty-allowed":
        return ExportResult(file=b"", filename="nothing.csv", allow_empty=True)
    raise ValueError(f"unknown form {form!r}")


if __name__ == "__main__":
    run(ExportPlugin(callback=export, concurrency=int(os.environ.get("CONCURRENCY", "2"))))
