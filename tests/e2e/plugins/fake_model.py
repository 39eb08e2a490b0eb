"""A model plugin with fixed answers, to test what the hub does with predictions.

config.mode: "boxes" (default) returns a face box and an eye box (eye usually unmapped),
a box half outside the image, and one wholly outside; "wrong" returns a dict; "read"
also reads the asset's bytes and reports their length as a classification.
"""

import os

from ango_plugins_sdk import BBox, Classification, ModelJob, ModelPlugin, run


def predict(job: ModelJob[dict]) -> list:
    mode = job.config.get("mode", "boxes")
    if mode == "wrong":
        return {"face": [1, 2, 3, 4]}  # type: ignore[return-value]
    width, height = job.asset.width or 100, job.asset.height or 100
    predictions = [
        BBox(cls="face", x=10, y=20, w=30, h=40, score=0.9),
        BBox(cls="eye", x=1, y=1, w=2, h=2, score=0.5),
        BBox(cls="face", x=width - 10, y=height - 10, w=50, h=50, score=0.4),
        BBox(cls="face", x=width + 5, y=0, w=5, h=5, score=0.3),
    ]
    if mode == "read":
        size = len(job.asset.read_bytes())
        job.logger.info("read %d bytes", size)
        predictions.append(Classification(cls="bytes", value=float(size)))
    return predictions


if __name__ == "__main__":
    run(ModelPlugin(callback=predict, concurrency=2, version=os.environ.get("VERSION", "2.1.0")))
