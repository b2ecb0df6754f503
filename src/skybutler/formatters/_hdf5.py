"""HDF5 formatter (h5py): arrays as datasets, metadata as attributes, composites as groups.

Layouts (the root's ``skybutler_storage_class`` attribute names the storage class):

* ``Image``: dataset ``/data``; group ``/metadata`` (its attributes are the metadata).
* ``Exposure``: datasets ``/image``, ``/mask``, ``/variance``; groups ``/metadata``, ``/wcs`` (the WCS header
  cards as attributes) and ``/visit_info``.
* ``Spectrum``: datasets ``/flux``, ``/wavelength`` (with a ``unit`` attribute), ``/mask``; group ``/metadata``.
* Tables: group ``/table`` with one dataset per column (attributes ``unit``, ``description``) and the column
  order in its ``columns`` attribute; ``/masks/<column>`` for columns with missing values; ``/metadata``.
* ``Metadata`` / ``Wcs``: group ``/metadata`` / ``/wcs`` only.
* ``NumpyArray``: dataset ``/array`` (any shape; every dtype ``put_array`` keeps).
* ``StructuredDataDict``: group ``/data``; scalars as attributes, dicts and lists as groups
  (`_hdf5_nodes.put_structured`).  A dict is ``Metadata`` unless the datastore says otherwise
  (`Formatter.for_storage_class`).

Datasets are contiguous and uncompressed, so ``bbox`` reads only the rows of the cut-out, ``columns`` only
those columns' datasets, and ``filters`` only the filter columns and the rows that pass.  (Chunking would not
make a 100 x 100 cut-out of a 4k x 4k image cheaper here, and makes its full read 2-3x slower.)
h5py seeks while writing, so this formatter writes local files (``writes_streams = False``).

Reading a local file costs HDF5 a fixed ~0.1-0.3 ms per open, which is most of a small cut-out; so the read
path opens it by name with access properties made once, reads the marker, metadata and datasets through
h5py's low-level calls rather than its dictionary-like views, reads a cut-out without HDF5's sieve buffer
(with a read-ahead hint for the band of rows), and closes just the file id.  A stream without a local file
(object stores) is read through h5py's Python file driver, a cut-out's band of rows in one request.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import h5py
import numpy as np

from skybutler.astro import Box, Exposure, Image, Spectrum
from skybutler.astro._image import slice_wcs, wcs_header
from skybutler.astro._spectrum import wavelength_selection
from skybutler.astro._tables import TableSchema, check_columns, filter_rows, normalize_filters
from skybutler.errors import FormatterError
from skybutler.formatters._astro_io import (
    TABLE_CLASSES,
    convert_table,
    read_parameters,
    storage_class_of,
    table_for_writing,
)
from skybutler.formatters._formatter import Formatter
from skybutler.formatters._hdf5_nodes import get_array, get_attrs, get_structured, put_array, put_attrs, put_structured
from skybutler.formatters._streams import BAND_LIMIT, local_name
from skybutler.formatters._structured import STRUCTURED
from skybutler.formatters._structured import check as check_structured

__all__ = ["Hdf5Formatter"]

MARKER = "skybutler_storage_class"
_MARKER = MARKER.encode()
_VLEN_STR = h5py.string_dtype()
_PLANES = ("image", "mask", "variance")
_SPECTRUM = ("flux", "wavelength", "mask")
#: Above this many selected rows a column is read whole and indexed in memory (h5py's point selection is slow).
_POINT_SELECTION_LIMIT = 4096


class Hdf5Formatter(Formatter):
    """HDF5 files written and read with h5py; groups for composites, attributes for metadata."""

    name = "hdf5"
    extensions = (".h5",)
    storage_classes = (
        "Image", "Exposure", "Spectrum", "Metadata", "Wcs", "NumpyArray", STRUCTURED, *TABLE_CLASSES,
    )  # fmt: skip
    told_storage_classes = (STRUCTURED,)
    writes_streams = False
    records_provenance = True

    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Build the file in memory, then stream it (for callers without a local file)."""
        buffer = io.BytesIO()
        with h5py.File(buffer, "w", track_order=True) as root:
            self._fill(root, obj)
        stream.write(buffer.getbuffer())

    def write_file(self, obj: Any, path: Path) -> None:
        """Write ``obj`` to a new HDF5 file at ``path``."""
        with h5py.File(path, "w", track_order=True) as root:
            self._fill(root, obj)

    def _fill(self, root: Any, obj: Any) -> None:
        storage_class = self.writes_as or storage_class_of(obj, self.storage_classes)
        if storage_class == STRUCTURED:
            check_structured(obj)
        root.attrs[MARKER] = storage_class
        if self.provenance is not None:
            from skybutler.formatters._provenance import HDF5_PREFIX, fit

            for field, value in self.provenance.items():  # well under HDF5's 64 KiB for an attribute
                root.attrs[HDF5_PREFIX + field] = fit(value, 16_000)
        if storage_class == "Image":
            put_array(root, "data", obj.array, "Image.array")
            put_attrs(_group(root, "metadata"), obj.metadata, "Image.metadata")
        elif storage_class == "Exposure":
            for plane in _PLANES:
                if getattr(obj, plane) is not None:
                    put_array(root, plane, getattr(obj, plane), f"Exposure.{plane}")
            put_attrs(_group(root, "metadata"), obj.metadata, "Exposure.metadata")
            if obj.wcs is not None:
                put_attrs(_group(root, "wcs"), _wcs_cards(obj.wcs), "Exposure.wcs")
            put_attrs(_group(root, "visit_info"), obj.visit_info, "Exposure.visit_info")
        elif storage_class == "Spectrum":
            units = {"flux": obj.flux_unit, "wavelength": obj.wavelength_unit}
            for name in _SPECTRUM:
                if getattr(obj, name) is not None:
                    put_array(root, name, getattr(obj, name), f"Spectrum.{name}", unit=units.get(name))
            put_attrs(_group(root, "metadata"), obj.metadata, "Spectrum.metadata")
        elif storage_class == "Metadata":
            put_attrs(_group(root, "metadata"), obj)
        elif storage_class == "Wcs":
            put_attrs(_group(root, "wcs"), _wcs_cards(obj), "WCS")
        elif storage_class == "NumpyArray":
            put_array(root, "array", obj, "The array")
        elif storage_class == STRUCTURED:
            put_structured(_group(root, "data"), obj)
        else:
            _write_table(root, table_for_writing(obj, storage_class, "HDF5"))

    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Read the object, one component of it, or a cut-out / column subset (see the module docstring)."""
        cutout = parameters is not None and parameters.get("bbox") is not None
        with _open(stream, cutout=cutout) as (root, fd):
            storage_class = _marker(root)
            params = read_parameters(storage_class, component, parameters, "HDF5")
            if storage_class == "Image":
                if component == "metadata":
                    return _metadata(root)
                data = _plane(_dataset(root, "data"), params.get("bbox"), fd)
                return data if component == "data" else Image(data, _metadata(root))
            if storage_class == "Exposure":
                return _read_exposure(root, component, params.get("bbox"), fd)
            if storage_class == "Spectrum":
                return _read_spectrum(root, component, params.get("wavelength_range"))
            if storage_class == "Metadata":
                return get_attrs(root["metadata"])
            if storage_class == "Wcs":
                return _wcs(root["wcs"])
            if storage_class == "NumpyArray":
                array = get_array(root["array"])
                slices = params.get("slices")
                return np.ascontiguousarray(array[slices]) if slices is not None else array
            if storage_class == STRUCTURED:
                return get_structured(root["data"])
            if storage_class not in TABLE_CLASSES:
                raise FormatterError(
                    f"This HDF5 file has no readable {MARKER!r} attribute ({storage_class!r}); "
                    "the hdf5 formatter reads only files it wrote."
                )
            if component == "rowcount":
                return int(root["table"].attrs["rowcount"])
            if component == "schema":
                return TableSchema.of(_read_table(root, storage_class, None, None, schema_only=True))
            return _read_table(root, storage_class, params.get("columns"), params.get("filters"))


#: File access property lists by purpose, made once (h5py builds one per ``h5py.File`` call otherwise).
_ACCESS: dict[bool, Any] = {}


def _access(cutout: bool) -> Any:
    """Properties for opening a stored file to read: no file locking, and for cut-outs no sieve buffer.

    A dataset's file is never written again once stored, so readers need no lock (HDF5 would take and release
    one per open).  HDF5 reads a hyperslab of a contiguous dataset through a 64 KiB "sieve" buffer by
    default: a 100-row cut-out of a 4k-wide float32 image then copies 100 x 64 KiB to keep 100 x 400 bytes.
    Without the buffer each row is one small read from the page cache, which is about 3x faster; full reads
    bypass the buffer either way.  Point selections (table filters) keep it: they profit from it.
    """
    found = _ACCESS.get(cutout)
    if found is None:
        found = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        found.set_libver_bounds(h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_LATEST)
        if hasattr(found, "set_file_locking"):  # HDF5 1.12.1 and later
            found.set_file_locking(False, True)
        if cutout:
            found.set_sieve_buf_size(0)
        _ACCESS[cutout] = found
    return found


@contextmanager
def _open(stream: BinaryIO, *, cutout: bool = False) -> Iterator[tuple[Any, int | None]]:
    """Open ``stream`` with h5py; yield the root group and, when the file was opened by its name, the
    stream's file descriptor (for read-ahead hints), else ``None``.

    A local file (the stream's ``name``) is opened by HDF5's own driver: reads through a Python file object
    call back into Python for every read, which makes a small cut-out ~2.5x slower.
    """
    name = local_name(stream)
    fid = None
    if name is not None:
        try:
            fid = h5py.h5f.open(name.encode(), h5py.h5f.ACC_RDONLY, fapl=_access(cutout))
        except OSError:  # moved or removed since the stream was opened: the open stream still reads
            pass
    if fid is None:
        with h5py.File(stream, "r") as root:
            yield root, None
        return
    try:
        fd: int | None = stream.fileno()
    except (AttributeError, OSError):  # io.UnsupportedOperation is an OSError
        fd = None
    try:
        yield h5py.File(fid), fd
    finally:
        # Closing the file id is enough: objects opened in it close as they are released, and then the file.
        # (``File.close`` searches HDF5's table of open objects twice, which costs a third of a cut-out's
        # open-and-close.)
        fid.close()


def _marker(root: Any) -> str:
    """The storage class named by the root's marker attribute ('' when absent).

    Read as a variable-length string straight from the attribute: h5py's attribute manager looks it up twice
    and inspects its type first, which takes ~5x as long -- a measurable part of a small cut-out.
    """
    try:
        attribute = h5py.h5a.open(root.id, _MARKER)
    except KeyError:
        return ""
    value = np.empty((), dtype=_VLEN_STR)
    try:
        attribute.read(value)
    except (OSError, TypeError, ValueError):  # not a variable-length string: let h5py convert it
        text = root.attrs[MARKER]
    else:
        text = value[()]
    return text.decode() if isinstance(text, bytes) else str(text)


def _metadata(root: Any, name: str = "metadata") -> dict[str, Any]:
    """The attributes of group ``name`` as metadata; an empty group is recognised without iterating."""
    try:
        group = h5py.h5g.open(root.id, name.encode())
    except KeyError:
        return get_attrs(root[name])  # h5py says what is missing
    if h5py.h5o.get_info(group).num_attrs == 0:
        return {}
    return get_attrs(h5py.Group(group))


def _dataset(root: Any, name: str) -> Any:
    """The dataset ``name`` of the root, as h5py's low-level ``DatasetID``: opened directly (``root[name]``
    first asks HDF5 what kind of object it is, and its ``Dataset`` view costs more to set up than a small
    cut-out takes to read)."""
    try:
        return h5py.h5d.open(root.id, name.encode())
    except KeyError:  # absent, or not a dataset: let h5py say which
        return root[name].id


def _group(root: Any, name: str) -> Any:
    return root.create_group(name, track_order=True)


def _plane(dataset: Any, bbox: Any, fd: int | None) -> Any:
    """Read a whole plane (a ``DatasetID``), or the part in ``bbox``; ``fd``: the local file's descriptor."""
    if bbox is None:
        return get_array(h5py.Dataset(dataset))
    box = Box.resolve(bbox, dataset.shape)
    row_bytes = dataset.shape[1] * dataset.dtype.itemsize
    if fd is None:
        view = h5py.Dataset(dataset)
        if box.height * row_bytes <= BAND_LIMIT and box.width < dataset.shape[1]:
            # through a Python stream (object stores): the band of rows in one request, not one per row
            return np.ascontiguousarray(get_array(view, np.s_[box.y0 : box.y1])[:, box.x0 : box.x1])
        return get_array(view, box.slices)
    offset = dataset.get_offset()  # None unless contiguous and written
    if offset is not None and hasattr(os, "posix_fadvise"):
        # HDF5 reads the rows one by one (no sieve buffer: see _access); from a cold disk each would be a
        # seek, so ask the kernel for the band of rows in one go first (nearly free when they are cached)
        os.posix_fadvise(fd, offset + box.y0 * row_bytes, box.height * row_bytes, os.POSIX_FADV_WILLNEED)
    stored = dataset.dtype
    if stored.kind not in "biufc" or stored == np.int64:  # may carry a numpy_dtype to restore: get_array knows
        return get_array(h5py.Dataset(dataset), box.slices)
    out = np.empty((box.height, box.width), dtype=stored)
    if out.size:
        selection = dataset.get_space()
        selection.select_hyperslab((box.y0, box.x0), out.shape)
        dataset.read(h5py.h5s.create_simple(out.shape), selection, out)
    return out


def _wcs_cards(wcs: Any) -> dict[str, Any]:
    header = wcs_header(wcs)
    return {card.keyword: card.value for card in header.cards if card.keyword not in ("COMMENT", "HISTORY", "")}


def _wcs(group: Any) -> Any:
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    from skybutler.formatters._fits_header import write_metadata

    header = fits.Header()
    write_metadata(header, get_attrs(group), "WCS")  # exact float cards: the WCS gets every digit stored
    with warnings.catch_warnings():
        warnings.simplefilter("error", FITSFixedWarning)  # our own cards: nothing to fix
        return WCS(header, fix=False)


def _read_exposure(root: Any, component: str | None, bbox: Any, fd: int | None) -> Any:
    if component in ("metadata", "visit_info"):
        return get_attrs(root[component])
    box = None if bbox is None else Box.resolve(bbox, _dataset(root, "image").shape)
    wcs = _wcs(root["wcs"]) if "wcs" in root else None
    if box is not None:
        wcs = slice_wcs(wcs, box)
    if component == "wcs":
        return wcs
    planes: dict[str, Any] = {
        p: _plane(_dataset(root, p), box, fd) if p in root else None for p in _PLANES if component in (None, p)
    }
    if component is not None:
        return planes[component]
    return Exposure(
        planes["image"],
        mask=planes["mask"],
        variance=planes["variance"],
        metadata=_metadata(root),
        wcs=wcs,
        visit_info=get_attrs(root["visit_info"]),
    )


def _read_spectrum(root: Any, component: str | None, wavelength_range: Any) -> Any:
    if component == "metadata":
        return get_attrs(root["metadata"])
    keep: Any = ()
    if wavelength_range is not None:
        index = wavelength_selection(get_array(root["wavelength"]), wavelength_range)
        contiguous = len(index) > 0 and index[-1] - index[0] + 1 == len(index)
        keep = slice(int(index[0]), int(index[-1]) + 1) if contiguous else index
    values: dict[str, Any] = {
        n: get_array(root[n], keep) if n in root else None for n in _SPECTRUM if component in (None, n)
    }
    if component is not None:
        return values[component]
    return Spectrum(
        values["flux"],
        values["wavelength"],
        values["mask"],
        flux_unit=root["flux"].attrs.get("unit"),
        wavelength_unit=root["wavelength"].attrs.get("unit"),
        metadata=get_attrs(root["metadata"]),
    )


# -- tables -------------------------------------------------------------------------------------------------
def _write_table(root: Any, table: Any) -> None:
    group = _group(root, "table")
    names = list(table.colnames)
    for name in names:
        if "/" in name or name in (".", ""):
            raise FormatterError(f"Column name {name!r} cannot be an HDF5 dataset name (no '/', not '.' or empty).")
        column = table[name]
        unit = None if column.unit is None else column.unit.to_string()
        put_array(
            group, name, np.ma.getdata(column), f"column {name!r}", unit=unit, description=column.description or None
        )
        mask = np.ma.getmask(column)
        if mask is not np.ma.nomask and mask.any():
            put_array(root.require_group("masks"), name, mask, f"mask of column {name!r}")
    group.attrs.create("columns", np.array(names, dtype=object), dtype=h5py.string_dtype("utf-8"))
    group.attrs["rowcount"] = len(table)
    put_attrs(_group(root, "metadata"), table.meta, "table meta")


def _read_table(root: Any, storage_class: str, columns: Any, filters: Any, *, schema_only: bool = False) -> Any:
    from astropy import units
    from astropy.table import Column, MaskedColumn, Table

    group = root["table"]
    masks = root.get("masks")
    names = [str(n) for n in group.attrs["columns"]]
    wanted = check_columns(columns, names) or names
    dnf = normalize_filters(filters, names)

    def column(name: str, selection: Any) -> Any:
        dataset = group[name]
        if isinstance(selection, np.ndarray) and len(selection) > _POINT_SELECTION_LIMIT:
            data = get_array(dataset)[selection]
        else:
            data = get_array(dataset, selection)
        attrs = dataset.attrs
        unit = units.Unit(attrs["unit"], parse_strict="silent") if "unit" in attrs else None
        description = attrs.get("description")
        if masks is not None and name in masks:
            mask = get_array(masks[name])[selection]
            return MaskedColumn(data, name=name, mask=mask, unit=unit, description=description, copy=False)
        return Column(data, name=name, unit=unit, description=description, copy=False)

    rows = None
    if dnf is not None:
        rows = np.flatnonzero(filter_rows(dnf, lambda name: column(name, ())))
    selection: Any = slice(0, 0) if schema_only else (() if rows is None else rows)
    with np.errstate(over="ignore"):  # see arrow_to_astropy: masked float16 columns warn needlessly
        table = Table([column(n, selection) for n in wanted], meta=get_attrs(root["metadata"]), copy=False)
    out = convert_table(table, storage_class)
    if storage_class == "DataFrame" and rows is not None:
        import pandas as pd

        out.index = pd.Index(rows, dtype="int64")
    return out
