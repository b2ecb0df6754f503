"""`Box`: a pixel rectangle in astronomy order (x = column, y = row), and the ``bbox`` read parameter."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from skybutler.errors import FormatterError

__all__ = ["BBoxLike", "Box"]

BBoxLike: TypeAlias = "Box | tuple[slice, slice]"
"""What the ``bbox`` read parameter accepts: a `Box`, or NumPy-order ``(rows, columns)`` slices."""


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle of pixels: ``x`` counts columns (the fast axis), ``y`` counts rows, both from 0.

    Astronomers give positions as ``(x, y)`` while NumPy indexes ``[y, x]``; a `Box` says which is which,
    so ``Box(x0=10, y0=20, width=100, height=50)`` is ``array[20:70, 10:110]`` (see `slices`).

    Examples
    --------
    >>> box = Box(x0=10, y0=20, width=100, height=50)
    >>> box.slices
    (slice(20, 70, None), slice(10, 110, None))
    >>> Box.from_slices(box.slices) == box
    True
    """

    x0: int
    """First column."""
    y0: int
    """First row."""
    width: int
    """Number of columns."""
    height: int
    """Number of rows."""

    def __post_init__(self) -> None:
        for name in ("x0", "y0", "width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FormatterError(f"Box.{name} must be a non-negative integer; got {value!r}.")

    @property
    def x1(self) -> int:
        """One past the last column."""
        return self.x0 + self.width

    @property
    def y1(self) -> int:
        """One past the last row."""
        return self.y0 + self.height

    @property
    def slices(self) -> tuple[slice, slice]:
        """NumPy-order slices ``(rows, columns)`` selecting this box from a 2-D array."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @classmethod
    def from_slices(cls, slices: Sequence[slice]) -> Box:
        """Make a box from NumPy-order ``(rows, columns)`` slices with explicit, non-negative bounds."""
        rows, cols = _two_slices(slices)
        for s in (rows, cols):
            if s.start is None or s.stop is None or (s.step or 1) != 1:
                raise FormatterError(f"A Box needs slices with start and stop and no step; got {s!r}.")
        return cls(x0=cols.start, y0=rows.start, width=cols.stop - cols.start, height=rows.stop - rows.start)

    @classmethod
    def resolve(cls, bbox: Any, shape: Sequence[int]) -> Box:
        """Turn a ``bbox`` parameter into a box inside an image of NumPy ``shape`` ``(rows, columns)``.

        Open slice bounds (``slice(None, 100)``) are filled in from ``shape``; negative bounds, steps and
        boxes reaching outside the image are refused, because silently clipping would return fewer pixels
        than asked for.

        Raises
        ------
        FormatterError
            ``bbox`` is not a `Box` or two slices, or does not fit in ``shape``.
        """
        if isinstance(bbox, Box):
            box = bbox
        else:
            rows, cols = _two_slices(bbox)
            for s in (rows, cols):
                if (s.step or 1) != 1 or any(v is not None and v < 0 for v in (s.start, s.stop)):
                    raise FormatterError(f"bbox slices must have no step and no negative bounds; got {s!r}.")
            y0, y1 = rows.start or 0, shape[0] if rows.stop is None else rows.stop
            x0, x1 = cols.start or 0, shape[1] if cols.stop is None else cols.stop
            box = cls(x0=x0, y0=y0, width=max(x1 - x0, 0), height=max(y1 - y0, 0))
        if box.x1 > shape[1] or box.y1 > shape[0]:
            raise FormatterError(
                f"bbox {box} reaches outside the image ({shape[1]} columns x {shape[0]} rows); "
                "clip it to the image first."
            )
        return box


def _two_slices(value: Any) -> tuple[slice, slice]:
    if isinstance(value, Sequence) and len(value) == 2 and all(isinstance(s, slice) for s in value):
        try:
            return _int_slice(value[0]), _int_slice(value[1])
        except TypeError:
            pass
    raise FormatterError(
        f"bbox must be a skybutler.astro.Box or two slices (rows, columns) of integers; got {value!r}."
    )


def _int_slice(s: slice) -> slice:
    """The slice with its bounds as plain ints (NumPy integers accepted); TypeError for anything else."""
    bounds = [None if v is None else operator.index(v) for v in (s.start, s.stop, s.step)]
    if any(isinstance(v, bool) for v in (s.start, s.stop, s.step)):
        raise TypeError("booleans are not slice bounds")
    return slice(*bounds)
