"""NumPy ``.npy`` formatter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, BinaryIO

from skybutler.errors import FormatterError
from skybutler.formatters._formatter import Formatter
from skybutler.formatters._streams import local_name

__all__ = ["NumpyFormatter"]


class NumpyFormatter(Formatter):
    """``.npy`` files: any array, written without pickled objects and read with ``allow_pickle=False``.

    Reads of local files are memory-mapped on request (``parameters={"mmap": True}``), and the ``slices``
    parameter (a tuple of slices) reads only part of a memory-mapped array.  A stream without a local file
    (S3, HTTP: its ``name`` is a URI) cannot be memory-mapped, so it is read whole and then sliced.
    """

    name = "npy"
    extensions = (".npy",)
    storage_classes = ("NumpyArray",)

    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Write the array in ``.npy`` format."""
        import numpy as np

        if obj.dtype.hasobject:
            raise FormatterError("Arrays of Python objects cannot be stored as .npy; use a numeric dtype.")
        if isinstance(obj, np.ma.MaskedArray):  # .npy keeps the data only: the mask would be lost silently
            raise FormatterError(
                "A masked array cannot be stored as .npy without losing its mask; store obj.filled(value), or "
                "its data and its mask (np.ma.getmaskarray(obj)) as two datasets."
            )
        header = _header(obj) if type(obj) is np.ndarray and obj.flags.c_contiguous else None
        if header is not None:
            # the bytes `write_array` writes, without its per-call header building and its buffered copy of
            # the data: a put of a 100 kB array spent more here than in its file write (issue 26, W1 put_arr)
            stream.write(header)
            stream.write(memoryview(obj.reshape(-1).view(np.uint8)))
            return
        np.lib.format.write_array(stream, np.asanyarray(obj), allow_pickle=False)

    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Read the array (no pickles)."""
        self.refuse_parts(component, None)  # parameters are checked below, with their own message
        import numpy as np

        params = dict(parameters or {})
        slices = params.pop("slices", None)
        mmap = params.pop("mmap", False) or slices is not None
        if params:
            raise FormatterError(f"Unknown read parameter(s) {sorted(params)} for .npy; use 'slices' or 'mmap'.")
        # a ranged reader's name is its URI, which np.load cannot open (looked up only when asked: it stats the file)
        name = local_name(stream) if mmap else None
        if name is not None:
            array = np.load(name, mmap_mode="r", allow_pickle=False)
            return np.array(array[slices]) if slices is not None else array
        array = _read_known(stream)
        return array[slices] if slices is not None else array


_HEADERS: dict[tuple[Any, tuple[int, ...]], bytes] = {}
"""``.npy`` headers by (dtype, shape): a workflow writes many arrays of one kind."""


def _header(array: Any) -> bytes | None:
    """The ``.npy`` header `numpy.lib.format.write_array` writes for the C-contiguous ``array``, or None where
    the fast path does not apply: structured dtypes (their bytes may hold padding `write_array` treats
    alike, but its header rules are more involved) and headers too long for format 1.0 (it picks 2.0)."""
    import io

    import numpy as np

    key = (array.dtype, array.shape)
    found = _HEADERS.get(key)
    if found is None:
        if array.dtype.names is not None or array.dtype.subdtype is not None or array.dtype.itemsize == 0:
            return None
        buffer = io.BytesIO()
        try:
            np.lib.format.write_array_header_1_0(buffer, np.lib.format.header_data_from_array_1_0(array))
        except ValueError:
            return None
        if len(_HEADERS) >= 256:
            _HEADERS.clear()
        found = _HEADERS[key] = buffer.getvalue()
    return found


_MAGIC_1_0 = b"\x93NUMPY\x01\x00"

_KNOWN: dict[bytes, tuple[Any, tuple[int, ...]] | None] = {}
"""What a ``.npy`` header (its text) says: (dtype, shape), or None where `numpy.lib.format.read_array` must
read the file (Fortran order, Python objects).  numpy parses each header with ``ast.literal_eval`` (about a
third of a small array's read, issue 26's W1 get_arr); a workflow reads many arrays of one kind."""


def _read_known(stream: BinaryIO) -> Any:
    """The array of a ``.npy`` stream, read straight into a new array when its header was seen before.

    A header of another version (2.0 and 3.0: very long headers) goes to numpy, from the start of the stream.
    """
    import io

    import numpy as np

    prefix = stream.read(10)
    if len(prefix) < 10 or not prefix.startswith(_MAGIC_1_0):
        return np.lib.format.read_array(_replay(stream, prefix), allow_pickle=False)
    header = stream.read(int.from_bytes(prefix[8:10], "little"))
    if header not in _KNOWN:
        try:
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(io.BytesIO(prefix[8:] + header))
        except ValueError as exc:
            raise FormatterError(f"Not a readable .npy file: {exc}") from None
        if len(_KNOWN) >= 256:
            _KNOWN.clear()
        _KNOWN[header] = None if fortran or dtype.hasobject else (dtype, shape)
    known = _KNOWN[header]
    if known is None:
        return np.lib.format.read_array(_replay(stream, prefix + header), allow_pickle=False)
    array = np.empty(known[1], dtype=known[0])
    # the bytes of any dtype (a datetime64 array has no buffer of its own)
    view = memoryview(array.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
    got, readinto = 0, getattr(stream, "readinto", None)
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            chunk = stream.read(len(view) - got)
            view[got : got + len(chunk)] = chunk
            n = len(chunk)
        if not n:
            raise FormatterError(
                f"The .npy file is truncated: {got} of its {len(view)} bytes of array data are there; "
                "the dataset's file is damaged (put it again)."
            )
        got += n
    return array


def _replay(stream: BinaryIO, consumed: bytes) -> Any:
    """``stream`` from its start again, after ``consumed`` was read from it: rewound when it can seek."""
    import io

    if stream.seekable():
        stream.seek(-len(consumed), io.SEEK_CUR)
        return stream
    return io.BytesIO(consumed + stream.read())
