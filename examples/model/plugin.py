"""Model plugin: OpenCV Haar cascades (faces, eyes, bodies, smiles) as pre-labels, on the CPU.

One module, two plugins sharing the detector (`detector.py`):

    PLUGIN_ID=... PLUGIN_SECRET=... HUB_URL=http://127.0.0.1:8000 python examples/model/plugin.py
    PLUGIN_ID=... PLUGIN_SECRET=... HUB_URL=... python examples/model/plugin.py --batch
    # or MODEL_MODE=batch python examples/model/plugin.py

The first serves `model` jobs (one task: interactive runs and plugin stages), the second
`batch_model` jobs (chunks of tasks). Register each with its own type; the class names are
`face`, `eye`, `full_body`, `upper_body` and `smile`. Config (every key optional):

    {"classes": ["face"], "scale_factor": 1.1, "min_neighbors": 5, "min_size": [30, 30],
     "max_side": 1280, "min_score": 0.0}

See README.md for what each key does and how the score is computed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from detector import CLASS_NAMES, BatchResult, Detector, DetectorConfig, detect_tasks

from ango_plugins_sdk import BatchModelJob, BatchModelPlugin, BBox, ModelJob, ModelPlugin, run

CONCURRENCY = 2
"""Jobs (model) or chunks (batch) one process runs at once; OpenCV also uses several cores."""


def detect(job: ModelJob[DetectorConfig]) -> list[BBox]:
    """Model job: one task's image in, its boxes out (in pixels of the image)."""
    detector = Detector(job.config)
    asset = job.asset
    data = asset.read_bytes()
    boxes = detector.detect(data)
    job.progress(1, 1, f"{len(boxes)} boxes")
    job.logger.info(
        "%d boxes (%s) on %s",
        len(boxes),
        _counts(boxes),
        asset.external_id or asset.url,
    )
    return boxes


def detect_batch(job: BatchModelJob[DetectorConfig]) -> BatchResult:
    """Batch job, one chunk: {"predictions": {task_id: boxes}, "errors": {task_id: reason}}.

    A task whose asset cannot be read or is not an image goes to "errors" and the rest of the
    chunk goes on; a bad config fails the whole chunk before the callback runs (every task would
    fail the same way).
    """
    detector = Detector(job.config)
    tasks = list(job.tasks)

    def on_error(task_id: str, reason: str) -> None:
        job.logger.warning("task %s failed: %s", task_id, reason)

    result = detect_tasks(detector, tasks, cancelled=lambda: job.cancelled, on_error=on_error)
    done = len(result["predictions"]) + len(result["errors"])
    if job.cancelled and done < len(tasks):
        raise RuntimeError(f"cancelled after {done} of {len(tasks)} tasks")
    boxes = [box for found in result["predictions"].values() for box in found]
    job.logger.info(
        "chunk of %d tasks: %d done, %d failed, %d boxes (%s)",
        len(tasks),
        len(result["predictions"]),
        len(result["errors"]),
        len(boxes),
        _counts(boxes),
    )
    return result


def _counts(boxes: Sequence[BBox]) -> str:
    counts: dict[str, int] = {}
    for box in boxes:
        counts[box.cls] = counts.get(box.cls, 0) + 1
    return ", ".join(f"{n} {name}" for name, n in counts.items()) or "none"


model_plugin = ModelPlugin(
    callback=detect,
    config_model=DetectorConfig,
    class_names=CLASS_NAMES,
    concurrency=CONCURRENCY,
)
batch_plugin = BatchModelPlugin(
    callback=detect_batch,
    config_model=DetectorConfig,
    class_names=CLASS_NAMES,
    concurrency=CONCURRENCY,
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Haar-cascade detector to the hub.")
    parser.add_argument(
        "--batch",
        action="store_true",
        help="serve batch_model jobs instead of model jobs (or set MODEL_MODE=batch)",
    )
    parser.add_argument("--health-port", type=int, help="serve /livez and /readyz on it")
    args = parser.parse_args(argv)
    mode = os.environ.get("MODEL_MODE", "").strip().lower() or "model"
    if mode not in {"model", "batch"}:
        parser.error(f'MODEL_MODE must be "model" or "batch", got {mode!r}')
    run(
        batch_plugin if args.batch or mode == "batch" else model_plugin,
        health_port=args.health_port,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
