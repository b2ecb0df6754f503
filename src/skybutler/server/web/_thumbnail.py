"""Image previews: a 2-D array → zscale stretch → 8-bit grey PNG, kept in a small in-memory cache.

The stretch is astropy's `ZScaleInterval` (IRAF's zscale: limits from a sample of the pixels, robust to stars
and bad pixels).  The image is reduced by taking every n-th pixel before the stretch, so a 4k x 4k image costs a
1/n² share of the work after reading; the PNG is written with zlib (no imaging library needed).  A preview is
computed once per dataset and size, then served from the cache: datasets never change in place.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = ["SIZES", "cached_png", "png_of", "remember_png", "to_png"]

SIZES = (256, 1024)
"""The preview sizes offered: the thumbnail on the dataset page and the larger view."""

CACHE_BYTES = 64 * 2**20

_lock = threading.Lock()
_cache: OrderedDict[tuple[str, int], bytes] = OrderedDict()
_cached_bytes = 0


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def to_png(pixels: np.ndarray[Any, Any]) -> bytes:
    """An 8-bit greyscale PNG of a 2-D uint8 array (row 0 at the top)."""
    height, width = pixels.shape
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # each row starts with filter type 0
    rows[:, 1:] = pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def png_of(image: np.ndarray[Any, Any], size: int) -> bytes:
    """A PNG at most ``size`` pixels on its longer side, zscale-stretched, with north (last row) up.

    Non-finite pixels are drawn black.
    """
    from astropy.visualization import ZScaleInterval

    data = np.asarray(image)
    while data.ndim > 2:
        data = data[0]
    if data.ndim != 2 or data.size == 0:
        raise ValueError(f"an image preview needs a 2-D array, not shape {data.shape}")
    step = max(1, -(-max(data.shape) // size))
    small = np.asarray(data[::step, ::step], dtype=np.float32)
    finite = np.isfinite(small)
    if not finite.any():
        return to_png(np.zeros(small.shape, dtype=np.uint8))
    low, high = ZScaleInterval().get_limits(small[finite])
    span = float(high - low) or 1.0
    scaled = np.clip((small - low) / span, 0.0, 1.0) * 255.0
    scaled[~finite] = 0.0
    return to_png(scaled.astype(np.uint8)[::-1])  # FITS row 0 is at the bottom of the picture


def cached_png(key: str, size: int) -> bytes | None:
    """The cached preview of ``key`` at ``size`` (None: not made yet)."""
    with _lock:
        png = _cache.get((key, size))
        if png is not None:
            _cache.move_to_end((key, size))
        return png


def remember_png(key: str, size: int, png: bytes) -> None:
    """Keep a preview (the least recently used ones go when the cache passes `CACHE_BYTES`)."""
    global _cached_bytes
    with _lock:
        if (key, size) not in _cache:
            _cache[(key, size)] = png
            _cached_bytes += len(png)
        while _cached_bytes > CACHE_BYTES and len(_cache) > 1:
            _, old = _cache.popitem(last=False)
            _cached_bytes -= len(old)
