"""The ``.npy`` formatter's direct write and read: the very bytes `numpy.lib.format.write_array` writes, and the
very arrays `numpy.lib.format.read_array` reads, for every kind of array (the fast paths take C-contiguous plain
arrays and headers seen before; the rest go through numpy as before)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from skybutler.formatters._numpy import NumpyFormatter

ARRAYS: dict[str, Any] = {
    "float64 1-d": np.arange(12_800, dtype=np.float64),
    "big-endian 2-d": np.arange(12, dtype=">i4").reshape(3, 4),
    "0-d": np.array(3.5),
    "empty": np.zeros((0, 3)),
    "unicode": np.array(["a", "bcd"]),
    "bytes": np.array([b"x", b"yy"]),
    "datetime64": np.arange(5).astype("M8[s]"),
    "fortran order": np.arange(6.0).reshape(2, 3).T,
    "strided": np.arange(10)[::2],
    "structured": np.zeros(3, dtype=[("a", "i4"), ("b", "f8")]),
    "complex64": np.ones(4, dtype=np.complex64),
    "bool": np.array([True, False]),
    "float16": np.array([1, 2], dtype=np.float16),
    "many dimensions": np.zeros([1] * 30),
    "subclass": np.arange(3.0).view(type("Sub", (np.ndarray,), {})),
}


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_bytes_are_numpys(name: str) -> None:
    array = ARRAYS[name]
    ours, numpys = io.BytesIO(), io.BytesIO()
    NumpyFormatter().write(array, ours)
    np.lib.format.write_array(numpys, np.asanyarray(array), allow_pickle=False)
    assert ours.getvalue() == numpys.getvalue()
    again = io.BytesIO()
    NumpyFormatter().write(array, again)  # the header now comes from the cache
    assert again.getvalue() == numpys.getvalue()
    back = np.lib.format.read_array(io.BytesIO(ours.getvalue()), allow_pickle=False)
    assert back.dtype == array.dtype
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, np.asarray(array))


class _Unseekable(io.RawIOBase):
    """A stream that can neither seek nor ``readinto`` (as a network body might be)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)

    def seekable(self) -> bool:
        return False

    readinto = None  # type: ignore[assignment]


@pytest.mark.parametrize("name", sorted(ARRAYS))
@pytest.mark.parametrize("kind", ["buffered file", "bytes", "unseekable"])
def test_reads_equal_numpys_first_and_again(name: str, kind: str, tmp_path: Any) -> None:
    """The first read of a header parses it (numpy), the next ones reuse it: both give numpy's array, writeable."""
    array = np.asanyarray(ARRAYS[name])
    numpys = io.BytesIO()
    np.lib.format.write_array(numpys, array, allow_pickle=False)
    path = tmp_path / "a.npy"
    path.write_bytes(numpys.getvalue())
    expected = np.lib.format.read_array(io.BytesIO(numpys.getvalue()), allow_pickle=False)
    for _ in range(2):
        if kind == "buffered file":
            with path.open("rb") as stream:
                back = NumpyFormatter().read(stream)
        else:
            stream = io.BytesIO(numpys.getvalue()) if kind == "bytes" else _Unseekable(numpys.getvalue())
            back = NumpyFormatter().read(stream)  # type: ignore[arg-type]
        assert back.dtype == expected.dtype
        assert back.shape == expected.shape
        assert back.flags.writeable
        assert back.flags.c_contiguous == expected.flags.c_contiguous
        np.testing.assert_array_equal(back, expected)


def test_a_truncated_array_is_a_clear_error() -> None:
    from skybutler.errors import FormatterError

    numpys = io.BytesIO()
    np.lib.format.write_array(numpys, np.arange(100.0), allow_pickle=False)
    for _ in range(2):  # header unknown, then known
        with pytest.raises(FormatterError, match="truncated: 792 of its 800 bytes"):
            NumpyFormatter().read(io.BytesIO(numpys.getvalue()[:-8]))
