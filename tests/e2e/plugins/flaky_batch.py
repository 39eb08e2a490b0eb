"""A batch model that fails chosen tasks once: a task whose asset's external id is in
FAIL_EXTERNAL_IDS fails the first time it is seen (a marker file in MARKER_DIR remembers
it) and is done on any later round. Every task done gets one face box."""

import os
from pathlib import Path

from ango_plugins_sdk import BatchModelJob, BatchModelPlugin, BBox, run

FAILING = set(filter(None, os.environ.get("FAIL_EXTERNAL_IDS", "").split(",")))
MARKERS = Path(os.environ["MARKER_DIR"])


def predict(job: BatchModelJob) -> dict:
    predictions, errors = {}, {}
    for task in job.tasks:
        external_id = task.asset.external_id or ""
        marker = MARKERS / external_id
        if external_id in FAILING and not marker.exists():
            marker.touch()
            errors[task.task_id] = f"task {external_id} fails on its first round"
            continue
        predictions[task.task_id] = [BBox(cls="face", x=1, y=1, w=2, h=2, score=0.9)]
    return {"predictions": predictions, "errors": errors}


if __name__ == "__main__":
    run(BatchModelPlugin(callback=predict, class_names=["face"], concurrency=2))
