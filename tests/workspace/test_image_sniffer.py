"""The image sniffer (ango_plugins_sdk/protocol/images.py): pure, so fed bytes directly."""

from __future__ import annotations

import pytest

from ango_plugins_sdk.protocol.images import ImageSniffer
from tests.workspace.helpers import jpeg_header, png_bytes


def sniff(content: bytes, chunk_size: int) -> ImageSniffer:
    sniffer = ImageSniffer()
    for start in range(0, len(content), chunk_size):
        sniffer.feed(content[start : start + chunk_size])
    return sniffer


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 100, 1 << 20])
def test_sniffer_reads_png_size_in_any_chunking(chunk_size: int) -> None:
    sniffer = sniff(png_bytes(33, 17), chunk_size)
    assert (sniffer.content_type, sniffer.width, sniffer.height) == ("image/png", 33, 17)


@pytest.mark.parametrize("chunk_size", [1, 5, 64, 4096, 1 << 20])
def test_sniffer_reads_jpeg_size_past_large_segments(chunk_size: int) -> None:
    content = jpeg_header(1920, 1080, app_payload=60_000)
    sniffer = sniff(content, chunk_size)
    assert (sniffer.content_type, sniffer.width, sniffer.height) == ("image/jpeg", 1920, 1080)
    assert len(sniffer._buffer) == 0  # done, nothing kept


def test_sniffer_gives_up_on_other_formats_and_broken_headers() -> None:
    for content in (
        b"GIF89a" + b"\x00" * 100,
        b"",
        b"\x89PNG",  # truncated
        b"\xff\xd8\xff\xe0\x00\x01",  # segment length below 2
        b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20,  # scan before any frame header
    ):
        sniffer = sniff(content, 3)
        assert (sniffer.width, sniffer.height) == (None, None), content


def test_sniffer_knows_the_type_from_the_first_bytes_before_the_size() -> None:
    """The upload names the type to storage after the first chunk, before the rest streams."""
    sniffer = ImageSniffer()
    sniffer.feed(jpeg_header(640, 480, app_payload=10_000)[:3])
    assert (sniffer.content_type, sniffer.width) == ("image/jpeg", None)


def test_sniffer_ignores_what_comes_after_the_header() -> None:
    sniffer = sniff(png_bytes(2, 3), 1 << 20)
    sniffer.feed(png_bytes(50, 60))
    assert (sniffer.width, sniffer.height) == (2, 3)


def test_sniffer_edge_cases_of_the_headers() -> None:
    # A PNG signature without its IHDR chunk first: a PNG of unknown size.
    odd_png = sniff(b"\x89PNG\r\n\x1a\n" + b"\x00" * 4 + b"XXXX" + b"\x00" * 16, 5)
    assert (odd_png.content_type, odd_png.width) == ("image/png", None)
    # Fill bytes (0xFF 0xFF ...) before a marker are allowed; the size is still read.
    header = jpeg_header(40, 30, app_payload=0)
    filled = sniff(header[:2] + b"\xff\xff\xff" + header[2:], 2)
    assert (filled.width, filled.height) == (40, 30)
    # Not a marker where one must be, and a frame header of zero size: no dimensions.
    assert sniff(b"\xff\xd8\xff\xe0\x00\x02\x00\x00", 1).width is None
    zero = sniff(jpeg_header(0, 0, app_payload=0), 4)
    assert (zero.content_type, zero.width, zero.height) == ("image/jpeg", None, None)


def test_sniffer_skips_standalone_markers() -> None:
    """RSTn and TEM markers carry no length: skipped as two bytes."""
    header = jpeg_header(64, 48, app_payload=0)
    sniffer = sniff(header[:2] + b"\xff\x01\xff\xd3" + header[2:], 3)
    assert (sniffer.width, sniffer.height) == (64, 48)
