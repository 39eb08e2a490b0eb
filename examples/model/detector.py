"""The model behind examples/model: OpenCV's bundled Haar cascades, on the CPU, nothing to download.

Pure: no hub, no network. `Detector(config).detect(image_bytes)` returns `BBox` predictions in
pixel coordinates of the original image (top-left corner, width, height); `detect_tasks` runs a
chunk of batch tasks and keeps each task's failure to that task.

Cascades come with `opencv-python-headless` 4.x (`cv2.data.haarcascades`; 5.x no longer ships
them). A `cv2.CascadeClassifier` must not be used by two threads at once, and the SDK runs sync
callbacks on a thread pool, so every thread loads its own classifiers the first time it needs
them and keeps them for the life of the process (a few MB and a few tens of ms per cascade).

Score. A Haar cascade gives no probability. With `outputRejectLevels=True`, OpenCV reports for
each detection the boosted sum of the cascade's *last* stage (the highest over the windows that
were merged into the box). Every detection passed that stage, so

    margin = last_stage_sum - last_stage_threshold   (>= 0)
    score  = tanh(margin / 2)                         (in [0, 1); equals 2*sigmoid(margin) - 1)

0 means "just passed", values near 1 mean "passed by far". It is monotone and uncalibrated: fine
for ranking a class's boxes and for a `min_score` cut-off tuned on your data, not a probability,
and not comparable between classes (each cascade's sums have their own scale).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypedDict, get_args

import cv2
import cv2.data
import numpy as np
from cv2.typing import MatLike
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ango_plugins_sdk import BBox

ClassName = Literal["face", "eye", "full_body", "upper_body", "smile"]
CASCADES: dict[str, str] = {
    "face": "haarcascade_frontalface_default.xml",
    "eye": "haarcascade_eye.xml",
    "full_body": "haarcascade_fullbody.xml",
    "upper_body": "haarcascade_upperbody.xml",
    "smile": "haarcascade_smile.xml",
}
"""Model class name -> cascade file in `cv2.data.haarcascades`."""
CLASS_NAMES: list[str] = list(get_args(ClassName))
if list(CASCADES) != CLASS_NAMES:  # the two lists must not drift apart
    raise RuntimeError(f"CASCADES {list(CASCADES)} does not match ClassName {CLASS_NAMES}")


class ImageError(ValueError):
    """The bytes are not an image OpenCV can decode."""


def _default_classes() -> list[ClassName]:
    return ["face"]


class DetectorConfig(BaseModel):
    """The model's config. Strict: `"5"` is not a number, `true` is not an integer.

    The plugins declare it as their `config_model`: the SDK validates each job's config into it
    and fails a bad one with every problem named, before the callback runs."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    classes: Annotated[list[ClassName], Field(min_length=1)] = Field(
        default_factory=_default_classes
    )
    """Which cascades to run; each gives boxes of its own class."""
    scale_factor: Annotated[float, Field(gt=1.0, le=2.0)] = 1.1
    """How much the search window grows between scales: smaller finds more, runs slower."""
    min_neighbors: Annotated[int, Field(ge=0, le=100)] = 5
    """Overlapping raw hits a box needs to be kept: higher means fewer, surer boxes."""
    min_size: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)] = (
        Field(default_factory=lambda: [30, 30])
    )
    """Smallest box [width, height], in pixels of the original image."""
    max_side: Annotated[int, Field(ge=64, le=20_000)] = 1280
    """Images whose longer side is bigger are shrunk to this before detection (boxes are scaled
    back to the original pixels): big photos stay fast."""
    min_score: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    """Drop boxes scoring below this (see the module doc for what the score is)."""
    chunk_size: Annotated[int, Field(ge=1)] | None = None
    """Batch runs: tasks per chunk. The hub reads it to split the run; the detector ignores it
    (it is accepted so that one config serves both the model and the batch plugin)."""

    @field_validator("classes")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(map(repr, repeated))} more than once")
        return value


@dataclass(frozen=True)
class _CascadeFile:
    path: str
    last_stage_threshold: float


@cache
def _cascade_file(name: str) -> _CascadeFile:
    """The cascade's path and its last stage's threshold (read once per process)."""
    path = Path(cv2.data.haarcascades) / CASCADES[name]
    if not path.is_file():
        raise RuntimeError(
            f"OpenCV's {CASCADES[name]} is missing from {path.parent}: install "
            "opencv-python-headless>=4.8,<5 (OpenCV 5 no longer ships the Haar cascades)"
        )
    storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    try:
        stages = storage.getNode("cascade").getNode("stages")
        if stages.empty() or stages.size() == 0:
            raise RuntimeError(f"{path} is not a cascade in OpenCV's current format")
        threshold = stages.at(stages.size() - 1).getNode("stageThreshold").real()
    finally:
        storage.release()
    return _CascadeFile(str(path), float(threshold))


_per_thread = threading.local()
_Hit = tuple[int, int, int, int, float]
"""A raw detection: x, y, w, h in the pixels it was found in, and its score."""


def _classifier(name: str) -> cv2.CascadeClassifier:
    """This thread's own classifier for `name`, loaded on first use."""
    loaded: dict[str, cv2.CascadeClassifier] | None = getattr(_per_thread, "classifiers", None)
    if loaded is None:
        loaded = _per_thread.classifiers = {}
    classifier = loaded.get(name)
    if classifier is None:
        classifier = cv2.CascadeClassifier(_cascade_file(name).path)
        if classifier.empty():
            raise RuntimeError(f"OpenCV could not load {_cascade_file(name).path}")
        loaded[name] = classifier
    return classifier


def score_from_margin(margin: float) -> float:
    """`tanh(margin / 2)`, clamped to [0, 1]: see the module doc."""
    return min(1.0, max(0.0, math.tanh(margin / 2.0)))


def decode_gray(image_bytes: bytes) -> MatLike:
    """Decode to 8-bit grayscale (EXIF orientation applied, as browsers show the image)."""
    if not isinstance(image_bytes, bytes | bytearray | memoryview):
        raise ImageError(f"expected the image's bytes, got {type(image_bytes).__name__}")
    if len(image_bytes) == 0:
        raise ImageError("not an image: the asset is empty (0 bytes)")
    buffer = np.frombuffer(image_bytes, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE)
    except cv2.error as exc:
        raise ImageError(f"not an image OpenCV can decode ({_head(image_bytes)}): {exc}") from None
    if image is None or image.size == 0:
        raise ImageError(
            f"not an image OpenCV can decode ({_head(image_bytes)}); "
            "expected JPEG, PNG, WebP, BMP, TIFF, ..."
        )
    return image


def _head(data: bytes | bytearray | memoryview) -> str:
    head = bytes(data[:12])
    return f"{len(data)} bytes starting {head!r}"


class Detector:
    """Haar-cascade detection with one job's config. Cheap to build: cascades are cached."""

    def __init__(self, config: DetectorConfig | Mapping[str, Any] | None = None) -> None:
        """`config`: a `DetectorConfig`, or a dict of one (pydantic checks it); None: defaults."""
        self.config = (
            config
            if isinstance(config, DetectorConfig)
            else DetectorConfig.model_validate(config or {})
        )
        for name in self.config.classes:
            _cascade_file(name)  # a missing cascade fails the job now, not per image

    def detect(self, image_bytes: bytes) -> list[BBox]:
        """Boxes of the configured classes, in pixels of the original image.

        In the order of `classes`, each class's boxes best first.
        """
        gray = decode_gray(image_bytes)
        height, width = gray.shape[:2]
        config = self.config
        scale = min(1.0, config.max_side / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        min_size = (
            max(1, round(config.min_size[0] * scale)),
            max(1, round(config.min_size[1] * scale)),
        )
        faces: list[_Hit] | None = None
        boxes: list[BBox] = []
        for name in config.classes:
            if name == "smile":
                # The smile cascade fires all over a whole photo: look only in the lower half of
                # each face (the face cascade runs for this even when "face" is not asked for).
                if faces is None:
                    faces = self._hits("face", gray, min_size)
                hits = [hit for face in faces for hit in self._smiles(gray, face)]
            else:
                hits = self._hits(name, gray, min_size)
                if name == "face":
                    faces = hits
            boxes.extend(self._boxes(name, hits, scale, width, height))
        return boxes

    def _hits(self, name: str, gray: MatLike, min_size: tuple[int, int]) -> list[_Hit]:
        """Raw detections (x, y, w, h, score) in pixels of `gray`."""
        threshold = _cascade_file(name).last_stage_threshold
        rects, _levels, weights = _classifier(name).detectMultiScale3(
            gray,
            scaleFactor=self.config.scale_factor,
            minNeighbors=self.config.min_neighbors,
            minSize=min_size,
            outputRejectLevels=True,
        )
        return [
            (int(x), int(y), int(w), int(h), score_from_margin(float(weight) - threshold))
            for (x, y, w, h), weight in zip(rects, weights, strict=True)
        ]

    def _smiles(self, gray: MatLike, face: _Hit) -> list[_Hit]:
        fx, fy, fw, fh, _ = face
        top = fy + fh // 2
        roi = gray[top : fy + fh, fx : fx + fw]
        if roi.size == 0:
            return []
        hits = self._hits("smile", roi, (max(1, fw // 4), max(1, fh // 8)))
        return [(x + fx, y + top, w, h, score) for x, y, w, h, score in hits]

    def _boxes(
        self, name: str, hits: list[_Hit], scale: float, width: int, height: int
    ) -> list[BBox]:
        found: list[BBox] = []
        for x, y, w, h, score in hits:
            if score < self.config.min_score:
                continue
            # Back to original pixels, then clipped: OpenCV may return boxes partly outside.
            left = min(max(x / scale, 0.0), float(width))
            top = min(max(y / scale, 0.0), float(height))
            right = min(max((x + w) / scale, 0.0), float(width))
            bottom = min(max((y + h) / scale, 0.0), float(height))
            if right <= left or bottom <= top:
                continue
            found.append(
                BBox(
                    cls=name,
                    x=round(left, 2),
                    y=round(top, 2),
                    w=round(right - left, 2),
                    h=round(bottom - top, 2),
                    score=round(score, 4),
                )
            )
        found.sort(key=lambda box: -(box.score or 0.0))
        return found


class _Asset(Protocol):
    def read_bytes(self) -> bytes: ...


class Task(Protocol):
    """What `detect_tasks` needs from a batch task (the SDK's tasks have it)."""

    @property
    def task_id(self) -> str: ...

    @property
    def asset(self) -> _Asset: ...


class BatchResult(TypedDict):
    predictions: dict[str, list[BBox]]
    errors: dict[str, str]


def detect_tasks(
    detector: Detector,
    tasks: Iterable[Task],
    *,
    cancelled: Callable[[], bool] | None = None,
    on_error: Callable[[str, str], None] | None = None,
) -> BatchResult:
    """Run each task; a task that fails (unreadable asset, not an image) goes to `errors`.

    `cancelled()` is checked before each task: once true, the remaining tasks are left out of
    both dicts (the hub does not apply them). `on_error(task_id, reason)` is told of each failure.
    """
    result: BatchResult = {"predictions": {}, "errors": {}}
    for task in tasks:
        if cancelled is not None and cancelled():
            break
        task_id = task.task_id
        try:
            result["predictions"][task_id] = detector.detect(task.asset.read_bytes())
        except Exception as exc:  # one bad asset must never sink the chunk
            reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ImageError) else str(exc)
            result["errors"][task_id] = reason
            if on_error is not None:
                on_error(task_id, reason)
    return result
