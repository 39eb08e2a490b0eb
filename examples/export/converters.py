"""Convert a Plugin Hub export into COCO JSON or a YOLO dataset zip.

Pure functions over the hub's export shapes (`ExportedTask`, `Category`), no network and no SDK
beyond those models, so they can be reused and tested on their own.

Both writers consume the tasks iterator exactly once and keep memory flat however many tasks
there are: COCO images are written as they arrive and annotations are spooled to a temporary
file that is appended at the end; YOLO label files go into the zip one by one.

Coordinates in the hub are pixels of the asset, origin top-left, which is also COCO's
convention; YOLO lines are normalized by the image's width and height.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from ango_plugins_sdk.protocol.workspace import (
    AssetType,
    Category,
    ExportedObject,
    ExportedTask,
    Tool,
)

__all__ = [
    "CocoSummary",
    "YoloSummary",
    "polygon_area",
    "polygon_bounds",
    "write_coco",
    "write_yolo",
    "yolo_stem",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_MAX_LOGGED = 20
"""Images skipped for a missing size are logged one by one up to this many, then summed up."""


# --------------------------------------------------------------------------------------------
# Geometry


def polygon_area(points: list[tuple[float, float]]) -> float:
    """The polygon's area by the shoelace formula (always >= 0, any winding)."""
    twice = 0.0
    n = len(points)
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        twice += x1 * y2 - x2 * y1
    return abs(twice) / 2.0


def polygon_bounds(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    """The polygon's bounding box as (x, y, w, h)."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, y0 = min(xs), min(ys)
    return x0, y0, max(xs) - x0, max(ys) - y0


# --------------------------------------------------------------------------------------------
# COCO


@dataclass
class CocoSummary:
    """What `write_coco` wrote, and what it left out and why."""

    images: int = 0
    annotations: int = 0
    boxes: int = 0
    polygons: int = 0
    categories: int = 0
    images_without_size: int = 0
    """Written with `width`/`height` null: the hub did not know the image's size."""
    skipped_markdown: int = 0
    skipped_points: int = 0
    skipped_classifications: int = 0
    skipped_polygons: int = 0
    """Polygons left out because `include_polygons` was off."""
    skipped_invalid: int = 0
    """Polygons with fewer than 3 points."""
    skipped_unknown_category: int = 0
    """Objects whose category is not (or no longer) in the project's schema."""

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


# The per-image and per-annotation JSON is formatted by hand: with 100,000s of them,
# `json.dumps` (a new encoder per call) would cost several times the rest of the work.
_str = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept as is


def _num(value: float | None) -> str:
    """A JSON number exactly as `json.dumps` writes it (shortest round-trip repr), or null."""
    if value is None:
        return "null"
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a valid JSON number")
    return repr(value)


def _nums(values: Iterable[float]) -> str:
    return ",".join(_num(v) for v in values)


def write_coco(
    tasks: Iterable[ExportedTask],
    categories: list[Category],
    out: IO[bytes],
    *,
    include_polygons: bool = True,
    info: dict[str, Any] | None = None,
) -> CocoSummary:
    """Write COCO detection JSON for the image tasks to `out`, streaming.

    - `categories`: bbox categories (and polygon ones when `include_polygons`), ids 1..K in
      project order, each with `hub_category_id`.
    - `images`: ids 1..N in the order the tasks arrive, `file_name` the asset's external id (or
      its hub id), `width`, `height`, `hub_task_id`, `hub_asset_id`.
    - `annotations`: ids 1..M; a box keeps its `[x, y, w, h]` exactly and `area = w*h`; a polygon
      gets `segmentation [[x1, y1, ...]]`, its bounds as `bbox` and its shoelace area; `score`
      when the object has one. Markdown assets, points and classifications have no COCO
      detection form and are counted in the summary instead.
    """
    summary = CocoSummary()
    tools = {Tool.BBOX, Tool.POLYGON} if include_polygons else {Tool.BBOX}
    coco_categories = [c for c in categories if c.tool in tools]
    category_ids = {c.id: i for i, c in enumerate(coco_categories, start=1)}
    summary.categories = len(coco_categories)
    header = {
        "info": {"description": "Plugin Hub export", **(info or {})},
        "licenses": [],
        "categories": [
            {"id": i, "name": c.name, "supercategory": "", "hub_category_id": c.id}
            for i, c in enumerate(coco_categories, start=1)
        ],
    }
    # `{"info":...,"licenses":[],"categories":[...]` then `,"images":[`.
    out.write(_dumps(header)[:-1] + b',"images":[')

    with tempfile.TemporaryFile(buffering=_CHUNK) as spool:
        for task in tasks:
            asset = task.asset
            if asset.type != AssetType.IMAGE:
                summary.skipped_markdown += 1
                continue
            summary.images += 1
            image_id = summary.images
            if asset.width is None or asset.height is None:
                summary.images_without_size += 1
            image = (
                f'{"," if image_id > 1 else ""}{{"id":{image_id},'
                f'"file_name":{_str(asset.external_id or asset.id)},'
                f'"width":{_num(asset.width)},"height":{_num(asset.height)},'
                f'"hub_task_id":{_str(task.task_id)},"hub_asset_id":{_str(asset.id)}}}'
            )
            out.write(image.encode())

            summary.skipped_classifications += len(task.annotations.classifications)
            for obj in task.annotations.objects:
                fields = _coco_annotation(obj, category_ids, include_polygons, summary)
                if fields is None:
                    continue
                summary.annotations += 1
                annotation = (
                    f"{',' if summary.annotations > 1 else ''}"
                    f'{{"id":{summary.annotations},"image_id":{image_id},{fields}}}'
                )
                spool.write(annotation.encode())

        out.write(b'],"annotations":[')
        spool.seek(0)
        shutil.copyfileobj(spool, out, _CHUNK)
    out.write(b"]}")
    return summary


def _coco_annotation(
    obj: ExportedObject,
    category_ids: dict[str, int],
    include_polygons: bool,
    summary: CocoSummary,
) -> str | None:
    """The annotation's COCO fields but its ids, as JSON members; None (counted) if left out."""
    if obj.point is not None:
        summary.skipped_points += 1
        return None
    if obj.polygon is not None and not include_polygons:
        summary.skipped_polygons += 1
        return None
    category_id = category_ids.get(obj.category_id)
    if category_id is None:
        summary.skipped_unknown_category += 1
        return None
    if obj.bbox is not None:
        box = obj.bbox
        geometry = f'"bbox":[{_nums((box.x, box.y, box.w, box.h))}],"area":{_num(box.w * box.h)}'
        summary.boxes += 1
    elif obj.polygon is not None:
        if len(obj.polygon) < 3:
            summary.skipped_invalid += 1
            return None
        flat = _nums(coordinate for point in obj.polygon for coordinate in point)
        geometry = (
            f'"segmentation":[[{flat}]],"bbox":[{_nums(polygon_bounds(obj.polygon))}],'
            f'"area":{_num(polygon_area(obj.polygon))}'
        )
        summary.polygons += 1
    else:  # an object without geometry: the hub never exports one, but don't crash on it
        summary.skipped_invalid += 1
        return None
    score = "" if obj.score is None else f',"score":{_num(obj.score)}'
    return f'"category_id":{category_id},{geometry},"iscrowd":0{score}'


# --------------------------------------------------------------------------------------------
# YOLO


@dataclass
class YoloSummary:
    """What `write_yolo` wrote, and what it left out and why."""

    images: int = 0
    """Label files written (one per image asset that could be labelled)."""
    boxes: int = 0
    """Label lines written (boxes, plus polygons when converted to boxes)."""
    classes: int = 0
    polygons_as_boxes: int = 0
    clipped_boxes: int = 0
    """Boxes reaching outside the image, clipped to it (YOLO needs coordinates in [0, 1])."""
    renamed: int = 0
    """Images whose stem collided with an earlier one and got a `_2`, `_3`... suffix."""
    skipped_without_size: int = 0
    """Images with boxes but no known width/height: their boxes can't be normalized."""
    skipped_without_size_examples: list[str] = field(default_factory=list)
    skipped_markdown: int = 0
    skipped_polygons: int = 0
    skipped_points: int = 0
    skipped_classifications: int = 0
    skipped_empty_boxes: int = 0
    """Boxes of zero width or height, or entirely outside the image."""
    skipped_invalid: int = 0
    """Polygons with fewer than 3 points."""
    skipped_unknown_category: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\<>:"|?*]')
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")
_MAX_STEM_BYTES = 200


def yolo_stem(external_id: str | None, asset_id: str) -> str:
    """A file-name stem for an image: its external id made safe, or its asset id.

    Path separators and characters that are invalid in file names become `_`, the extension is
    dropped (`cats/001.jpg` -> `cats_001`), leading and trailing dots and spaces are trimmed, and
    the result is capped at 200 UTF-8 bytes. Unicode letters are kept.
    """
    for candidate in (external_id, asset_id):
        if not candidate:
            continue
        stem = _EXTENSION.sub("", candidate.strip())
        stem = _UNSAFE.sub("_", stem).strip(". ")
        while len(stem.encode()) > _MAX_STEM_BYTES:
            stem = stem[:-1]
        if stem:
            return stem
    return "image"


class _Stems:
    """Hands out unique stems; names differing only in case collide too (macOS, Windows)."""

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self._next: dict[str, int] = {}

    def unique(self, stem: str) -> tuple[str, bool]:
        key = stem.casefold()
        if key not in self._taken:
            self._taken.add(key)
            return stem, False
        n = self._next.get(key, 2)
        while f"{key}_{n}" in self._taken:
            n += 1
        self._next[key] = n + 1
        self._taken.add(f"{key}_{n}")
        return f"{stem}_{n}", True


def _yaml_str(text: str) -> str:
    """`text` as a YAML double-quoted scalar (JSON escapes, plus YAML's extra line breaks)."""
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(
        f"\\u{ord(c):04x}"
        if 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029\ufeff" or 0xD800 <= ord(c) <= 0xDFFF
        else c
        for c in quoted
    )


def _data_yaml(names: list[str]) -> str:
    lines = [
        "# YOLO dataset exported from Plugin Hub.",
        "# Put the images in images/ with the same stem as their label in labels/",
        "# (labels/cat_001.txt <-> images/cat_001.jpg); manifest.csv maps stems to hub assets.",
        "train: images",
        "val: images",
        f"nc: {len(names)}",
        "names:" if names else "names: []",
        *(f"  - {_yaml_str(name)}" for name in names),
    ]
    return "\n".join(lines) + "\n"


def _normalized(value: float) -> str:
    # 12 decimals: converting back is within 1e-6 px even for a 1,000,000 px wide image.
    return f"{value:.12f}"


def _clip_box(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[tuple[float, float, float, float], bool]:
    """The box clipped to the image, and whether clipping changed it."""
    x, y, w, h = box
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    if (x0, y0, x1, y1) == (x, y, x + w, y + h):
        return box, False
    return (x0, y0, x1 - x0, y1 - y0), True


def write_yolo(
    tasks: Iterable[ExportedTask],
    categories: list[Category],
    out_zip: IO[bytes],
    *,
    polygons_as_boxes: bool = False,
    logger: logging.Logger | None = None,
) -> YoloSummary:
    """Write a YOLO (ultralytics-style) detection dataset as a zip to `out_zip`, streaming.

    The zip holds `data.yaml` (`names` in class-index order, `nc`, `train`/`val: images`),
    `labels/<stem>.txt` for every image asset (empty when it has no boxes) with one
    `class cx cy w h` line per box, normalized by the image size, an empty `images/` folder for
    the user's images, and `manifest.csv` (stem, task, asset, external id, size, url).

    Class indices: the project's bbox categories in project order, then, with
    `polygons_as_boxes`, its polygon categories in project order (so box classes keep their
    index either way). Polygons become their bounding box only with `polygons_as_boxes`;
    otherwise they are skipped and counted. Boxes are clipped to the image.
    """
    logger = logger or log
    summary = YoloSummary()
    classes = [c for c in categories if c.tool == Tool.BBOX]
    if polygons_as_boxes:
        classes += [c for c in categories if c.tool == Tool.POLYGON]
    class_index = {c.id: i for i, c in enumerate(classes)}
    summary.classes = len(classes)
    stems = _Stems()
    now = time.localtime()[:6]

    def entry(name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=now)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    with (
        zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as archive,
        tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as manifest,
    ):
        archive.writestr(entry("data.yaml"), _data_yaml([c.name for c in classes]))
        images_dir = zipfile.ZipInfo("images/", date_time=now)
        images_dir.external_attr = (0o40755 << 16) | 0x10
        archive.writestr(images_dir, b"")
        rows = csv.writer(manifest)
        rows.writerow(["stem", "task_id", "asset_id", "external_id", "width", "height", "url"])

        for task in tasks:
            asset = task.asset
            if asset.type != AssetType.IMAGE:
                summary.skipped_markdown += 1
                continue
            summary.skipped_classifications += len(task.annotations.classifications)
            boxes = _yolo_boxes(task.annotations.objects, class_index, polygons_as_boxes, summary)
            width, height = asset.width, asset.height
            if not width or not height:
                if boxes:
                    summary.skipped_without_size += 1
                    name = asset.external_id or asset.id
                    if summary.skipped_without_size <= _MAX_LOGGED:
                        summary.skipped_without_size_examples.append(name)
                        logger.warning(
                            "skipped image %r (task %s): no width/height for its %d box(es)",
                            name,
                            task.task_id,
                            len(boxes),
                        )
                    continue
                lines = []  # nothing to normalize: an empty label file is still right
            else:
                lines = _label_lines(boxes, width, height, summary)
            stem, renamed = stems.unique(yolo_stem(asset.external_id, asset.id))
            summary.renamed += renamed
            archive.writestr(entry(f"labels/{stem}.txt"), "".join(lines))
            summary.images += 1
            summary.boxes += len(lines)
            rows.writerow(
                [stem, task.task_id, asset.id, asset.external_id or "", width, height, asset.url]
            )

        if summary.skipped_without_size > _MAX_LOGGED:
            logger.warning(
                "skipped %d images without width/height in all (the first %d are listed above)",
                summary.skipped_without_size,
                _MAX_LOGGED,
            )
        manifest.seek(0)
        with archive.open(entry("manifest.csv"), "w") as member:
            _copy_text(manifest, member)
    return summary


def _label_lines(
    boxes: list[tuple[int, tuple[float, float, float, float], bool]],
    width: int,
    height: int,
    summary: YoloSummary,
) -> list[str]:
    """`class cx cy w h` lines for the boxes, clipped to the image and normalized by its size."""
    lines = []
    for cls, box, from_polygon in boxes:
        (x, y, w, h), clipped = _clip_box(box, width, height)
        if w <= 0 or h <= 0:
            summary.skipped_empty_boxes += 1
            continue
        summary.clipped_boxes += clipped
        summary.polygons_as_boxes += from_polygon
        values = ((x + w / 2) / width, (y + h / 2) / height, w / width, h / height)
        lines.append(f"{cls} " + " ".join(_normalized(v) for v in values) + "\n")
    return lines


def _copy_text(source: IO[str], target: IO[bytes]) -> None:
    while chunk := source.read(_CHUNK):
        target.write(chunk.encode())


def _yolo_boxes(
    objects: list[ExportedObject],
    class_index: dict[str, int],
    polygons_as_boxes: bool,
    summary: YoloSummary,
) -> list[tuple[int, tuple[float, float, float, float], bool]]:
    """(class, pixel box, from a polygon) for the objects YOLO can take, counting the others."""
    boxes: list[tuple[int, tuple[float, float, float, float], bool]] = []
    for obj in objects:
        box: tuple[float, float, float, float]
        if obj.point is not None:
            summary.skipped_points += 1
            continue
        if obj.polygon is not None:
            if not polygons_as_boxes:
                summary.skipped_polygons += 1
                continue
            if len(obj.polygon) < 3:
                summary.skipped_invalid += 1
                continue
            box = polygon_bounds(obj.polygon)
        elif obj.bbox is not None:
            box = (obj.bbox.x, obj.bbox.y, obj.bbox.w, obj.bbox.h)
        else:  # no geometry: the hub never exports one, but don't crash on it
            summary.skipped_invalid += 1
            continue
        cls = class_index.get(obj.category_id)
        if cls is None:
            summary.skipped_unknown_category += 1
            continue
        boxes.append((cls, box, obj.polygon is not None))
    return boxes
