"""Export jobs: the project's annotations stream in, one file goes out."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ango_plugins_sdk._http import CHUNK_SIZE
from ango_plugins_sdk._job import ConfigT, DataJob, PlainConfig
from ango_plugins_sdk._plugins import Plugin
from ango_plugins_sdk.protocol import JobType
from ango_plugins_sdk.protocol.workspace import ExportedTask, ProjectInfo

FileLike = bytes | bytearray | IO[bytes] | str | os.PathLike[str] | Iterable[bytes]


@dataclass(frozen=True)
class ExportResult:
    """The export's file and the name users download it under.

    `file` may be bytes, a binary file object (closed once it is uploaded), a path (left
    where it is), or an iterator of byte chunks.

    Where a file object is read from: an in-memory buffer (`io.BytesIO`, as in Ango's
    `(filename, BytesIO)`) is sent whole, from its start, whatever its position, as Ango's
    SDK does; any other file object (an open file, a temporary file) is read from its current
    position to its end, so a file the author positioned on purpose is respected, and a file
    written and not rewound (`seek(0)`) sends nothing.

    An export of 0 bytes fails the job ("the export file is empty") unless `allow_empty` is
    True: an empty file is far more often a bug than the answer.
    """

    file: FileLike
    filename: str
    content_type: str = "application/octet-stream"
    allow_empty: bool = False


class ExportJob(DataJob[ConfigT]):
    job_type = JobType.EXPORT

    @property
    def project(self) -> ProjectInfo:
        return ProjectInfo.model_validate(self.input.get("project") or {})

    @property
    def num_tasks(self) -> int:
        """How many tasks `tasks()` yields (counted when the job was submitted)."""
        return int(self.input.get("num_tasks", 0))

    def tasks(self) -> Iterator[ExportedTask]:
        """The project's tasks with their annotations, streamed from the hub one at a time."""
        for line in self._data.lines(self._io["tasks_url"]):
            if line.strip():
                yield ExportedTask.model_validate_json(line)

    def _finish(self, value: Any) -> Any:
        result = _as_export_result(value)
        upload = self._io["upload"]
        with _sized(result.file, spool=upload.get("needs_length", False)) as (body, size):
            answer = self._data.put(
                upload["url"],
                body,
                size=size,
                auth=upload.get("auth", True),
                content_type=result.content_type,
            )
        return {
            "artifact": {
                "key": upload["key"],
                "filename": result.filename,
                "size": answer.get("size", size),
                "content_type": result.content_type,
                "allow_empty": result.allow_empty,
            }
        }


ExportReturn = ExportResult | tuple[str, FileLike]
"""What an export callback returns: an `ExportResult`, or Ango's `(filename, file)`."""


class ExportPlugin(Plugin[ExportJob[ConfigT], ConfigT, ExportReturn, ExportJob[PlainConfig]]):
    """Serves export jobs: the callback reads `job.tasks()` and returns the file to upload."""

    job_class = ExportJob


def _as_export_result(value: Any) -> ExportResult:
    if isinstance(value, ExportResult):
        return value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return ExportResult(file=value[1], filename=value[0])  # Ango's (filename, BytesIO)
    raise TypeError(
        "an export callback must return ExportResult(file=..., filename=...) "
        f"or a (filename, file) tuple, not {type(value).__name__}"
    )


class _sized:
    """The file as (chunks, size): size None means unknown (sent chunked), unless the
    upload needs a length (a presigned PUT), in which case the data is spooled first."""

    def __init__(self, file: FileLike, *, spool: bool) -> None:
        self._file = file
        self._spool = spool
        self._closers: list[IO[bytes]] = []

    def __enter__(self) -> tuple[Iterable[bytes], int | None]:
        file = self._file
        if isinstance(file, bytes | bytearray):
            return [bytes(file)], len(file)
        if isinstance(file, str | os.PathLike):
            handle = Path(file).open("rb")
            self._closers.append(handle)
            return _chunks(handle), os.fstat(handle.fileno()).st_size
        if hasattr(file, "read"):
            handle = file  # type: ignore[assignment]
            self._closers.append(handle)  # the export is done with it once uploaded
            if isinstance(handle, io.BytesIO):
                # A buffer is its whole content, as in Ango's SDK: one just written is left
                # at its end, and would otherwise send nothing.
                handle.seek(0)
            size: int | None
            # Only a plain file's size on disk is what read() returns: a wrapper such as
            # gzip.open() has the compressed file's descriptor.
            if isinstance(getattr(handle, "raw", handle), io.FileIO):
                size = os.fstat(handle.fileno()).st_size - handle.tell()
            else:
                size = _remaining(handle)
            if size is not None or not self._spool:
                return _chunks(handle), size
            return self._spooled(_chunks(handle))
        if self._spool:
            return self._spooled(iter(file))
        return iter(file), None

    def _spooled(self, chunks: Iterable[bytes]) -> tuple[Iterable[bytes], int]:
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
        self._closers.append(spool)
        for chunk in chunks:
            spool.write(chunk)
        size = spool.tell()
        spool.seek(0)
        return _chunks(spool), size

    def __exit__(self, *exc: object) -> None:
        for handle in self._closers:
            handle.close()


def _remaining(handle: IO[bytes]) -> int | None:
    try:
        position = handle.tell()
        end = handle.seek(0, io.SEEK_END)
        handle.seek(position)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return end - position


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    return iter(lambda: handle.read(CHUNK_SIZE), b"")
