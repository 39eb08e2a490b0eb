"""A file explorer over a made-up tree of 250 images, to test what the hub does with it.

Folders: a/ (120 files, 30 in a/deep/), b/ (100 files), and 30 files at the root.
config.mode "copy" imports bytes instead of URLs.
"""

import struct
import zlib

from ango_plugins_sdk import (
    FileEntry,
    FileExplorerJob,
    FileExplorerPlugin,
    FolderEntry,
    ImportItem,
    ListingPage,
    run,
)

TREE = (
    [f"a/img{n:03}.png" for n in range(90)]
    + [f"a/deep/img{n:03}.png" for n in range(30)]
    + [f"b/img{n:03}.jpg" for n in range(100)]
    + [f"root{n:03}.png" for n in range(30)]
)


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x00" * 12 for _ in range(3))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def children(folder: str) -> tuple[list[str], list[str]]:
    prefix = f"{folder}/" if folder else ""
    folders, files = set(), []
    for key in TREE:
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            if "/" in rest:
                folders.add(prefix + rest.split("/")[0])
            else:
                files.append(key)
    return sorted(folders), files


def explore(job: FileExplorerJob[dict]):
    if job.operation == "list":
        folders, files = children(job.folder)
        entries = [("d", f) for f in folders] + [("f", f) for f in files]
        start = int(job.page_token or 0)
        page = entries[start : start + job.page_size]
        more = start + job.page_size < len(entries)
        return ListingPage(
            folders=[FolderEntry(name=k.rsplit("/", 1)[-1], key=k) for t, k in page if t == "d"],
            files=[
                FileEntry(name=k.rsplit("/", 1)[-1], key=k, size=100) for t, k in page if t == "f"
            ],
            next_page_token=str(start + job.page_size) if more else None,
        )
    prefix = f"{job.folder}/" if job.folder else ""
    picked = job.files or [
        k for k in TREE if k.startswith(prefix) and (job.recursive or "/" not in k[len(prefix) :])
    ]
    for key in picked:
        if job.config.get("mode") == "copy":
            yield ImportItem(external_id=key, data=tiny_png(), filename=key.rsplit("/", 1)[-1])
        else:
            yield ImportItem(
                external_id=key, url=f"https://bucket.example/{key}", width=640, height=480
            )


if __name__ == "__main__":
    run(FileExplorerPlugin(callback=explore, concurrency=4))
