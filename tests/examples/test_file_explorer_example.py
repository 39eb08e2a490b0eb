"""examples/file_explorer against moto's standalone S3 server, run as a real process.

One bucket, filled once for the module with 2,500 objects in nested folders: PNGs and JPEGs
with real headers of known sizes, text files, directory markers, empty objects and keys just
outside the configured prefix. The example is a directory of scripts, so it is loaded by path.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import logging
import math
import os
import random
import socket
import struct
import subprocess
import sys
import time
import tracemalloc
import urllib.error
import urllib.request
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ango_plugins_sdk import InvalidConfig
from ango_plugins_sdk.testing import run_file_explorer_import, run_file_explorer_list

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "file_explorer"
BUCKET = "plugin-hub-files"
PREFIX = "data/"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pydantic look their module up by name
    spec.loader.exec_module(module)
    return module


explorer = _load("file_explorer_example_explorer", EXAMPLE / "explorer.py")
ExplorerError = explorer.ExplorerError


def _load_plugin() -> ModuleType:
    # plugin.py does `from explorer import ...` (its directory is on sys.path when it runs as a
    # script); hand it the module loaded above, then put sys.modules back.
    saved, saved_path = sys.modules.get("explorer"), list(sys.path)
    sys.modules["explorer"] = explorer
    try:
        return _load("file_explorer_example_plugin", EXAMPLE / "plugin.py")
    finally:
        sys.path[:] = saved_path
        if saved is None:
            del sys.modules["explorer"]
        else:
            sys.modules["explorer"] = saved


plugin = _load_plugin()


# --- images with real headers ----------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def png(width: int, height: int, *, noise: bool = False) -> bytes:
    """A complete, valid greyscale PNG: all black, or noise (which does not compress)."""
    if noise:
        pixels = random.Random(width * height).randbytes
        rows = b"".join(b"\x00" + pixels(width) for _ in range(height))
    else:
        rows = (b"\x00" + bytes(width)) * height
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(rows, 1))
        + _chunk(b"IEND", b"")
    )


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _exif(orientation: int, order: str) -> bytes:
    fmt = "<" if order == "II" else ">"
    head = (b"II*\x00" if order == "II" else b"MM\x00*") + struct.pack(fmt + "I", 8)
    make = struct.pack(fmt + "HHI", 0x010F, 2, 4) + b"Cam\x00"
    rotation = struct.pack(fmt + "HHIH", 0x0112, 3, 1, orientation) + b"\x00\x00"
    return b"Exif\x00\x00" + head + struct.pack(fmt + "H", 2) + make + rotation + bytes(4)


@functools.cache
def jpeg(
    width: int,
    height: int,
    *,
    sof: int = 0xC0,
    orientation: int | None = None,
    order: str = "II",
    padding: int = 0,
) -> bytes:
    """A JPEG's real segment structure (JFIF, EXIF, DQT, SOF, DHT, SOS) around a token scan."""
    out = bytearray(b"\xff\xd8")
    out += _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    if orientation is not None:
        out += _segment(0xE1, _exif(orientation, order))
    while padding > 0:  # e.g. a large ICC profile or maker notes before the frame header
        size = min(padding, 65_533)
        out += _segment(0xE2, b"ICC_PROFILE\x00" + bytes(size - 12))
        padding -= size
    out += _segment(0xDB, b"\x00" + bytes(range(1, 65)))
    out += b"\xff"  # a fill byte, which decoders skip
    components = b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    out += _segment(sof, struct.pack(">BHH", 8, height, width) + components)
    out += _segment(0xC4, b"\x00" + bytes([0, 1] + [0] * 14) + b"\x00")
    out += _segment(0xDA, b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00")
    out += b"\x12\x34\xff\x00\x56\xff\xd0\x78" + b"\xff\xd9"
    return bytes(out)


PNG_SIZES = [(1, 1), (17, 9), (640, 480), (1920, 1080), (3, 700)]
JPEG_SIZES = [(800, 600), (1, 1), (4032, 3024), (65_535, 2), (300, 7000)]


def _body(index: int, ext: str) -> tuple[bytes, tuple[int, int] | None]:
    if ext.lower() == ".png":
        size = PNG_SIZES[index % len(PNG_SIZES)]
        return png(*size), size
    if ext.lower() in (".jpg", ".jpeg"):
        size = JPEG_SIZES[index % len(JPEG_SIZES)]
        return jpeg(*size), size
    return f"notes {index}\n".encode(), None


def _build() -> tuple[dict[str, bytes], dict[str, tuple[int, int]]]:
    objects: dict[str, bytes] = {}
    dims: dict[str, tuple[int, int]] = {}

    def put(key: str, index: int, ext: str) -> None:
        body, size = _body(index, ext)
        objects[key + ext] = body
        if size is not None:
            dims[key + ext] = size

    cycle = [".png", ".jpg", ".JPG", ".txt", ".jpeg", ".PNG"]
    for marker in ["data/", "data/big/", "data/cams/cam05/", "data/empty/", "data/nested/a/"]:
        objects[marker] = b""
    for i in range(122):
        put(f"data/root_{i:03d}", i, cycle[i % len(cycle)])
    objects["data/zero.png"] = b""  # empty: never an asset
    for i in range(1100):
        put(f"data/big/img_{i:04d}", i, cycle[i % len(cycle)])
    for cam in range(8):
        for frame in range(150):
            put(f"data/cams/cam{cam:02d}/frame_{frame:03d}", cam + frame, cycle[frame % 6])
    put("data/cams/cam05/sub/deeper/x", 3, ".png")
    for i in range(70):
        put(f"data/nested/a/b/c/leaf_{i:02d}", i, [".png", ".jpg"][i % 2])
    # Outside the prefix, some sharing its first characters.
    objects["outside/secret.png"] = png(2, 2)
    objects["data-other/x.png"] = png(2, 2)
    objects["data.png"] = png(2, 2)
    # Headers the dimension probe must get right.
    special = {
        "data/special/rotated.jpg": (jpeg(4032, 3024, orientation=6), (3024, 4032)),
        "data/special/rotated_mm.JPEG": (jpeg(640, 480, orientation=8, order="MM"), (480, 640)),
        "data/special/upright.jpg": (jpeg(640, 480, orientation=1, order="MM"), (640, 480)),
        "data/special/progressive.jpg": (jpeg(1280, 720, sof=0xC2), (1280, 720)),
        # SOF 190 KB in: behind three big APP2 segments the probe jumps over.
        "data/special/far_sof.jpg": (jpeg(2000, 1500, padding=190_000), (2000, 1500)),
        "data/special/wide.png": (png(1920, 1080), (1920, 1080)),
        "data/special/huge.png": (png(400, 300, noise=True), (400, 300)),
    }
    for key, (body, size) in special.items():
        objects[key] = body
        dims[key] = size
    objects["data/special/readme.txt"] = b"not an image"
    return objects, dims


OBJECTS, DIMS = _build()
IMAGES = {
    key for key in OBJECTS if key.lower().endswith((".png", ".jpg", ".jpeg")) and OBJECTS[key]
}


def test_the_bucket_is_big_enough_to_page_through() -> None:
    assert len(OBJECTS) >= 2500
    # The copy-mode size cap test relies on these.
    assert len(OBJECTS["data/special/huge.png"]) > 100_000
    assert len(OBJECTS["data/special/far_sof.jpg"]) > 190_000
    assert all(
        len(OBJECTS[f"data/special/{name}"]) < 100_000 for name in ["wide.png", "upright.jpg"]
    )


# --- moto, as a real process -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"moto exited with {process.returncode}: {log_path.read_text()}")
            try:
                urllib.request.urlopen(url + "/", timeout=1).close()  # noqa: S310
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto did not answer on {url}: {log_path.read_text()}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def s3(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The example's own client, made from the environment only, on a filled bucket."""
    nowhere = tmp_path_factory.mktemp("aws") / "none"
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("AWS_") or name == "S3_ADDRESSING_STYLE":
                mp.delenv(name)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_ENDPOINT_URL", moto_url)
        mp.setenv("AWS_CONFIG_FILE", str(nowhere))  # nothing from the machine's ~/.aws
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
        client = explorer.make_client()
        client.create_bucket(Bucket=BUCKET)
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda item: client.put_object(Bucket=BUCKET, Key=item[0], Body=item[1]),
                    OBJECTS.items(),
                )
            )
        yield client
        # The plugin's process-wide client was made in this environment: drop it with it.
        plugin.__dict__["_client"] = None


def config(**values: Any) -> Any:
    return explorer.ExplorerConfig.model_validate({"bucket": BUCKET, "prefix": "data", **values})


# --- config ----------------------------------------------------------------------------------


def test_config_defaults_and_prefix_normalisation() -> None:
    parse = plugin.explorer_plugin.parse_config
    cfg = parse({"bucket": "b"})
    assert (cfg.prefix, cfg.import_mode, cfg.url_expiry_s) == ("", "presigned", 3600)
    assert (cfg.max_page_size, cfg.max_object_bytes, cfg.probe_dimensions) == (
        1000,
        50 * 1024 * 1024,
        True,
    )
    for prefix, normal in [("data", "data/"), ("/data/", "data/"), ("a/b", "a/b/"), ("", "")]:
        assert parse({"bucket": "b", "prefix": prefix}).prefix == normal
    assert parse({"bucket": "b", "url_expiry_s": 604_800}).url_expiry_s == 604_800
    shipped = json.loads((EXAMPLE / "default_config.json").read_text(encoding="utf-8"))
    assert parse(shipped) == parse({"bucket": "my-bucket"})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "bucket is required"),
        ({"prefix": "x"}, "bucket is required"),
        ({"bucket": ""}, 'bucket should have at least 1 character, got ""'),
        ({"bucket": "a/b"}, "bare bucket name"),
        ({"bucket": "b", "buckets": "x"}, "unknown key 'buckets' (did you mean 'bucket'?)"),
        ({"bucket": "b", "url_expiry_s": 0}, "url_expiry_s should be greater than"),
        ({"bucket": "b", "url_expiry_s": 604_801}, "url_expiry_s should be less than"),
        ({"bucket": "b", "url_expiry_s": "3600"}, "url_expiry_s should be a valid int"),
        ({"bucket": "b", "import_mode": "link"}, "import_mode should be 'presigned'"),
        ({"bucket": "b", "probe_dimensions": "yes"}, "probe_dimensions should be a valid"),
        ({"bucket": "b", "max_page_size": 1001}, "max_page_size should be less than"),
        ({"bucket": "b", "prefix": "a/../b"}, "contains '..'"),
    ],
)
def test_bad_config_is_refused_with_a_reason(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConfig, match=r"^invalid config: ") as caught:
        plugin.explorer_plugin.parse_config(raw)
    assert message in str(caught.value)


# --- image dimensions (pure) -----------------------------------------------------------------


def _gif(w: int, h: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", w, h) + b"\x00\x00\x00;"


def _bmp(w: int, h: int, *, core: bool = False) -> bytes:
    if core:
        return b"BM" + bytes(12) + struct.pack("<IHHHH", 12, w, h, 1, 24)
    return b"BM" + bytes(12) + struct.pack("<Iii", 40, w, h) + bytes(28)


def _webp(kind: bytes, payload: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(payload)) + b"WEBP" + kind + payload


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(17, 9), (17, 9)),
        (png(1920, 1080)[:64], (1920, 1080)),
        (jpeg(800, 600), (800, 600)),
        (jpeg(65_535, 2), (65_535, 2)),
        (jpeg(1280, 720, sof=0xC2), (1280, 720)),
        (jpeg(4032, 3024, orientation=6), (3024, 4032)),
        (jpeg(4032, 3024, orientation=7, order="MM"), (3024, 4032)),
        (jpeg(4032, 3024, orientation=3), (4032, 3024)),
        (jpeg(2000, 1500, padding=190_000), (2000, 1500)),
        (_gif(320, 200), (320, 200)),
        (_bmp(640, -480), (640, 480)),
        (_bmp(33, 44, core=True), (33, 44)),
        (
            _webp(b"VP8X", struct.pack("<I", 10) + bytes(4) + (99).to_bytes(3, "little") * 2),
            (100, 100),
        ),
        (_webp(b"VP8L", struct.pack("<IBI", 5, 0x2F, (63) | (31 << 14))), (64, 32)),
        (
            _webp(
                b"VP8 ",
                struct.pack("<I", 10) + b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", 500, 400),
            ),
            (500, 400),
        ),
        (jpeg(640, 480)[:60], None),  # cut before the frame header
        (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", bytes(13)), None),  # 0 x 0
        (png(1_000_001, 1)[:40], None),  # more than the hub takes: a damaged header
        (b"\xff\xd8\xff\xda\x00\x02", None),  # scan before any frame header
        (b"not an image at all", None),
        (b"", None),
    ],
    ids=lambda value: None if isinstance(value, bytes) else str(value),
)
def test_image_size_from_headers(data: bytes, size: tuple[int, int] | None) -> None:
    assert explorer.image_size(data) == size


# --- list ------------------------------------------------------------------------------------


def _expected(folder: str) -> tuple[set[str], dict[str, int]]:
    """Subfolder names and {file name: size} directly in `folder` (relative to the prefix)."""
    base = PREFIX + folder
    folders, files = set(), {}
    for key, body in OBJECTS.items():
        if not key.startswith(base) or key == base:
            continue
        rest = key[len(base) :]
        if "/" in rest:
            folders.add(rest.split("/", 1)[0])
        else:
            files[rest] = len(body)
    return folders, files


def _list_all(s3: Any, folder: str, page_size: int, **cfg: Any) -> list[Any]:
    pages, token = [], None
    while True:
        page = explorer.list_page(s3, config(**cfg), folder, token, page_size)
        pages.append(page)
        token = page.next_page_token
        if token is None:
            return pages
        assert len(pages) < 100, "paging does not end"


@pytest.mark.parametrize(
    "folder", ["", "big", "cams", "cams/cam05/", "nested/a", "nested/a/b/c", "empty"]
)
def test_paging_visits_every_entry_exactly_once(s3: Any, folder: str) -> None:
    pages = _list_all(s3, folder, 100)
    folders = Counter(f.name for page in pages for f in page.folders)
    files = Counter(f.name for page in pages for f in page.files)
    assert all(count == 1 for count in (folders + files).values())
    want_folders, want_files = _expected(folder.rstrip("/") + "/" if folder else "")
    assert set(folders) == want_folders
    assert {f.name: f.size for page in pages for f in page.files} == want_files
    # Folders and files share each page's 100 slots, as S3 counts them (a marker takes one).
    assert all(len(page.folders) + len(page.files) <= 100 for page in pages)
    entries = len(want_folders) + len(want_files)
    assert len(pages) >= math.ceil(entries / 100)
    assert len(pages) <= max(1, math.ceil((entries + 1) / 100))
    # Keys are relative to the configured prefix and lead back where they came from.
    here = folder.rstrip("/") + "/" if folder else ""
    for page in pages:
        for entry in page.folders:
            assert entry.key == f"{here}{entry.name}/"
        for entry in page.files:
            assert entry.key == here + entry.name
            assert datetime.fromisoformat(entry.modified).tzinfo is not None


def test_the_root_and_a_big_folder_need_many_pages(s3: Any) -> None:
    root = _list_all(s3, "", 100)
    assert len(root) == 2  # 123 files and 5 folders
    assert {f.name for f in root[0].folders + root[1].folders} == {
        "big",
        "cams",
        "empty",
        "nested",
        "special",
    }
    big = _list_all(s3, "big", 100)
    assert len(big) == 12  # 1,100 files, plus the marker S3 counts
    assert sum(len(page.files) for page in big) == 1100
    assert not any(page.folders for page in big)
    nested = explorer.list_page(s3, config(), "nested/a/b/c/", None, 1000)
    assert (len(nested.files), nested.next_page_token) == (70, None)
    # The config caps the page size whatever the job asks for.
    capped = explorer.list_page(s3, config(max_page_size=7), "big", None, 1000)
    assert len(capped.files) == 6  # the marker took the seventh slot
    assert capped.next_page_token


def test_folder_sizes_names_and_a_page_token_of_another_folder(s3: Any) -> None:
    page = explorer.list_page(s3, config(), "special", None, 100)
    sizes = {f.name: f.size for f in page.files}
    assert sizes["far_sof.jpg"] == len(OBJECTS["data/special/far_sof.jpg"]) > 190_000
    assert sizes["readme.txt"] == len(b"not an image")
    root = explorer.list_page(s3, config(prefix=""), "", None, 100)
    assert {f.name for f in root.folders} == {"data", "data-other", "outside"}
    assert [f.name for f in root.files] == ["data.png"]


@pytest.mark.parametrize("bad", [0, -1, True, "100"])
def test_a_bad_page_size_is_refused(s3: Any, bad: Any) -> None:
    with pytest.raises(ExplorerError, match="page_size must be a positive integer"):
        explorer.list_page(s3, config(), "", None, bad)


# --- prefix confinement ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("..", "contains '..'"),
        ("../outside", "contains '..'"),
        ("big/../../outside", "contains '..'"),
        ("big/..", "contains '..'"),
        ("..\\outside", "contains '..'"),
        ("/outside", "absolute path"),
        ("/", "absolute path"),
        ("\\outside", "absolute path"),
        ("big\x00", "control characters"),
    ],
)
def test_a_folder_cannot_leave_the_prefix(s3: Any, folder: str, message: str) -> None:
    with pytest.raises(ExplorerError, match=r"cannot leave|absolute|control") as caught:
        explorer.list_page(s3, config(), folder, None, 100)
    assert message in str(caught.value)
    with pytest.raises(ExplorerError, match=r"cannot leave|absolute|control"):
        explorer.iter_import(s3, config(), folder=folder)  # refused before any item is asked


def test_files_cannot_leave_the_prefix_or_be_folders(s3: Any) -> None:
    for bad, message in [
        ("../outside/secret.png", "contains '..'"),
        ("/outside/secret.png", "absolute path"),
        ("big/", "is a folder"),
        ("", "is a folder"),
    ]:
        with pytest.raises(ExplorerError) as caught:
            explorer.iter_import(s3, config(), files=["root_000.png", bad])
        assert message in str(caught.value)
    # Keys next to the prefix that share its first characters stay out of sight.
    cfg = config(probe_dimensions=False)
    everything = {item.external_id for item in explorer.iter_import(s3, cfg, recursive=True)}
    assert everything == {key for key in IMAGES if key.startswith(PREFIX)}
    assert not {"data.png", "data-other/x.png", "outside/secret.png"} & everything


# --- import ----------------------------------------------------------------------------------


def _images_under(folder: str, *, recursive: bool, exts: tuple[str, ...] = ()) -> set[str]:
    base = PREFIX + folder
    exts = exts or (".png", ".jpg", ".jpeg")
    return {
        key
        for key in IMAGES
        if key.startswith(base)
        and (recursive or "/" not in key[len(base) :])
        and key.lower().endswith(exts)
    }


def test_recursive_import_takes_every_image_under_the_folder_once(s3: Any) -> None:
    stats = explorer.ImportStats()
    items = list(
        explorer.iter_import(
            s3, config(probe_dimensions=False), folder="cams", recursive=True, stats=stats
        )
    )
    ids = Counter(item.external_id for item in items)
    assert set(ids) == _images_under("cams/", recursive=True)
    assert len(ids) == len(items) == 1001  # 8 x 150 frames, 1 in 6 a .txt, plus sub/deeper/x.png
    assert "data/cams/cam05/sub/deeper/x.png" in ids
    assert all(item.url and item.data is None for item in items)
    assert (stats.imported, stats.wrong_extension, stats.directory_markers) == (1001, 200, 1)


def test_non_recursive_import_takes_only_direct_children(s3: Any) -> None:
    cam05 = list(explorer.iter_import(s3, config(probe_dimensions=False), folder="cams/cam05"))
    assert {item.external_id for item in cam05} == _images_under("cams/cam05/", recursive=False)
    assert len(cam05) == 125
    assert not list(explorer.iter_import(s3, config(), folder="cams"))  # folders only
    root = {item.external_id for item in explorer.iter_import(s3, config(probe_dimensions=False))}
    assert root == _images_under("", recursive=False)
    assert "data/zero.png" not in root  # empty objects are never assets


@pytest.mark.parametrize(
    ("extensions", "suffixes"),
    [
        (["PNG"], (".png",)),
        ([".png", "*.JPEG"], (".png", ".jpeg")),
        (["jpg"], (".jpg",)),
        (["*.txt"], (".txt",)),
    ],
)
def test_the_extension_filter_ignores_case(
    s3: Any, extensions: list[str], suffixes: tuple[str, ...]
) -> None:
    items = explorer.iter_import(
        s3, config(probe_dimensions=False), folder="big", extensions=extensions
    )
    got = {item.external_id for item in items}
    want = {
        key for key in OBJECTS if key.startswith("data/big/img_") and key.lower().endswith(suffixes)
    }
    assert got == want
    assert any(key.endswith(".PNG") for key in got) == (".png" in suffixes)


@pytest.mark.parametrize("bad", ["", ".", "a/b"])
def test_a_bad_extension_is_refused(bad: str) -> None:
    with pytest.raises(ExplorerError, match="is not a file extension"):
        explorer.normalize_extensions([".png", bad])


@pytest.mark.parametrize(
    "cfg",
    [{"probe_dimensions": True}, {"probe_dimensions": False}, {"import_mode": "copy"}],
    ids=["probe", "head", "copy"],
)
def test_an_explicit_file_list(s3: Any, cfg: dict[str, Any]) -> None:
    files = [
        "root_000.png",
        "big/img_0001.jpg",
        "root_000.png",  # twice
        "root_003.txt",  # not an image
        "nope/missing.png",
        "zero.png",  # empty
        "special/rotated.jpg",
    ]
    stats = explorer.ImportStats()
    items = list(explorer.iter_import(s3, config(**cfg), files=files, stats=stats))
    assert [item.external_id for item in items] == [
        "data/root_000.png",
        "data/big/img_0001.jpg",
        "data/special/rotated.jpg",
    ]
    assert (stats.duplicates, stats.wrong_extension, stats.missing, stats.empty) == (1, 1, 1, 1)
    assert stats.skipped_keys == ["data/nope/missing.png", "data/zero.png"]
    assert "missing=1" in stats.summary()


def test_presigned_urls_download_the_bytes(s3: Any) -> None:
    items = list(
        explorer.iter_import(s3, config(url_expiry_s=900), folder="special", extensions=["jpg"])
    )
    assert len(items) == 4
    for item in items:
        assert "X-Amz-Expires=900" in item.url
        assert "X-Amz-Signature=" in item.url
        with urllib.request.urlopen(item.url, timeout=10) as response:  # noqa: S310
            assert response.read() == OBJECTS[item.external_id]


def test_copy_mode_returns_the_bytes_and_skips_what_is_too_large(s3: Any) -> None:
    stats = explorer.ImportStats()
    items = list(
        explorer.iter_import(
            s3,
            config(import_mode="copy", max_object_bytes=100_000),
            folder="special",
            stats=stats,
        )
    )
    by_id = {item.external_id: item for item in items}
    assert set(by_id) == {
        key for key in _images_under("special/", recursive=False) if len(OBJECTS[key]) <= 100_000
    }
    assert "data/special/huge.png" not in by_id
    assert "data/special/far_sof.jpg" not in by_id  # 190 KB of metadata
    assert (stats.too_large, stats.skipped_keys) == (
        2,
        ["data/special/far_sof.jpg", "data/special/huge.png"],
    )
    for key, item in by_id.items():
        assert item.url is None
        assert item.data == OBJECTS[key]
        assert item.filename == key.rsplit("/", 1)[1]
        assert (item.width, item.height) == DIMS[key]
    # Without probing nothing is measured; a bigger cap takes everything.
    bare = list(
        explorer.iter_import(
            s3, config(import_mode="copy", probe_dimensions=False), folder="special"
        )
    )
    assert len(bare) == 7
    assert all(item.width is None and item.height is None for item in bare)


class Counting:
    """An S3 client that counts (and can describe) the calls made through it."""

    def __init__(self, client: Any, on_list: Any = None, *, fake_urls: bool = False) -> None:
        self._client = client
        self._on_list = on_list
        self._fake_urls = fake_urls
        self.calls: Counter[str] = Counter()
        self.ranges: list[str] = []

    def list_objects_v2(self, **params: Any) -> Any:
        self.calls["list"] += 1
        if self._on_list is not None:
            self._on_list()
        return self._client.list_objects_v2(**params)

    def get_object(self, **params: Any) -> Any:
        self.calls["get"] += 1
        if "Range" in params:
            self.ranges.append(f"{params['Key']} {params['Range']}")
        return self._client.get_object(**params)

    def head_object(self, **params: Any) -> Any:
        self.calls["head"] += 1
        return self._client.head_object(**params)

    def generate_presigned_url(self, *args: Any, **kwargs: Any) -> Any:
        if self._fake_urls:  # signing retains nothing, and is slow under tracemalloc
            return f"https://signed.example/{kwargs['Params']['Key']}"
        return self._client.generate_presigned_url(*args, **kwargs)


def test_dimensions_are_probed_with_small_ranged_reads(s3: Any) -> None:
    client = Counting(s3)
    items = list(explorer.iter_import(client, config(), folder="nested", recursive=True))
    items += explorer.iter_import(client, config(), folder="special")
    assert len(items) == 70 + 7
    for item in items:
        assert (item.width, item.height) == DIMS[item.external_id], item.external_id
    # One 64 KiB read per image, except the JPEG whose frame header is 190 KB in: the probe
    # jumps from segment to segment instead of reading what lies between.
    far = [r for r in client.ranges if r.startswith("data/special/far_sof.jpg ")]
    assert far == [
        "data/special/far_sof.jpg bytes=0-65535",
        "data/special/far_sof.jpg bytes=65557-81940",  # 16 KiB at each segment header
        "data/special/far_sof.jpg bytes=131094-147477",
        "data/special/far_sof.jpg bytes=190032-206415",
    ]
    assert client.calls["get"] == 77 + 3
    assert client.calls["head"] == 0


def test_import_is_lazy_and_memory_stays_flat(s3: Any) -> None:
    client = Counting(s3)
    items = explorer.iter_import(client, config(probe_dimensions=False), recursive=True)
    assert client.calls["list"] == 0  # nothing happens before the first item is asked for
    first = next(items)
    assert first.external_id.startswith(PREFIX)
    assert client.calls["list"] == 1
    for _ in range(400):
        next(items)
    assert client.calls["list"] == 1  # the second page waits until the first is used up
    items.close()

    # Memory, measured at each listing call: what is held between pages stays small, and the
    # peak (parsing one page of 1,000 keys) is the same for the third page as for the first.
    def peaks(consume: Any) -> tuple[list[tuple[int, int]], Any]:
        def mark() -> None:
            per_page.append(tracemalloc.get_traced_memory())
            tracemalloc.reset_peak()

        per_page: list[tuple[int, int]] = []
        client = Counting(s3, on_list=mark, fake_urls=True)
        tracemalloc.start()
        try:
            result = consume(
                explorer.iter_import(client, config(probe_dimensions=False), recursive=True)
            )
            return [*per_page, tracemalloc.get_traced_memory()], result
        finally:
            tracemalloc.stop()

    lazy, count = peaks(lambda it: sum(1 for _ in it))
    assert count == len(_images_under("", recursive=True)) > 2000
    assert len(lazy) == 4  # before the first list call, after each of the 3 pages, at the end
    lazy_now, lazy_peak = [now for now, _ in lazy[1:]], [peak for _, peak in lazy[1:]]
    assert max(lazy_now) < 1024 * 1024, lazy  # nothing piles up from page to page
    assert max(lazy_peak) < 1.2 * lazy_peak[0], lazy  # the first page's peak is the peak
    assert max(lazy_peak) < 8 * 1024 * 1024, lazy

    # What keeping them would take instead: 500 items, measured once their generator is gone.
    tracemalloc.start()
    try:
        source = explorer.iter_import(
            Counting(s3, fake_urls=True), config(probe_dimensions=False), recursive=True
        )
        kept = list(itertools.islice(source, 500))
        source.close()
        per_item = tracemalloc.get_traced_memory()[0] / len(kept)
    finally:
        tracemalloc.stop()
    assert max(lazy_now) < per_item * count / 4, (lazy, per_item)


def test_storage_errors_say_what_to_check(s3: Any) -> None:
    cfg = explorer.ExplorerConfig(bucket="no-such-bucket")
    with pytest.raises(explorer.StorageError, match="bucket 'no-such-bucket' does not exist"):
        explorer.list_page(s3, cfg, "", None, 10)
    with pytest.raises(explorer.StorageError, match="does not exist"):
        list(explorer.iter_import(s3, cfg, folder="x"))


# --- the plugin's callback -------------------------------------------------------------------


class FakeJob:
    """What the callback uses of `FileExplorerJob`, its config validated as the SDK does."""

    def __init__(self, operation: str | None, config: dict[str, Any], **input: Any) -> None:
        self.operation = operation
        self.config = plugin.explorer_plugin.parse_config(config)
        self.folder: str = input.get("folder", "")
        self.page_token: str | None = input.get("page_token")
        self.page_size: int = input.get("page_size", 100)
        self.recursive: bool = input.get("recursive", False)
        self.files: list[str] = input.get("files", [])
        self.extensions: list[str] = input.get("extensions", [])
        self.cancelled = False
        self.logger = logging.getLogger("tests.file_explorer_example")
        self.progress_calls: list[tuple[float, float | None]] = []

    def progress(
        self, current: float, total: float | None = None, message: str | None = None
    ) -> None:
        # The SDK's own rule (BaseJob.progress).
        assert current >= 0
        assert total is None or total > 0
        self.progress_calls.append((current, total))


CONFIG = {"bucket": BUCKET, "prefix": "data/"}


def test_the_callback_lists_a_page(s3: Any) -> None:
    page = plugin.explore(FakeJob("list", CONFIG, folder="big", page_size=250))
    assert isinstance(page, explorer.ListingPage)
    assert len(page.files) == 249
    following = plugin.explore(
        FakeJob("list", CONFIG, folder="big", page_size=250, page_token=page.next_page_token)
    )
    assert following.files[0].name.startswith("img_0249.")


def test_the_callback_imports_with_a_running_count(
    s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    job = FakeJob("import", {**CONFIG, "probe_dimensions": False}, folder="nested", recursive=True)
    with caplog.at_level(logging.INFO, logger="tests.file_explorer_example"):
        items = list(plugin.explore(job))
    assert len(items) == 70
    assert job.progress_calls == [(n, None) for n in range(10, 71, 10)] + [(70, 70)]
    assert "import done: seen=71, imported=70, directory markers=1" in caplog.text
    empty = FakeJob("import", CONFIG, folder="empty")
    assert list(plugin.explore(empty)) == []
    assert empty.progress_calls == [(0, None)]


def test_the_callback_stops_when_cancelled(s3: Any) -> None:
    job = FakeJob("import", {**CONFIG, "probe_dimensions": False}, folder="big")
    items = plugin.explore(job)
    for _ in range(5):
        next(items)
    job.cancelled = True
    with pytest.raises(plugin.ImportCancelled, match="after 5 items"):
        next(items)


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (FakeJob("delete", CONFIG), "unknown file explorer operation 'delete'"),
        (FakeJob(None, CONFIG), "unknown file explorer operation None"),
        (FakeJob("list", CONFIG, folder="../x"), "contains '..'"),
        (FakeJob("import", CONFIG, files=["../x.png"]), "contains '..'"),
        (FakeJob("import", CONFIG, extensions=["a/b"]), "is not a file extension"),
    ],
)
def test_the_callback_refuses_bad_jobs_up_front(s3: Any, job: FakeJob, message: str) -> None:
    with pytest.raises(ExplorerError) as caught:
        plugin.explore(job)  # the call itself raises: nothing is iterated
    assert message in str(caught.value)


# --- the plugin end to end, through the SDK's runner (ango_plugins_sdk.testing) -------------


def test_a_list_job_end_to_end(s3: Any) -> None:
    run = run_file_explorer_list(plugin.explorer_plugin, config=CONFIG, folder="big", page_size=250)
    page = run.raise_for_failure().listing
    assert page is not None
    assert len(page.files) == 249  # and its "big/" marker is not a file
    following = run_file_explorer_list(
        plugin.explorer_plugin,
        config=CONFIG,
        folder="big",
        page_size=250,
        page_token=page.next_page_token,
    ).listing
    assert following is not None
    assert following.files[0].name.startswith("img_0249.")


def test_an_import_by_presigned_url_end_to_end(s3: Any) -> None:
    run = run_file_explorer_import(
        plugin.explorer_plugin,
        config={**CONFIG, "probe_dimensions": False},
        folder="nested",
        recursive=True,
        dedupe=True,
    )
    run.raise_for_failure()
    assert run.output == {"created": 70, "skipped": 0, "items": 70}
    assert {item.external_id for item in run.imported} == _images_under("nested/", recursive=True)
    assert all(item.url is not None and "X-Amz-Signature=" in item.url for item in run.imported)
    assert run.progress[-1] == (70, 70, "70 items")
    assert any("import done: seen=71, imported=70" in r.message for r in run.logs)


def test_an_import_in_copy_mode_uploads_the_bytes_end_to_end(s3: Any) -> None:
    files = ["special/wide.png", "special/upright.jpg", "root_003.txt"]
    run = run_file_explorer_import(
        plugin.explorer_plugin, config={**CONFIG, "import_mode": "copy"}, files=files
    )
    run.raise_for_failure()
    assert run.output == {"created": 2, "skipped": 0, "items": 2}
    uploaded = {item.external_id: item for item in run.imported}
    assert set(uploaded) == {"data/special/wide.png", "data/special/upright.jpg"}
    for key, item in uploaded.items():
        assert item.data == OBJECTS[key]
        assert item.filename == key.rsplit("/", 1)[1]


def test_a_bad_job_or_config_fails_end_to_end(s3: Any) -> None:
    escaping = run_file_explorer_list(plugin.explorer_plugin, config=CONFIG, folder="../x")
    assert escaping.status == "failed"
    assert escaping.error is not None
    assert escaping.error.kind == "ExplorerError"
    assert "contains '..'" in escaping.error.message
    no_bucket = run_file_explorer_list(plugin.explorer_plugin, config={"prefix": "data/"})
    assert no_bucket.error is not None
    assert no_bucket.error.kind == "ConfigError"
    assert "bucket" in no_bucket.error.message
