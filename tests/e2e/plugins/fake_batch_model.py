"""A batch model that reads every task's image and answers with a box per task; an image
that cannot be read is reported as that task's failure. Logs its pid for the test."""

import os

from ango_plugins_sdk import BatchModelJob, BatchModelPlugin, BBox, run


def predict(job: BatchModelJob[dict]) -> dict:
    job.logger.info("chunk of %d tasks in pid %d", len(job.tasks), os.getpid())
    predictions, errors = {}, {}
    for task in job.tasks:
        try:
            data = task.asset.read_bytes()
        except Exception as exc:
            errors[task.task_id] = f"cannot read the image: {exc}"
            continue
        predictions[task.task_id] = [
            BBox(cls="thing", x=1, y=1, w=len(data) % 50 + 1, h=5, score=0.5)
        ]
    return {"predictions": predictions, "errors": errors}


if __name__ == "__main__":
    run(BatchModelPlugin(callback=predict, concurrency=2, class_names=["thing"]))
