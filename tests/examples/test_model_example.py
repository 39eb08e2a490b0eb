"""examples/model: the Haar-cascade detector (pure) on a real photo, and the plugin's callbacks.

The example is a directory of scripts, not a package, so its modules are loaded by path.
The photo is NASA's public-domain portrait of Eileen Collins (tests/fixtures/README.md).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest

import ango_plugins_sdk
from ango_plugins_sdk import BatchModelPlugin, BBox, InvalidConfig, ModelPlugin
from ango_plugins_sdk.manifest import load_manifest
from ango_plugins_sdk.testing import LocalRun, run_batch_model, run_model

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "model"
PHOTO = ROOT / "tests" / "fixtures" / "astronaut.jpg"

# Where the astronaut's face is on the 512 x 512 photo, found once with the default config:
# (176, 65, 96 x 96), centre (224, 113). Asserted with a tolerance below.
PHOTO_SIZE = (512, 512)
FACE_CENTRE = (224.0, 113.0)
FACE_SIDE = 96.0


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pydantic look their module up by name
    spec.loader.exec_module(module)
    return module


detector = _load("model_example_detector", EXAMPLE / "detector.py")
Detector = detector.Detector
ImageError = detector.ImageError


@pytest.fixture(scope="module")
def photo() -> bytes:
    return PHOTO.read_bytes()


def _iou(a: BBox, b: BBox) -> float:
    left, top = max(a.x, b.x), max(a.y, b.y)
    right, bottom = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0.0, right - left) * max(0.0, bottom - top)
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union else 0.0


def _centre(box: BBox) -> tuple[float, float]:
    return box.x + box.w / 2, box.y + box.h / 2


def _faces(boxes: list[BBox]) -> list[BBox]:
    return [box for box in boxes if box.cls == "face"]


def _decode(data: bytes) -> np.ndarray[Any, Any]:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def _encode(image: np.ndarray[Any, Any], ext: str = ".png") -> bytes:
    ok, buffer = cv2.imencode(ext, image)
    assert ok
    return buffer.tobytes()


# --- the detector on the photo -------------------------------------------------------------


def test_photo_fixture_is_small_and_the_expected_size() -> None:
    assert PHOTO.stat().st_size < 150_000
    image = _decode(PHOTO.read_bytes())
    assert image.shape == (*PHOTO_SIZE, 3)


def test_finds_the_astronauts_face(photo: bytes) -> None:
    boxes = Detector().detect(photo)  # default config: faces only

    faces = _faces(boxes)
    assert faces, boxes
    assert all(box.cls == "face" for box in boxes)
    best = faces[0]
    cx, cy = _centre(best)
    width, height = PHOTO_SIZE
    # The upper-middle part of the photo, where her face is ...
    assert 0.3 * width <= cx <= 0.6 * width
    assert 0.1 * height <= cy <= 0.35 * height
    # ... and within a few pixels of where it was measured, about the same size.
    assert abs(cx - FACE_CENTRE[0]) <= 16
    assert abs(cy - FACE_CENTRE[1]) <= 16
    assert 0.75 * FACE_SIDE <= best.w <= 1.25 * FACE_SIDE
    assert 0.75 * FACE_SIDE <= best.h <= 1.25 * FACE_SIDE
    assert best.score is not None
    assert best.score > 0.9


def test_every_class_gives_boxes_inside_the_image(photo: bytes) -> None:
    boxes = Detector({"classes": detector.CLASS_NAMES}).detect(photo)

    width, height = PHOTO_SIZE
    assert {box.cls for box in boxes} >= {"face", "eye", "smile"}
    for box in boxes:
        assert box.cls in detector.CLASS_NAMES
        assert box.w > 0
        assert box.h > 0
        assert box.x >= 0
        assert box.x + box.w <= width
        assert box.y >= 0
        assert box.y + box.h <= height
        assert box.score is not None
        assert 0 <= box.score <= 1
    # The eyes sit in the upper half of the face, the smile in its lower half.
    face = _faces(boxes)[0]
    for box in boxes:
        cx, cy = _centre(box)
        if box.cls in {"eye", "smile"}:
            assert face.x <= cx <= face.x + face.w, box
        if box.cls == "eye":
            assert face.y <= cy <= face.y + face.h / 2 + 5, box
        if box.cls == "smile":
            assert face.y + face.h / 2 <= cy <= face.y + face.h, box


def test_boxes_come_class_by_class_best_first(photo: bytes) -> None:
    boxes = Detector({"classes": ["eye", "face"]}).detect(photo)

    classes = [box.cls for box in boxes]
    assert classes == sorted(classes, key=["eye", "face"].index)
    eyes = [box.score for box in boxes if box.cls == "eye"]
    assert len(eyes) == 2
    assert eyes == sorted(eyes, reverse=True)


def test_smiles_are_only_looked_for_inside_faces(photo: bytes) -> None:
    # On its own, the smile cascade fires all over the photo; here it runs in the face only.
    smiles = Detector({"classes": ["smile"]}).detect(photo)
    assert [box.cls for box in smiles] == ["smile"]
    cx, cy = _centre(smiles[0])
    assert abs(cx - FACE_CENTRE[0]) <= FACE_SIDE / 2
    assert FACE_CENTRE[1] <= cy <= FACE_CENTRE[1] + FACE_SIDE / 2


def test_a_photo_without_faces_gives_no_boxes() -> None:
    rng = np.random.default_rng(0)
    flat = np.full((240, 320), 128, np.uint8)
    noise = rng.integers(0, 256, (240, 320), dtype=np.uint8)
    assert Detector().detect(_encode(flat)) == []
    assert _faces(Detector().detect(_encode(noise))) == []


def test_grayscale_and_png_input_work_like_colour_jpeg(photo: bytes) -> None:
    colour = _decode(photo)
    gray = cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)

    expected = _faces(Detector().detect(photo))[0]
    for data in (_encode(colour, ".png"), _encode(gray, ".png"), _encode(gray, ".jpg")):
        found = _faces(Detector().detect(data))
        assert found
        assert _iou(found[0], expected) > 0.9


# --- downscaling: boxes in the original image's pixels -----------------------------------


def test_downscaled_detection_gives_boxes_in_original_pixels(photo: bytes) -> None:
    full = _faces(Detector({"max_side": 4096}).detect(photo))
    shrunk = _faces(Detector({"max_side": 256}).detect(photo))  # the photo is 512 px

    assert full
    assert shrunk
    assert _iou(shrunk[0], full[0]) > 0.7
    assert shrunk[0] != full[0]  # it really ran on the smaller image


def test_a_big_image_is_shrunk_and_its_boxes_scaled_back(photo: bytes) -> None:
    colour = _decode(photo)
    big = cv2.resize(colour, (1536, 1536), interpolation=cv2.INTER_CUBIC)  # 3x

    boxes = _faces(Detector({"max_side": 512}).detect(_encode(big, ".jpg")))

    assert boxes
    expected = _faces(Detector().detect(photo))[0]
    tripled = BBox(
        cls="face", x=expected.x * 3, y=expected.y * 3, w=expected.w * 3, h=expected.h * 3
    )
    assert _iou(boxes[0], tripled) > 0.7
    for box in boxes:
        assert box.x + box.w <= 1536
        assert box.y + box.h <= 1536


def test_min_size_is_in_original_pixels(photo: bytes) -> None:
    # The face is ~96 px: a 120 px minimum hides it, whatever the image is shrunk to first.
    for max_side in (256, 1280):
        assert Detector({"max_side": max_side, "min_size": [60, 60]}).detect(photo)
        assert not Detector({"max_side": max_side, "min_size": [120, 120]}).detect(photo)


def test_a_wide_image_is_shrunk_by_its_longer_side(photo: bytes) -> None:
    colour = _decode(photo)
    wide = cv2.copyMakeBorder(colour, 0, 0, 0, 512, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    assert wide.shape[:2] == (512, 1024)

    boxes = _faces(Detector({"max_side": 512}).detect(_encode(wide)))

    assert boxes
    assert _iou(boxes[0], _faces(Detector().detect(photo))[0]) > 0.7


# --- score ----------------------------------------------------------------------------------


def test_score_is_tanh_of_half_the_margin_clamped() -> None:
    score = detector.score_from_margin
    assert score(0.0) == 0.0
    assert score(-1.0) == 0.0
    assert score(2.0) == pytest.approx(np.tanh(1.0))
    assert 0 < score(0.5) < score(1.0) < score(4.0) < 1.0
    assert score(1e9) == 1.0


def test_min_score_drops_weaker_boxes(photo: bytes) -> None:
    boxes = Detector({"classes": ["face", "eye"]}).detect(photo)
    scores = sorted({box.score for box in boxes if box.score is not None})
    assert len(scores) >= 2
    cut = (scores[0] + scores[-1]) / 2

    kept = Detector({"classes": ["face", "eye"], "min_score": cut}).detect(photo)

    assert kept
    assert all(box.score is not None and box.score >= cut for box in kept)
    assert len(kept) < len(boxes)


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"this is plainly not an image", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image"),
        (b"\xff\xd8\xff\xe0" + b"garbage" * 5, "not an image"),
    ],
)
def test_not_an_image_raises_a_clear_error(data: bytes, words: str) -> None:
    with pytest.raises(ImageError, match=words) as caught:
        Detector().detect(data)
    assert isinstance(caught.value, ValueError)
    if data:
        assert f"{len(data)} bytes" in str(caught.value)


def test_a_non_bytes_argument_is_refused() -> None:
    with pytest.raises(ImageError, match="expected the image's bytes, got str"):
        Detector().detect("astronaut.jpg")


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"classes": ["nose"]}, r"classes\[0\] should be 'face', 'eye', .*got \"nose\""),
        ({"classes": []}, "classes should have at least 1 item"),
        ({"classes": "face"}, 'classes should be a valid list, got "face"'),
        ({"classes": ["face", "face"]}, "classes: lists 'face' more than once"),
        ({"scale_factor": 1.0}, "scale_factor should be greater than 1, got 1.0"),
        ({"scale_factor": "1.1"}, 'scale_factor should be a valid number, got "1.1"'),
        ({"min_neighbors": -1}, "min_neighbors should be greater than or equal to 0, got -1"),
        ({"min_neighbors": True}, "min_neighbors should be a valid integer, got true"),
        ({"min_neighbors": 2.5}, "min_neighbors should be a valid integer"),
        ({"min_size": [30]}, "min_size should have at least 2 items"),
        ({"min_size": [30, 0]}, r"min_size\[1\] should be greater than or equal to 1, got 0"),
        ({"min_size": "30x30"}, "min_size should be a valid list"),
        ({"max_side": 10}, "max_side should be greater than or equal to 64, got 10"),
        ({"max_side": None}, "max_side should be a valid integer, got null"),
        ({"min_score": 1.5}, "min_score should be less than or equal to 1, got 1.5"),
        ({"max_sides": 512}, "unknown key 'max_sides' \\(did you mean 'max_side'\\?\\)"),
        ({"chunk_size": 0}, "chunk_size should be greater than or equal to 1"),
    ],
)
def test_the_sdk_names_the_field_of_a_bad_config(
    plugin: ModuleType, config: dict[str, Any], words: str
) -> None:
    for served in (plugin.model_plugin, plugin.batch_plugin):
        with pytest.raises(InvalidConfig, match=f"^invalid config: .*{words}"):
            served.parse_config(config)


def test_chunk_size_is_accepted_for_batch_runs(photo: bytes) -> None:
    assert _faces(Detector({"chunk_size": 8}).detect(photo))


def test_every_problem_is_listed_at_once(plugin: ModuleType) -> None:
    with pytest.raises(InvalidConfig) as caught:
        plugin.model_plugin.parse_config({"scale_factor": 0.5, "min_neighbors": "5", "colour": 1})
    message = str(caught.value)
    for key in ("scale_factor", "min_neighbors", "colour"):
        assert key in message


def test_default_config_file_is_the_defaults(plugin: ModuleType) -> None:
    raw = json.loads((EXAMPLE / "default_config.json").read_text())
    assert plugin.model_plugin.parse_config(raw) == detector.DetectorConfig()
    assert Detector(raw).config == Detector().config == Detector({}).config
    assert Detector().config.classes == ["face"]


def test_every_class_has_its_cascade_in_opencv() -> None:
    assert cv2.__version__.split(".")[0] == "4"
    assert detector.CLASS_NAMES == ["face", "eye", "full_body", "upper_body", "smile"]
    for name in detector.CLASS_NAMES:
        cascade = detector._cascade_file(name)
        assert Path(cascade.path).is_file()
        assert isinstance(cascade.last_stage_threshold, float)


# --- batch ----------------------------------------------------------------------------------


@dataclass
class FakeAsset:
    read: Callable[[], bytes]
    url: str = "http://assets.invalid/a.jpg"
    external_id: str | None = None
    width: int = 512
    height: int = 512

    def read_bytes(self) -> bytes:
        return self.read()


@dataclass
class FakeTask:
    task_id: str
    asset: FakeAsset


def _task(task_id: str, data: bytes) -> FakeTask:
    return FakeTask(task_id, FakeAsset(lambda: data))


def _broken(task_id: str, exc: Exception) -> FakeTask:
    def read() -> bytes:
        raise exc

    return FakeTask(task_id, FakeAsset(read))


def test_batch_keeps_each_tasks_failure_to_itself(photo: bytes) -> None:
    tasks = [
        _task("t1", photo),
        _task("t2", b"not an image at all"),
        _broken("t3", OSError("404 Not Found: http://assets.invalid/gone.jpg")),
        _task("t4", photo),
    ]
    told: list[tuple[str, str]] = []

    result = detector.detect_tasks(
        Detector(), tasks, on_error=lambda task_id, reason: told.append((task_id, reason))
    )

    assert set(result) == {"predictions", "errors"}
    assert sorted(result["predictions"]) == ["t1", "t4"]
    assert _faces(result["predictions"]["t1"])
    assert result["predictions"]["t1"] == result["predictions"]["t4"]
    assert sorted(result["errors"]) == ["t2", "t3"]
    assert result["errors"]["t2"].startswith("not an image OpenCV can decode (19 bytes")
    assert result["errors"]["t3"] == "OSError: 404 Not Found: http://assets.invalid/gone.jpg"
    assert told == [("t2", result["errors"]["t2"]), ("t3", result["errors"]["t3"])]


def test_batch_stops_at_a_cancel(photo: bytes) -> None:
    tasks = [_task(f"t{i}", photo) for i in range(5)]
    seen: list[int] = []

    def cancelled() -> bool:
        seen.append(1)
        return len(seen) > 2

    result = detector.detect_tasks(Detector(), tasks, cancelled=cancelled)

    assert sorted(result["predictions"]) == ["t0", "t1"]
    assert result["errors"] == {}


def test_an_empty_chunk_gives_empty_results() -> None:
    assert detector.detect_tasks(Detector(), []) == {"predictions": {}, "errors": {}}


# --- threads ----------------------------------------------------------------------------------


def test_detect_from_four_threads_at_once_gives_the_same_boxes(photo: bytes) -> None:
    config = {"classes": ["face", "eye", "smile"]}
    expected = Detector(config).detect(photo)
    start = threading.Barrier(4)
    results: list[list[BBox]] = []
    classifiers: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            mine = Detector(config)
            start.wait(timeout=30)
            found = [mine.detect(photo) for _ in range(2)]
            with lock:
                results.extend(found)
                classifiers.append(id(detector._classifier("face")))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert len(results) == 8
    assert all(found == expected for found in results)
    assert len(set(classifiers)) == 4  # one classifier per thread, never shared


def test_a_detector_shared_by_threads_is_safe(photo: bytes) -> None:
    shared = Detector()
    expected = shared.detect(photo)
    results: list[list[BBox]] = []
    start = threading.Barrier(4)

    def work() -> None:
        start.wait(timeout=30)
        found = shared.detect(photo)
        results.append(found)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert results == [expected] * 4


# --- the plugin module (needs the SDK's model job types) ------------------------------------


def _sdk_has_model_jobs() -> bool:
    params = inspect.signature(ModelPlugin.__init__).parameters
    return (
        hasattr(ango_plugins_sdk, "ModelJob")
        and hasattr(ango_plugins_sdk, "BatchModelJob")
        and "class_names" in params
    )


needs_sdk = pytest.mark.skipif(
    not _sdk_has_model_jobs(),
    reason="the SDK does not have ModelJob/BatchModelJob and ModelPlugin(class_names=...) yet",
)


@pytest.fixture(scope="module")
def plugin() -> Iterator[ModuleType]:
    # plugin.py does `from detector import ...` (its own directory is on sys.path when it runs
    # as a script); hand it the module loaded above, then put sys.modules back.
    saved = sys.modules.get("detector")
    sys.modules["detector"] = detector
    try:
        yield _load("model_example_plugin", EXAMPLE / "plugin.py")
    finally:
        if saved is None:
            del sys.modules["detector"]
        else:
            sys.modules["detector"] = saved


@dataclass
class FakeJob:
    config: Any = None
    asset: FakeAsset | None = None
    tasks: list[FakeTask] = field(default_factory=list)
    cancelled: bool = False
    progressed: list[tuple[float, float | None, str | None]] = field(default_factory=list)
    logger: logging.Logger = field(default_factory=lambda: logging.Logger("fake-model-job"))

    def progress(
        self, current: float, total: float | None = None, message: str | None = None
    ) -> None:
        self.progressed.append((current, total, message))


@needs_sdk
def test_the_plugins_declare_the_class_names(plugin: ModuleType) -> None:
    assert isinstance(plugin.model_plugin, ModelPlugin)
    assert isinstance(plugin.batch_plugin, BatchModelPlugin)
    for served in (plugin.model_plugin, plugin.batch_plugin):
        assert list(getattr(served, "class_names", ())) == detector.CLASS_NAMES
        # The version comes from the manifest beside plugin.py.
        assert served.version == load_manifest(EXAMPLE / "plugin.toml").version == "1.0.0"


@needs_sdk
def test_model_callback_finds_the_face(plugin: ModuleType, photo: bytes) -> None:
    job = FakeJob(config={"classes": ["face", "eye"]}, asset=FakeAsset(lambda: photo))

    boxes = plugin.detect(job)

    assert [box.cls for box in boxes] == ["face", "eye", "eye"]
    assert job.progressed == [(1, 1, "3 boxes")]


@needs_sdk
def test_the_plugins_have_the_sdk_check_the_config(plugin: ModuleType) -> None:
    # A bad config fails the job before the callback runs, so before any image is fetched.
    for served in (plugin.model_plugin, plugin.batch_plugin):
        assert served.config_model is detector.DetectorConfig


@needs_sdk
def test_batch_callback_returns_predictions_and_errors(plugin: ModuleType, photo: bytes) -> None:
    job = FakeJob(tasks=[_task("good", photo), _task("bad", b"GIF89a?")])

    result = plugin.detect_batch(job)

    assert list(result["predictions"]) == ["good"]
    assert _faces(result["predictions"]["good"])
    assert list(result["errors"]) == ["bad"]
    assert "not an image" in result["errors"]["bad"]


@needs_sdk
def test_batch_callback_raises_when_cancelled(plugin: ModuleType, photo: bytes) -> None:
    job = FakeJob(tasks=[_task("a", photo)], cancelled=True)
    with pytest.raises(RuntimeError, match="cancelled after 0 of 1 tasks"):
        plugin.detect_batch(job)


@needs_sdk
@pytest.mark.parametrize(
    ("argv", "env", "which"),
    [
        ([], None, "model_plugin"),
        (["--batch"], None, "batch_plugin"),
        ([], "batch", "batch_plugin"),
    ],
)
def test_entry_point_picks_the_plugin(
    plugin: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: str | None,
    which: str,
) -> None:
    ran: list[Any] = []
    monkeypatch.setattr(plugin, "run", lambda served, **options: ran.append(served))
    if env is None:
        monkeypatch.delenv("MODEL_MODE", raising=False)
    else:
        monkeypatch.setenv("MODEL_MODE", env)

    plugin.main(argv)

    assert ran == [getattr(plugin, which)]


@needs_sdk
def test_entry_point_takes_the_health_port(
    plugin: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[Any] = []
    monkeypatch.setattr(plugin, "run", lambda served, **options: ran.append(options))
    monkeypatch.delenv("MODEL_MODE", raising=False)
    plugin.main(["--batch", "--health-port", "8081"])
    assert ran == [{"health_port": 8081}]


@needs_sdk
def test_entry_point_refuses_an_unknown_mode(
    plugin: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugin, "run", lambda _plugin: None)
    monkeypatch.setenv("MODEL_MODE", "bulk")
    with pytest.raises(SystemExit):
        plugin.main([])


# --- the plugins end to end, through the SDK's runner (ango_plugins_sdk.testing) -------------


@needs_sdk
def test_a_model_job_end_to_end_finds_the_face(plugin: ModuleType) -> None:
    run = run_model(plugin.model_plugin, image=PHOTO, config={"classes": ["face", "eye"]})
    run.raise_for_failure()
    assert [p["cls"] for p in run.predictions] == ["face", "eye", "eye"]
    face = BBox.model_validate(run.predictions[0])
    assert abs(_centre(face)[0] - FACE_CENTRE[0]) <= 16
    assert abs(_centre(face)[1] - FACE_CENTRE[1]) <= 16
    assert run.progress == [(1, 1, "3 boxes")]
    assert run.logs[-1].message == "3 boxes (1 face, 2 eye) on astronaut.jpg"
    # Every class the plugin declares is mapped, as a hub run with the default mapping would.
    assert set(run.job.input["class_mapping"]) == set(detector.CLASS_NAMES)


@needs_sdk
def test_a_batch_chunk_end_to_end_keeps_each_tasks_failure_to_itself(
    plugin: ModuleType, tmp_path: Path
) -> None:
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_bytes(b"GIF89a?")
    run = run_batch_model(
        plugin.batch_plugin, tasks=[PHOTO, not_an_image], config={"classes": ["face"]}
    )
    run.raise_for_failure()
    assert list(run.predictions) == ["task-1"]
    assert [p["cls"] for p in run.predictions["task-1"]] == ["face"]
    assert list(run.errors) == ["task-2"]
    assert "not an image" in run.errors["task-2"]
    assert any(r.level == "WARNING" and "task task-2 failed" in r.message for r in run.logs)


@needs_sdk
@pytest.mark.parametrize("which", ["model_plugin", "batch_plugin"])
def test_a_bad_config_fails_the_job_end_to_end(plugin: ModuleType, which: str) -> None:
    served = getattr(plugin, which)
    config = {"classes": ["nose"]}
    if which == "model_plugin":
        run: LocalRun = run_model(served, image=PHOTO, config=config)
    else:
        run = run_batch_model(served, tasks=[PHOTO], config=config)
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.kind == "ConfigError"
    assert "nose" in run.error.message
