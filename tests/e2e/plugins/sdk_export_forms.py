"""An export plugin whose config picks the form of the file it returns; for the SDK tests.

config:
  form          "bytes" | "path" | "fileobj" | "chunks" | "tuple" | "gzip" | "bad" | "probe"
                | "hold"
  size          bytes in the file (default 1000); the content is `payload(job.id, size)`
  filename      the download name (default "<form>.bin")
  content_type  passed to ExportResult when given
  kind          for "fileobj": "bytesio" (default) or "file" (an open real file)
  dir           a directory the plugin may write to ("path", real files, tokens)
  other_job     for "probe": a job whose artifact path the plugin tries with its own token
  release       for "hold": wait (up to 30 s) until this file exists, then return bytes

"gzip" returns gzip.open() of a compressed copy of payload(job.id, 1000) * (size // 1000).
Every file object the plugin returns logs "closed=<bool>" when it is closed.
"""

from __future__ import annotations

import gzip
import http.client
import io
import json
import os
import random
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ango_plugins_sdk import ExportJob, ExportPlugin, ExportResult, run


def payload(seed: str, size: int) -> bytes:
    """The file's bytes: deterministic per job, so that the test can compute them too."""
    return random.Random(seed).randbytes(size)


class TrackedBytesIO(io.BytesIO):
    def __init__(self, data: bytes, job: ExportJob[Any]) -> None:
        super().__init__(data)
        self._job = job

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._job.logger.info("closed=%s kind=bytesio", self.closed)


class TrackedFile(io.BufferedReader):
    def __init__(self, path: Path, job: ExportJob[Any]) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self._job = job

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._job.logger.info("closed=%s kind=file", self.closed)


def chunked(data: bytes) -> Iterator[bytes]:
    """Uneven chunks (and an empty one), as a real generator."""
    sizes = [1, 70_000, 0, 300_001, 65_536]
    position = 0
    step = 0
    while position < len(data):
        size = sizes[step % len(sizes)]
        yield data[position : position + size]
        position += size
        step += 1


def put_status(job: ExportJob[Any], path: str) -> tuple[int, str]:
    """PUT a few bytes to one of the hub's /io paths with this job's own token."""
    parts = urllib.parse.urlsplit(job.base_url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        token = job.input["io"]["token"]
        connection.request(
            "PUT", path, body=b"intruder", headers={"Authorization": f"Bearer {token}"}
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    try:
        message = str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = body.decode("utf-8", "replace")
    return response.status, message


def export(job: ExportJob[Any]) -> Any:
    config = job.config
    form = config.get("form", "bytes")
    data = payload(job.id, int(config.get("size", 1000)))
    filename = config.get("filename", f"{form}.bin")
    extra = {"content_type": config["content_type"]} if "content_type" in config else {}
    workdir = Path(config.get("dir", "."))
    job.logger.info("form=%s size=%d attempt=%d", form, len(data), job.attempt)

    if form == "bytes":
        return ExportResult(file=data, filename=filename, **extra)
    if form == "path":
        path = workdir / f"{job.id}.bin"
        path.write_bytes(data)
        return ExportResult(file=path, filename=filename, **extra)
    if form == "fileobj":
        if config.get("kind", "bytesio") == "bytesio":
            return ExportResult(file=TrackedBytesIO(data, job), filename=filename, **extra)
        path = workdir / f"{job.id}.file"
        path.write_bytes(data)
        return ExportResult(file=TrackedFile(path, job), filename=filename, **extra)
    if form == "chunks":
        return ExportResult(file=chunked(data), filename=filename, **extra)
    if form == "tuple":
        return (filename, TrackedBytesIO(data, job))  # Ango's (filename, BytesIO)
    if form == "gzip":
        data = payload(job.id, 1000) * (len(data) // 1000)  # compresses well
        path = workdir / f"{job.id}.gz"
        path.write_bytes(gzip.compress(data))
        return ExportResult(file=gzip.open(path, "rb"), filename=filename, **extra)
    if form == "bad":
        return {"file": "not an ExportResult"}
    if form == "probe":
        (workdir / f"token-{job.id}").write_text(job.input["io"]["token"])
        status, message = put_status(job, f"/io/jobs/{config['other_job']}/artifact")
        job.logger.info("other_job_status=%d message=%s", status, message)
        return ExportResult(file=data, filename=filename, **extra)
    if form == "hold":
        release = Path(config["release"])
        deadline = time.monotonic() + 30
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return ExportResult(file=data, filename=filename, **extra)
    raise ValueError(f"unknown form {form!r}")


if __name__ == "__main__":
    run(ExportPlugin(callback=export, concurrency=int(os.environ.get("CONCURRENCY", "4"))))
