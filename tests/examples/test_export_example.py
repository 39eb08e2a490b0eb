"""examples/export: COCO and YOLO output checked against the input, number by number."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import logging
import random
import sys
import tempfile
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import ango_plugins_sdk
from ango_plugins_sdk.protocol.workspace import (
    Asset,
    AssetType,
    Category,
    ExportedAnnotations,
    ExportedTask,
    ProjectInfo,
)
from ango_plugins_sdk.testing import run_export

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "export"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


conv = _load("export_example_converters", EXAMPLE / "converters.py")

CAR = Category(id="cat-car", name="car", tool="bbox", color="#ff0000")
PERSON = Category(id="cat-person", name="person", tool="bbox", color="#00ff00")
ROAD = Category(id="cat-road", name="road", tool="polygon", color="#0000ff")
SIGN = Category(id="cat-sign", name="sign", tool="point")
WEATHER = Category(id="cat-weather", name="weather", tool="classification")
# Project order on purpose not "bbox first": a polygon category sits between the box ones.
CATEGORIES = [CAR, ROAD, SIGN, PERSON, WEATHER]


def task(
    n: int,
    objects: list[dict[str, Any]] | None = None,
    *,
    width: int | None = 640,
    height: int | None = 480,
    external_id: str | None = "default",
    classifications: list[dict[str, Any]] | None = None,
    markdown: bool = False,
) -> ExportedTask:
    asset: dict[str, Any] = {"id": f"asset-{n}", "type": "markdown" if markdown else "image"}
    if markdown:
        asset["markdown"] = "# hello"
    else:
        asset.update(url=f"https://img.example/{n}.jpg", width=width, height=height)
    asset["external_id"] = f"img_{n:03d}.jpg" if external_id == "default" else external_id
    return ExportedTask.model_validate(
        {
            "task_id": f"task-{n}",
            "stage": "done",
            "batches": ["b1"],
            "asset": asset,
            "annotations": {
                "objects": objects or [],
                "classifications": classifications or [],
            },
        }
    )


def box(category: Category, x: float, y: float, w: float, h: float, **extra: Any) -> dict[str, Any]:
    return {
        "category_id": category.id,
        "category": category.name,
        "tool": "bbox",
        "bbox": {"x": x, "y": y, "w": w, "h": h},
        **extra,
    }


def polygon(category: Category, points: list[tuple[float, float]]) -> dict[str, Any]:
    return {
        "category_id": category.id,
        "category": category.name,
        "tool": "polygon",
        "polygon": points,
    }


def point(category: Category, x: float, y: float) -> dict[str, Any]:
    return {
        "category_id": category.id,
        "category": category.name,
        "tool": "point",
        "point": {"x": x, "y": y},
    }


def random_project(seed: int = 4, n: int = 50) -> list[ExportedTask]:
    """`n` image tasks with random boxes of 2 categories (some integral) and some polygons."""
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        width, height = rng.choice([(640, 480), (1920, 1080), (333, 777), (4000, 3000)])
        objects = []
        for _ in range(0 if i == 7 else rng.randint(1, 6)):
            x, y = rng.uniform(0, width - 2), rng.uniform(0, height - 2)
            w, h = rng.uniform(0.5, width - x), rng.uniform(0.5, height - y)
            if rng.random() < 0.25:
                x, y, w, h = (
                    float(int(x)),
                    float(int(y)),
                    float(max(1, int(w))),
                    float(max(1, int(h))),
                )
            extra = {"score": round(rng.random(), 3)} if rng.random() < 0.3 else {}
            objects.append(box(rng.choice([CAR, PERSON]), x, y, w, h, **extra))
        if i % 5 == 0:
            x, y = rng.uniform(0, width / 2), rng.uniform(0, height / 2)
            objects.append(polygon(ROAD, [(x, y), (x + 100, y), (x + 100, y + 50), (x, y + 50)]))
        tasks.append(task(i, objects, width=width, height=height))
    return tasks


def coco_of(tasks: list[ExportedTask], **kwargs: Any) -> tuple[dict[str, Any], Any]:
    out = io.BytesIO()
    summary = conv.write_coco(iter(tasks), CATEGORIES, out, **kwargs)
    return json.loads(out.getvalue().decode("utf-8")), summary


def yolo_of(tasks: list[ExportedTask], **kwargs: Any) -> tuple[zipfile.ZipFile, Any]:
    out = io.BytesIO()
    summary = conv.write_yolo(iter(tasks), CATEGORIES, out, **kwargs)
    archive = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    assert archive.testzip() is None
    return archive, summary


def labels(archive: zipfile.ZipFile) -> dict[str, str]:
    return {
        name.removeprefix("labels/").removesuffix(".txt"): archive.read(name).decode("utf-8")
        for name in archive.namelist()
        if name.startswith("labels/")
    }


def parse_names(data_yaml: str) -> list[str]:
    """The `names:` block list of our data.yaml, read without a YAML library."""
    lines = data_yaml.splitlines()
    start = lines.index("names:")
    return [json.loads(line.removeprefix("  - ")) for line in lines[start + 1 :]]


# ---------------------------------------------------------------------------------------------
# COCO


def test_coco_has_every_image_category_and_box_exactly() -> None:
    tasks = random_project()
    coco, summary = coco_of(tasks)

    assert [c["name"] for c in coco["categories"]] == ["car", "road", "person"]
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3]
    assert all(c["supercategory"] == "" for c in coco["categories"])
    assert [c["hub_category_id"] for c in coco["categories"]] == [CAR.id, ROAD.id, PERSON.id]
    coco_category = {c["hub_category_id"]: c["id"] for c in coco["categories"]}

    assert len(coco["images"]) == 50
    assert [image["id"] for image in coco["images"]] == list(range(1, 51))
    for image, t in zip(coco["images"], tasks, strict=True):
        assert image["file_name"] == t.asset.external_id
        assert (image["width"], image["height"]) == (t.asset.width, t.asset.height)
        assert image["hub_task_id"] == t.task_id

    by_image: dict[int, list[dict[str, Any]]] = {}
    for annotation in coco["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    assert [a["id"] for a in coco["annotations"]] == list(range(1, len(coco["annotations"]) + 1))

    boxes = polygons = 0
    for image_id, t in enumerate(tasks, start=1):
        got = by_image.get(image_id, [])
        assert len(got) == len(t.annotations.objects)
        for annotation, obj in zip(got, t.annotations.objects, strict=True):
            assert annotation["category_id"] == coco_category[obj.category_id]
            assert annotation["iscrowd"] == 0
            assert annotation.get("score") == obj.score
            if obj.bbox is not None:
                boxes += 1
                b = obj.bbox
                assert annotation["bbox"] == [b.x, b.y, b.w, b.h]  # identical floats
                assert annotation["area"] == b.w * b.h
                assert "segmentation" not in annotation
            else:
                polygons += 1
                assert obj.polygon is not None
                (x, y), (x2, _), (_, y2) = obj.polygon[0], obj.polygon[1], obj.polygon[2]
                assert annotation["segmentation"] == [[x, y, x2, y, x2, y2, x, y2]]
                assert annotation["bbox"] == pytest.approx([x, y, 100, 50])
                assert annotation["area"] == pytest.approx(5000)
    assert by_image.get(8) is None  # task 7 has no objects: an image without annotations
    assert (summary.images, summary.boxes, summary.polygons) == (50, boxes, polygons)
    assert summary.annotations == boxes + polygons == len(coco["annotations"])
    assert polygons == 10


def test_coco_polygon_area_and_bounds() -> None:
    triangle = [(10.0, 10.0), (14.0, 10.0), (10.0, 13.0)]
    concave = [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (2.0, 1.0), (0.0, 4.0)]
    coco, _ = coco_of([task(1, [polygon(ROAD, triangle), polygon(ROAD, concave[::-1])])])
    first, second = coco["annotations"]
    assert first["segmentation"] == [[10, 10, 14, 10, 10, 13]]
    assert first["bbox"] == [10, 10, 4, 3]
    assert first["area"] == 6
    assert second["bbox"] == [0, 0, 4, 4]
    assert second["area"] == 10  # 16 minus the notch of 6, whatever the winding
    assert conv.polygon_area(concave) == conv.polygon_area(concave[::-1]) == 10


def test_coco_skips_what_it_cannot_hold_and_counts_it() -> None:
    tasks = [
        task(
            0,
            [box(CAR, 1, 2, 3, 4), point(SIGN, 5, 5)],
            classifications=[{"category_id": WEATHER.id, "category": "weather", "value": "rain"}],
        ),
        task(1, markdown=True),
        task(2, [box(CAR, 0, 0, 10, 10)], width=None, height=None, external_id=None),
        task(3, [{**box(CAR, 1, 1, 1, 1), "category_id": "deleted"}]),
        task(
            4,
            [
                {
                    "category_id": ROAD.id,
                    "category": "road",
                    "tool": "polygon",
                    "polygon": [(0, 0), (1, 1)],
                }
            ],
        ),
        task(5, markdown=True),
    ]
    coco, summary = coco_of(tasks)
    assert [image["hub_task_id"] for image in coco["images"]] == [
        "task-0",
        "task-2",
        "task-3",
        "task-4",
    ]
    assert [image["id"] for image in coco["images"]] == [1, 2, 3, 4]
    unsized = coco["images"][1]
    assert unsized["file_name"] == "asset-2"  # no external id: the asset id
    assert (unsized["width"], unsized["height"]) == (None, None)
    assert [(a["image_id"], a["bbox"]) for a in coco["annotations"]] == [
        (1, [1, 2, 3, 4]),
        (2, [0, 0, 10, 10]),
    ]
    assert summary.as_dict() == {
        "images": 4,
        "annotations": 2,
        "boxes": 2,
        "polygons": 0,
        "categories": 3,
        "images_without_size": 1,
        "skipped_markdown": 2,
        "skipped_points": 1,
        "skipped_classifications": 1,
        "skipped_polygons": 0,
        "skipped_invalid": 1,
        "skipped_unknown_category": 1,
    }


def test_coco_without_polygons() -> None:
    tasks = [task(0, [box(PERSON, 1, 2, 3, 4), polygon(ROAD, [(0, 0), (1, 0), (1, 1)])])]
    coco, summary = coco_of(tasks, include_polygons=False)
    assert [c["name"] for c in coco["categories"]] == ["car", "person"]
    assert coco["annotations"] == [
        {"id": 1, "image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0}
    ]
    assert summary.skipped_polygons == 1


def test_coco_of_nothing_is_valid_json() -> None:
    coco, summary = coco_of([], info={"description": "empty project"})
    assert coco["images"] == coco["annotations"] == []
    assert coco["info"]["description"] == "empty project"
    assert summary.images == 0


def test_coco_keeps_unicode() -> None:
    coco, _ = coco_of([task(0, [box(CAR, 1, 1, 1, 1)], external_id="straße/ünïcødé 猫.png")])
    assert coco["images"][0]["file_name"] == "straße/ünïcødé 猫.png"


# ---------------------------------------------------------------------------------------------
# YOLO


def test_yolo_labels_convert_back_to_the_boxes() -> None:
    tasks = random_project()
    archive, summary = yolo_of(tasks)

    data_yaml = archive.read("data.yaml").decode("utf-8")
    assert parse_names(data_yaml) == ["car", "person"]  # bbox categories, project order
    assert "nc: 2" in data_yaml.splitlines()
    assert "train: images" in data_yaml.splitlines()
    assert "val: images" in data_yaml.splitlines()

    files = labels(archive)
    assert sorted(files) == sorted(f"img_{i:03d}" for i in range(50))
    class_of = {CAR.id: 0, PERSON.id: 1}
    lines_total = 0
    for t in tasks:
        assert t.asset.width is not None
        assert t.asset.height is not None
        width, height = t.asset.width, t.asset.height
        expected = [o for o in t.annotations.objects if o.bbox is not None]
        lines = files[f"img_{t.asset.id.removeprefix('asset-').zfill(3)}"].splitlines()
        assert len(lines) == len(expected)
        lines_total += len(lines)
        for line, obj in zip(lines, expected, strict=True):
            cls, *values = line.split()
            assert obj.bbox is not None
            assert int(cls) == class_of[obj.category_id]
            assert all(len(v.split(".")[1]) >= 6 for v in values)
            cx, cy, w, h = map(float, values)
            assert all(0 <= v <= 1 for v in (cx, cy, w, h))
            assert abs((cx - w / 2) * width - obj.bbox.x) < 1e-6
            assert abs((cy - h / 2) * height - obj.bbox.y) < 1e-6
            assert abs(w * width - obj.bbox.w) < 1e-6
            assert abs(h * height - obj.bbox.h) < 1e-6
    assert files["img_007"] == ""  # no boxes: an empty label file
    assert summary.images == 50
    assert summary.boxes == lines_total
    assert summary.skipped_polygons == 10  # not asked to turn them into boxes
    assert summary.polygons_as_boxes == 0


def test_yolo_data_yaml_is_real_yaml() -> None:
    yaml = pytest.importorskip("yaml")
    odd = Category(id="odd", name='a "quoted": name # not a comment\u2028 ünï', tool="bbox")
    out = io.BytesIO()
    conv.write_yolo([], [CAR, odd, ROAD], out)
    data = yaml.safe_load(zipfile.ZipFile(out).read("data.yaml"))
    assert data == {"train": "images", "val": "images", "nc": 2, "names": ["car", odd.name]}


def test_yolo_polygons_as_boxes_come_after_the_box_classes() -> None:
    tasks = [task(0, [polygon(ROAD, [(10, 20), (50, 25), (30, 60)]), box(PERSON, 0, 0, 64, 48)])]
    archive, summary = yolo_of(tasks, polygons_as_boxes=True)
    assert parse_names(archive.read("data.yaml").decode()) == ["car", "person", "road"]
    road, person = (line.split() for line in labels(archive)["img_000"].splitlines())
    assert road[0] == "2"
    cx, cy, w, h = map(float, road[1:])
    assert (cx * 640, cy * 480, w * 640, h * 480) == pytest.approx((30, 40, 40, 40))
    assert person == ["1", *(f"{v:.12f}" for v in (0.05, 0.05, 0.1, 0.1))]
    assert (summary.polygons_as_boxes, summary.skipped_polygons) == (1, 0)


def test_yolo_is_exact_on_huge_images() -> None:
    b = (123_456.789_012_3, 654_321.098_765_4, 0.001_234_5, 333_333.333_333_3)
    archive, _ = yolo_of([task(0, [box(CAR, *b)], width=1_000_000, height=1_000_000)])
    _, cx, cy, w, h = map(float, labels(archive)["img_000"].split())
    back = ((cx - w / 2) * 1e6, (cy - h / 2) * 1e6, w * 1e6, h * 1e6)
    assert all(abs(got - want) < 1e-6 for got, want in zip(back, b, strict=True))


def test_yolo_clips_boxes_to_the_image() -> None:
    tasks = [
        task(
            0,
            [box(CAR, -10, -20, 110, 70), box(CAR, 600, 400, 100, 100), box(CAR, 700, 0, 5, 5)],
            width=640,
            height=480,
        ),
        task(1, [box(CAR, 5, 5, 0, 10)]),
    ]
    archive, summary = yolo_of(tasks)
    files = labels(archive)
    first, second = (list(map(float, line.split()[1:])) for line in files["img_000"].splitlines())
    assert first == pytest.approx([50 / 640, 25 / 480, 100 / 640, 50 / 480])
    assert second == pytest.approx([620 / 640, 440 / 480, 40 / 640, 80 / 480])
    assert files["img_001"] == ""
    assert (summary.clipped_boxes, summary.skipped_empty_boxes) == (2, 2)


def test_yolo_skips_and_logs_images_without_a_size(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.export.yolo")
    tasks = [
        task(0, [box(CAR, 1, 1, 5, 5)]),
        task(1, [box(CAR, 1, 1, 5, 5)], width=None, height=None, external_id="no-size.jpg"),
        task(2, [box(PERSON, 1, 1, 5, 5)], width=100, height=None, external_id=None),
        task(3, [], width=None, height=None, external_id="background.jpg"),
        task(4, markdown=True, external_id="notes.md"),
        task(
            5,
            [point(SIGN, 1, 1)],
            classifications=[{"category_id": WEATHER.id, "category": "weather", "value": True}],
        ),
    ]
    with caplog.at_level(logging.WARNING, logger=logger.name):
        archive, summary = yolo_of(tasks, logger=logger)
    # Unsized images with boxes are skipped; one with nothing to normalize still gets its
    # (empty, and correct) label file; markdown gets none.
    assert sorted(labels(archive)) == ["background", "img_000", "img_005"]
    assert labels(archive)["background"] == labels(archive)["img_005"] == ""
    assert summary.skipped_without_size == 2
    assert summary.skipped_without_size_examples == ["no-size.jpg", "asset-2"]
    assert (summary.skipped_markdown, summary.skipped_points, summary.skipped_classifications) == (
        1,
        1,
        1,
    )
    warnings = [r.getMessage() for r in caplog.records if r.name == logger.name]
    assert len(warnings) == 2
    assert "'no-size.jpg'" in warnings[0]
    assert "task-1" in warnings[0]
    assert "'asset-2'" in warnings[1]


def test_yolo_logs_many_unsized_images_in_bounds(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.export.yolo.many")
    tasks = [task(i, [box(CAR, 1, 1, 5, 5)], width=None, height=None) for i in range(100)]
    with caplog.at_level(logging.WARNING, logger=logger.name):
        _, summary = yolo_of(tasks, logger=logger)
    assert summary.skipped_without_size == 100
    assert len(summary.skipped_without_size_examples) == 20
    records = [r.getMessage() for r in caplog.records if r.name == logger.name]
    assert len(records) == 21
    assert "100 images" in records[-1]


def test_yolo_stems_are_unique_and_safe() -> None:
    ids = [
        "cats/001.jpg",
        "cats_001.png",  # same stem as the one above once the separator is replaced
        "CATS/001.jpeg",  # differs only in case: collides on macOS and Windows
        "cats_001_2",  # the suffix a collision would take: still kept unique
        "dir\\win\\x.JPG",
        "../../etc/passwd",
        "猫/ünïcødé snap.webp",
        'bad:<name>|?*".jpg',
        None,
        "",
        "...",
        "v1.2",
        "x" * 300 + ".jpg",
    ]
    tasks = [task(i, [box(CAR, 1, 1, 2, 2)], external_id=e) for i, e in enumerate(ids)]
    archive, summary = yolo_of(tasks)
    with archive.open("manifest.csv") as raw:
        manifest = list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))
    stems = [row["stem"] for row in manifest]
    assert stems[:4] == ["cats_001", "cats_001_2", "CATS_001_3", "cats_001_2_2"]
    assert stems[4:] == [
        "dir_win_x",
        "_.._etc_passwd",
        "猫_ünïcødé snap",
        "bad__name_____",
        "asset-8",
        "asset-9",
        "asset-10",
        "v1.2",
        "x" * 200,
    ]
    assert len({s.casefold() for s in stems}) == len(stems)
    assert sorted(labels(archive)) == sorted(stems)
    assert all(name.count("/") <= 1 for name in archive.namelist())
    assert summary.renamed == 3
    assert [row["task_id"] for row in manifest] == [f"task-{i}" for i in range(len(ids))]
    assert manifest[0]["external_id"] == "cats/001.jpg"
    assert manifest[0]["url"] == "https://img.example/0.jpg"


@pytest.mark.parametrize(
    ("external_id", "stem"),
    [
        ("photo.jpg", "photo"),
        ("a.b.tiff", "a.b"),
        ("scan.001", "scan.001"),  # not an extension
        ("  spaced name.png ", "spaced name"),
        ("a/b/c", "a_b_c"),
        (None, "asset-x"),
        ("/", "_"),
        ("", "asset-x"),
    ],
)
def test_yolo_stem(external_id: str | None, stem: str) -> None:
    assert conv.yolo_stem(external_id, "asset-x") == stem


def test_yolo_layout() -> None:
    archive, _ = yolo_of([task(0, [box(CAR, 1, 1, 2, 2)])])
    assert archive.namelist() == ["data.yaml", "images/", "labels/img_000.txt", "manifest.csv"]
    assert archive.getinfo("images/").is_dir()


def test_yolo_reads_the_tasks_once_and_lazily() -> None:
    pulled = []

    def tasks() -> Iterator[ExportedTask]:
        for i in range(3):
            pulled.append(i)
            yield task(i, [box(CAR, 1, 1, 2, 2)])

    out = io.BytesIO()
    summary = conv.write_yolo(tasks(), CATEGORIES, out)
    assert pulled == [0, 1, 2]
    assert summary.images == 3


# ---------------------------------------------------------------------------------------------
# Streaming


def test_coco_memory_stays_flat_for_100k_tasks(tmp_path: Path) -> None:
    n = 100_000

    # Fresh task and asset objects each time (a writer that kept them would show); the
    # annotation sets come from a small pool to keep the test quick.
    pool = [
        ExportedAnnotations.model_validate(
            {"objects": [box(CAR, k, 10.5, 20, 30), box(PERSON, 1, 2, 3.25, 4, score=0.5)]}
        )
        for k in range(100)
    ]

    def tasks() -> Iterator[ExportedTask]:
        for i in range(n):
            asset = Asset(
                id=f"asset-{i}",
                type=AssetType.IMAGE,
                external_id=f"frames/{i:06d}.jpg",
                width=1920,
                height=1080,
            )
            yield ExportedTask(
                task_id=f"task-{i}", stage="done", asset=asset, annotations=pool[i % 100]
            )

    path = tmp_path / "coco.json"
    tracemalloc.start()
    try:
        with path.open("wb") as out:
            summary = conv.write_coco(tasks(), CATEGORIES, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    print(f"write_coco: {n} tasks, tracemalloc peak {peak / 1e6:.2f} MB, file {size / 1e6:.1f} MB")
    assert peak < 20e6, f"peak {peak / 1e6:.1f} MB"
    assert (summary.images, summary.annotations) == (n, 2 * n)
    coco = json.loads(path.read_bytes())
    assert len(coco["images"]) == n
    assert len(coco["annotations"]) == 2 * n
    assert coco["images"][-1]["file_name"] == "frames/099999.jpg"
    assert coco["annotations"][-1] == {
        "id": 2 * n,
        "image_id": n,
        "category_id": 3,
        "bbox": [1, 2, 3.25, 4],
        "area": 13,
        "iscrowd": 0,
        "score": 0.5,
    }


# ---------------------------------------------------------------------------------------------
# The plugin callback, driven by a stand-in for the hub's ExportJob


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setattr(sys, "path", list(sys.path))  # plugin.py adds its own folder
    had_converters = "converters" in sys.modules
    yield _load("export_example_plugin", EXAMPLE / "plugin.py")
    if not had_converters:
        sys.modules.pop("converters", None)


@pytest.fixture
def temp_files(plugin: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every anonymous temporary file opened (the plugin's, and the converters' spools)."""
    opened: list[Any] = []
    original = tempfile.TemporaryFile

    def recording(*args: Any, **kwargs: Any) -> Any:
        handle = original(*args, **kwargs)
        opened.append(handle)
        return handle

    monkeypatch.setattr(plugin.tempfile, "TemporaryFile", recording)
    return opened


class FakeJob:
    """What the callback uses of an `ExportJob`; `config` as the SDK hands it (validated)."""

    def __init__(self, tasks: list[ExportedTask], config: Any) -> None:
        self.config = config
        self.project = ProjectInfo(id="p1", name="Street/scenes: v2", categories=CATEGORIES)
        self.num_tasks = len(tasks)
        self.logger = logging.getLogger("test.export.job")
        self.cancelled = False
        self.progress_calls: list[tuple[float, float | None]] = []
        self._tasks = tasks
        self.tasks_calls = 0

    def tasks(self) -> Iterator[ExportedTask]:
        self.tasks_calls += 1
        yield from self._tasks

    def progress(
        self, current: float, total: float | None = None, message: str | None = None
    ) -> None:
        self.progress_calls.append((current, total))


def job_for(plugin: ModuleType, tasks: list[ExportedTask], config: dict[str, Any]) -> FakeJob:
    """A job whose config the SDK validated into the plugin's `config_model`, as in `run()`."""
    return FakeJob(tasks, plugin.export_plugin.parse_config(config))


def test_plugin_exports_coco(plugin: ModuleType) -> None:
    tasks = random_project(n=250)
    job = job_for(plugin, tasks, {"format": "coco"})
    result = plugin.export(job)
    assert isinstance(result, ango_plugins_sdk.ExportResult)
    assert result.filename == "Street_scenes_ v2-coco.json"
    assert result.content_type == "application/json"
    with result.file:
        coco = json.load(result.file)
    assert len(coco["images"]) == 250
    assert coco["info"] == {"description": "Street/scenes: v2", "hub_project_id": "p1"}
    assert job.tasks_calls == 1
    assert len(job.progress_calls) == 126  # every 2 tasks (1% of 250), and once at the end
    assert job.progress_calls[-1] == (250, 250)


def test_plugin_exports_yolo(plugin: ModuleType) -> None:
    job = job_for(plugin, random_project(n=10), {"format": "YOLO", "polygons_as_boxes": True})
    result = plugin.export(job)
    assert result.filename == "Street_scenes_ v2-yolo.zip"
    assert result.content_type == "application/zip"
    with result.file, zipfile.ZipFile(result.file) as archive:
        assert parse_names(archive.read("data.yaml").decode()) == ["car", "person", "road"]
        assert len(labels(archive)) == 10
    assert job.progress_calls[-1] == (10, 10)


def test_plugin_with_no_tasks(plugin: ModuleType) -> None:
    job = job_for(plugin, [], {})
    result = plugin.export(job)
    with result.file:
        assert json.load(result.file)["images"] == []
    assert job.progress_calls == [(0, 1)]


def test_plugin_result_file_is_ready_to_upload(plugin: ModuleType, temp_files: list[Any]) -> None:
    result = plugin.export(job_for(plugin, random_project(n=3), {"format": "coco"}))
    with result.file:  # an anonymous temporary file: closing it deletes it
        assert any(handle is result.file for handle in temp_files)
        assert all(handle.closed for handle in temp_files if handle is not result.file)
        assert result.file.tell() == 0  # rewound: the SDK reads from the current position
        assert len(json.load(result.file)["images"]) == 3


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"format": "voc"}, "format should be 'coco' or 'yolo', got \"voc\""),
        (
            {"format": "coco", "polygon_as_boxes": True},
            "unknown key 'polygon_as_boxes' (did you mean 'polygons_as_boxes'?); "
            "known keys: format, polygons_as_boxes, include_polygons",
        ),
        (
            {"format": "yolo", "polygons_as_boxes": "yes"},
            'polygons_as_boxes should be a valid boolean, got "yes"',
        ),
    ],
)
def test_the_sdk_refuses_a_bad_config_before_the_callback_runs(
    plugin: ModuleType, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ango_plugins_sdk.InvalidConfig) as caught:
        plugin.export_plugin.parse_config(config)
    assert str(caught.value) == f"invalid config: {message}"


def test_plugin_stops_on_cancel_and_drops_its_file(
    plugin: ModuleType, temp_files: list[Any]
) -> None:
    job = job_for(plugin, random_project(n=20), {"format": "yolo"})
    original = job.tasks

    def cancelling() -> Iterator[ExportedTask]:
        for i, t in enumerate(original()):
            job.cancelled = i >= 5
            yield t

    job.tasks = cancelling  # type: ignore[method-assign]
    with pytest.raises(plugin.ExportCancelled, match="after 5 of 20 tasks"):
        plugin.export(job)
    assert temp_files
    assert all(handle.closed for handle in temp_files)


def test_example_files(plugin: ModuleType) -> None:
    default = json.loads((EXAMPLE / "default_config.json").read_text())
    assert default == {"format": "coco"}
    assert plugin.export_plugin.parse_config(default) == plugin.ExportConfig()
    assert (EXAMPLE / "README.md").is_file()
    lines = (EXAMPLE / "requirements.txt").read_text().splitlines()
    requirements = [line for line in lines if line.strip() and not line.startswith("#")]
    assert len(requirements) == 1
    # The distribution that ships the SDK: from PyPI, or this checkout (`-e .`).
    assert requirements[0].startswith("plugin-hub") or requirements[0] == "-e ."


# ---------------------------------------------------------------------------------------------
# The plugin end to end, through the SDK's runner and upload (ango_plugins_sdk.testing)

PROJECT = ProjectInfo(id="p1", name="Street/scenes: v2", categories=CATEGORIES)


def test_coco_end_to_end(plugin: ModuleType) -> None:
    run = run_export(
        plugin.export_plugin,
        tasks=random_project(n=250),
        project=PROJECT,
        config={"format": "coco"},
    )
    run.raise_for_failure()
    assert run.filename == "Street_scenes_ v2-coco.json"
    assert run.content_type == "application/json"
    assert run.artifact is not None
    coco = json.loads(run.artifact)
    assert len(coco["images"]) == 250
    assert coco["info"] == {"description": "Street/scenes: v2", "hub_project_id": "p1"}
    assert run.output["artifact"]["size"] == len(run.artifact)
    assert len(run.progress) == 126  # every 2 tasks (1% of 250), and once at the end
    assert run.progress[-1] == (250, 250, None)
    assert run.logs[0].message == "exporting 250 tasks of project 'Street/scenes: v2' as coco"


def test_yolo_end_to_end_from_an_ndjson_file(plugin: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "export.ndjson"
    path.write_text("".join(t.model_dump_json() + "\n" for t in random_project(n=10)))
    run = run_export(
        plugin.export_plugin,
        tasks=path,
        project=PROJECT,
        config={"format": "YOLO", "polygons_as_boxes": True},
    )
    run.raise_for_failure()
    assert run.filename == "Street_scenes_ v2-yolo.zip"
    assert run.content_type == "application/zip"
    assert run.artifact is not None
    with zipfile.ZipFile(io.BytesIO(run.artifact)) as archive:
        assert parse_names(archive.read("data.yaml").decode()) == ["car", "person", "road"]
        assert len(labels(archive)) == 10


def test_a_bad_config_fails_end_to_end_before_any_task_is_read(plugin: ModuleType) -> None:
    run = run_export(plugin.export_plugin, tasks=random_project(n=3), config={"format": "voc"})
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.kind == "ConfigError"
    assert run.error.message == "invalid config: format should be 'coco' or 'yolo', got \"voc\""
    assert run.artifact is None
