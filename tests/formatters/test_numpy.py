"""The ``.npy`` formatter's direct write: the very bytes `numpy.lib.format.write_array` writes, for every kind
of array (the fast path takes C-contiguous plain arrays; the rest go through numpy as before)."""

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
