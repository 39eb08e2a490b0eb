"""Reads an image's type and size from its first bytes as an upload streams by.

Pure: no I/O. The hub's upload feeds it each chunk on its way to storage, so the
size is known without holding the file or reading it twice.
"""

from __future__ import annotations

import struct

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


class ImageSniffer:
    """Reads a PNG's or JPEG's type and dimensions from its header as the bytes stream by.

    JPEG segments before the frame header (EXIF, ICC profiles, thumbnails) are skipped by
    their length without buffering them, so memory stays a few bytes plus one chunk.
    """

    def __init__(self) -> None:
        self.content_type: str | None = None
        self.width: int | None = None
        self.height: int | None = None
        self._buffer = bytearray()
        self._skip = 0
        self._done = False
        self._jpeg = False

    def feed(self, data: bytes) -> None:
        if self._done:
            return
        if self._skip:
            skipped = min(self._skip, len(data))
            self._skip -= skipped
            data = data[skipped:]
        self._buffer += data
        if not self._jpeg:
            self._sniff_start()
        if self._jpeg and not self._done:
            self._walk_jpeg()

    def _sniff_start(self) -> None:
        buffer = self._buffer
        if len(buffer) >= 24 and buffer.startswith(_PNG_SIGNATURE):
            self.content_type = "image/png"
            if buffer[12:16] == b"IHDR":
                self._set_size(*struct.unpack(">II", buffer[16:24]))
            self._finish()
        elif len(buffer) >= 3 and buffer.startswith(b"\xff\xd8\xff"):
            self.content_type = "image/jpeg"
            self._jpeg = True
            del buffer[:2]
        elif len(buffer) >= 24 or not (
            _PNG_SIGNATURE.startswith(bytes(buffer[:8])) or b"\xff\xd8\xff".startswith(buffer[:3])
        ):
            self._finish()  # neither: no dimensions

    def _walk_jpeg(self) -> None:
        buffer = self._buffer
        while not self._skip:
            while len(buffer) >= 2 and buffer[0] == 0xFF and buffer[1] == 0xFF:
                del buffer[0]  # fill bytes before a marker
            if len(buffer) < 2:
                return
            if buffer[0] != 0xFF:
                self._finish()  # not a marker where one must be: give up
                return
            marker = buffer[1]
            if marker in _JPEG_STANDALONE:
                del buffer[:2]
                continue
            if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
                self._finish()
                return
            if marker in _JPEG_SOF:
                if len(buffer) < 9:
                    return
                height, width = struct.unpack(">HH", buffer[5:9])
                self._set_size(width, height)
                self._finish()
                return
            if len(buffer) < 4:
                return
            (length,) = struct.unpack(">H", buffer[2:4])
            if length < 2:
                self._finish()
                return
            del buffer[:4]
            skip = length - 2
            if len(buffer) >= skip:
                del buffer[:skip]
            else:
                self._skip = skip - len(buffer)
                buffer.clear()

    def _set_size(self, width: int, height: int) -> None:
        if width > 0 and height > 0:
            self.width, self.height = width, height

    def _finish(self) -> None:
        self._done = True
        self._buffer = bytearray()
