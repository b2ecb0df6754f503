"""Image previews without a browser: the PNG is a valid greyscale image of the zscale-stretched pixels."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from skybutler.server.web._thumbnail import cached_png, png_of, remember_png, to_png


def decode(png: bytes) -> np.ndarray:
    """The pixels of an 8-bit greyscale PNG written by `to_png` (filter type 0 on every row)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, {}
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        assert struct.unpack(">I", png[at + 8 + length : at + 12 + length])[0] == zlib.crc32(kind + data)
        chunks[kind] = data
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 0)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, width + 1)
    assert not rows[:, 0].any()
    return rows[:, 1:]


def test_png_round_trips() -> None:
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    assert np.array_equal(decode(to_png(pixels)), pixels)


def test_preview_is_reduced_stretched_and_north_up() -> None:
    image = np.random.default_rng(3).normal(100, 5, size=(1000, 600)).astype("f4")
    image[:10, :] = 1e6  # a bright band at the bottom row of the FITS picture; zscale ignores it
    image[500, 300] = np.nan
    pixels = decode(png_of(image, 256))
    assert pixels.shape == (250, 150)  # every 4th pixel: the longer side fits in 256
    assert pixels[-1].min() == 255  # row 0 of the array is drawn at the bottom
    assert 60 < float(np.median(pixels[:-5])) < 200  # the sky sits mid-grey, not crushed by the band


def test_preview_needs_a_2d_image() -> None:
    with pytest.raises(ValueError, match="2-D"):
        png_of(np.zeros(5), 256)


def test_cache_keeps_a_preview() -> None:
    assert cached_png("test-key", 256) is None
    remember_png("test-key", 256, b"png")
    assert cached_png("test-key", 256) == b"png"
