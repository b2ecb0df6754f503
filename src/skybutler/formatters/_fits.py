"""FITS formatter (astropy.io.fits): images as HDUs, tables as binary tables, metadata in headers.

Layouts (HDU names in capitals; every file's primary header has ``SBCLASS`` = the storage class):

* ``Image``: the primary HDU holds the pixels, its header the metadata.
* ``Exposure``: primary header = metadata; ``IMAGE``, ``MASK``, ``VARIANCE`` image HDUs, each with the
  WCS cards; ``VISIT_INFO``, a header-only HDU whose cards are the visit information.
* ``Spectrum``: primary header = metadata; 1-D ``FLUX``, ``WAVELENGTH`` and ``MASK`` HDUs (units in ``BUNIT``).
* Tables: a ``TABLE`` binary table; metadata in its header, units in ``TUNITn``, descriptions in ``TCOMMn``.
* ``Metadata`` / ``Wcs``: a header-only primary HDU.
* ``NumpyArray``: the primary HDU holds the n-d array (booleans as marked ``uint8``).
* ``StructuredDataDict``: a ``DATA`` binary table, one row per node of the tree (`_structured.fits_hdu`).
  A dict is ``Metadata`` unless the datastore says otherwise (`Formatter.for_storage_class`).

Files are opened lazily without memory mapping, so a component reads only the headers up to its HDU and
its own data, and ``bbox`` reads only the rows holding the cut-out, in one request per plane.  A metadata
component or an image cut-out needs only the primary header, so astropy's HDU list is not even built.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from skybutler.astro import Box, Exposure, Image, Spectrum
from skybutler.astro._image import slice_wcs, wcs_header
from skybutler.astro._spectrum import wavelength_selection
from skybutler.astro._tables import TableSchema
from skybutler.errors import FormatterError
from skybutler.formatters._astro_io import (
    TABLE_CLASSES,
    finish_table,
    read_parameters,
    storage_class_of,
    table_for_writing,
)
from skybutler.formatters._fits_header import BOOL_MARKER, MARKER, read_metadata, write_metadata
from skybutler.formatters._fits_tables import read_table, read_table_schema, table_hdu
from skybutler.formatters._formatter import Formatter
from skybutler.formatters._streams import BAND_LIMIT, OutputStream
from skybutler.formatters._structured import STRUCTURED, fits_hdu, from_fits

__all__ = ["FitsFormatter"]

_PLANES = ("IMAGE", "MASK", "VARIANCE")
_SPECTRUM = {"flux": "FLUX", "wavelength": "WAVELENGTH", "mask": "MASK"}


class FitsFormatter(Formatter):
    """FITS files written and read with astropy; one file per dataset, named HDUs for composites."""

    name = "fits"
    extensions = (".fits",)
    storage_classes = (
        "Image", "Exposure", "Spectrum", "Metadata", "Wcs", "NumpyArray", STRUCTURED, *TABLE_CLASSES,
    )  # fmt: skip
    told_storage_classes = (STRUCTURED,)
    records_provenance = True

    # -- write ------------------------------------------------------------------------------------------------
    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Write ``obj`` as a FITS file (sequentially, so through the datastore's hashing stream)."""
        storage_class = self.writes_as or storage_class_of(obj, self.storage_classes)
        primary = fits.PrimaryHDU()
        primary.header[MARKER] = (storage_class, "skybutler storage class")
        if self.provenance is not None:
            from skybutler.formatters._provenance import fits_cards

            primary.header.extend(fits_cards(self.provenance))
        hdus: list[Any] = [primary]
        if storage_class == "Image":
            primary.data = _pixels("Image.array", obj.array, primary.header)
            write_metadata(primary.header, obj.metadata, "Image.metadata")
        elif storage_class == "Exposure":
            write_metadata(primary.header, obj.metadata, "Exposure.metadata")
            hdus += _exposure_hdus(obj)
        elif storage_class == "Spectrum":
            write_metadata(primary.header, obj.metadata, "Spectrum.metadata")
            hdus += _spectrum_hdus(obj)
        elif storage_class == "Metadata":
            write_metadata(primary.header, obj)
        elif storage_class == "Wcs":
            primary.header.extend(_wcs_cards(obj))
        elif storage_class == "NumpyArray":
            if obj.ndim == 0 or obj.size == 0:
                raise FormatterError(
                    f"A FITS image needs at least one element in one dimension; got shape {obj.shape}."
                )
            primary.data = _pixels("The array", obj, primary.header)
        elif storage_class == STRUCTURED:
            hdus.append(fits_hdu(obj))
        else:
            hdus.append(table_hdu(table_for_writing(obj, storage_class, "FITS")))
        try:
            fits.HDUList(hdus).writeto(OutputStream(stream))
        except (ValueError, TypeError, KeyError, UnicodeEncodeError) as exc:
            raise FormatterError(f"Cannot write this {storage_class} as FITS: {exc}") from exc

    # -- read -------------------------------------------------------------------------------------------------
    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Read the object, one component of it, or a cut-out / column subset (see the module docstring)."""
        primary = fits.Header.fromfile(stream)  # the primary header says what the file holds
        storage_class = str(primary.get(MARKER, "Image" if primary.get("NAXIS") else "Metadata"))
        params = read_parameters(storage_class, component, parameters, "FITS")
        if storage_class == "Wcs":
            return _wcs(primary)
        if storage_class in ("Metadata", "Image") and component in (None, "metadata", "data"):
            found = _read_primary(primary, stream, storage_class, component, params.get("bbox"))
            if found is not None:  # answered from the primary header alone (and a cut-out's rows)
                return found
        stream.seek(0)
        with fits.open(stream, memmap=False, lazy_load_hdus=True, mode="readonly") as hdul:
            if storage_class == "NumpyArray":
                return _read_array(hdul[0], params.get("slices"))
            if storage_class == STRUCTURED:
                return from_fits(hdul["DATA"])
            if storage_class == "Image":
                return _read_image(hdul, component, params.get("bbox"), stream)
            if storage_class == "Exposure":
                return _read_exposure(hdul, component, params.get("bbox"), stream)
            if storage_class == "Spectrum":
                return _read_spectrum(hdul, component, params.get("wavelength_range"), stream)
            if storage_class not in TABLE_CLASSES:
                raise FormatterError(f"This FITS file holds a {storage_class!r}, which the fits formatter cannot read.")
            hdu = hdul["TABLE"]
            if component == "rowcount":
                return int(hdu.header["NAXIS2"])
            if component == "schema":
                return TableSchema.of(finish_table(read_table_schema(hdu.header), storage_class, None, None))
            return finish_table(read_table(hdu), storage_class, params.get("columns"), params.get("filters"))


# -- pixels -------------------------------------------------------------------------------------------------
def _read_array(hdu: Any, slices: Any) -> Any:
    """A ``NumpyArray`` as it was put: booleans restored, native byte order (FITS stores big-endian)."""
    data = hdu.data
    data = data.astype(bool) if hdu.header.get(BOOL_MARKER) == "bool" else data.astype(data.dtype.newbyteorder("="))
    return np.ascontiguousarray(data[slices]) if slices is not None else data


def _pixels(name: str, array: Any, header: fits.Header) -> Any:
    """The array to store in an image HDU (booleans as uint8, marked), refusing types FITS images lack."""
    array = np.asarray(array)
    if array.dtype.kind == "b":
        header[BOOL_MARKER] = ("bool", "skybutler: a boolean plane stored as uint8")
        return array.astype(np.uint8)
    if array.dtype.kind not in "iuf" or array.dtype.itemsize > 8 or array.dtype == np.float16:
        raise FormatterError(
            f"{name} has dtype {array.dtype}, which FITS images cannot hold (use integers, float32 or float64, "
            "or the hdf5 formatter)."
        )
    return array


def _read_primary(header: fits.Header, stream: BinaryIO, storage_class: str, component: Any, bbox: Any) -> Any:
    """Metadata, or an image cut-out, read without astropy's HDU machinery; ``None`` where that does not do."""
    if storage_class == "Metadata" or component == "metadata":
        return read_metadata(header)
    if bbox is None:
        return None
    box = Box.resolve(bbox, _shape(header))
    data = _section(header, stream.tell(), box, stream) if box.width and box.height else None
    if data is None:
        return None
    data = data.astype(bool) if header.get(BOOL_MARKER) == "bool" else data
    return data if component == "data" else Image(data, read_metadata(header))


def _plane(hdul: Any, key: int | str, box: Box | None, stream: BinaryIO) -> Any:
    hdu = hdul[key]
    data = None
    if box is None:
        data = np.asarray(hdu.data)
    elif box.width and box.height:
        data = _section(hdu.header, hdu.fileinfo()["datLoc"], box, stream)
        if data is None:
            data = np.asarray(hdu.section[box.slices])
    else:  # astropy returns a 1-D float array for an empty section: keep the shape and the pixel type
        data = np.empty((box.height, box.width), np.asarray(hdu.section[0:1, 0:1]).dtype)
    return data.astype(bool) if hdu.header.get(BOOL_MARKER) == "bool" else data


#: Stored (big-endian) pixel type by BITPIX, for planes without BZERO/BSCALE scaling.
_BITPIX = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _section(header: fits.Header, start: int, box: Box, stream: BinaryIO) -> Any:
    """Read the pixels of ``box`` from the data starting at byte ``start``; ``None`` when astropy must do it.

    One read for the band of rows holding the box (up to `BAND_LIMIT` bytes), else one read per row;
    astropy's ``section`` reads per row with Python overhead, several times slower for a 100x100 cut-out.
    Scaled planes (BZERO/BSCALE: unsigned and 8-bit signed integers) are left to astropy.
    """
    dtype_name = _BITPIX.get(header["BITPIX"])
    readinto = getattr(stream, "readinto", None)
    if dtype_name is None or readinto is None or "BZERO" in header or "BSCALE" in header or header["NAXIS"] != 2:
        return None
    dtype = np.dtype(dtype_name)
    columns = int(header["NAXIS1"])
    if box.height * columns * dtype.itemsize <= BAND_LIMIT:
        band = np.empty((box.height, columns), dtype)
        stream.seek(start + box.y0 * columns * dtype.itemsize)
        _read_into(readinto, band)
        return np.ascontiguousarray(band[:, box.x0 : box.x1])
    out = np.empty((box.height, box.width), dtype)
    for i in range(box.height):
        stream.seek(start + ((box.y0 + i) * columns + box.x0) * dtype.itemsize)
        _read_into(readinto, out[i])
    return out


def _read_into(readinto: Any, array: Any) -> None:
    view = memoryview(array).cast("B")
    while len(view):
        count = readinto(view)
        if not count:
            raise FormatterError("The FITS file ends before the pixels its header describes.")
        view = view[count:]


def _wcs_cards(wcs: Any) -> list[fits.Card]:
    return [card for card in wcs_header(wcs).cards if card.keyword not in ("COMMENT", "HISTORY", "")]


def _wcs(header: fits.Header) -> Any:
    cards = fits.Header()  # rebuilt with exact float cards, so the WCS gets every digit the file has
    write_metadata(cards, {k: v for k, v in read_metadata(header).items() if k not in ("COMMENT", "HISTORY")})
    with warnings.catch_warnings():
        # Our own header, written from a WCS: nothing for astropy to "fix" (and fixing would change it).
        warnings.simplefilter("error", FITSFixedWarning)
        return WCS(cards, fix=False)


def _read_image(hdul: Any, component: str | None, bbox: Any, stream: BinaryIO) -> Any:
    primary = hdul[0]
    if component == "metadata":
        return read_metadata(primary.header)
    box = None if bbox is None else Box.resolve(bbox, _shape(primary.header))
    data = _plane(hdul, 0, box, stream)
    return data if component == "data" else Image(data, read_metadata(primary.header))


def _shape(header: fits.Header) -> tuple[int, ...]:
    return tuple(int(header[f"NAXIS{i}"]) for i in range(int(header["NAXIS"]), 0, -1))


def _exposure_hdus(exposure: Exposure) -> list[Any]:
    wcs_cards = [] if exposure.wcs is None else _wcs_cards(exposure.wcs)
    hdus: list[Any] = []
    for name, array in zip(_PLANES, (exposure.image, exposure.mask, exposure.variance), strict=True):
        if array is None:
            continue
        hdu = fits.ImageHDU(name=name)
        hdu.data = _pixels(f"Exposure.{name.lower()}", array, hdu.header)
        hdu.header.extend(wcs_cards)
        hdus.append(hdu)
    visit = fits.ImageHDU(name="VISIT_INFO")
    write_metadata(visit.header, exposure.visit_info, "Exposure.visit_info")
    return [*hdus, visit]


def _read_exposure(hdul: Any, component: str | None, bbox: Any, stream: BinaryIO) -> Any:
    names = {hdu.name for hdu in hdul}  # reads the headers only (lazy HDUs, no memory map)
    if component == "metadata":
        return read_metadata(hdul[0].header)
    if component == "visit_info":
        return read_metadata(hdul["VISIT_INFO"].header)
    image_header = hdul["IMAGE"].header
    box = None if bbox is None else Box.resolve(bbox, _shape(image_header))
    wcs = _wcs(image_header) if "WCSAXES" in image_header else None
    if box is not None:
        wcs = slice_wcs(wcs, box)
    if component == "wcs":
        return wcs
    planes: dict[str, Any] = {
        n: _plane(hdul, n, box, stream) if n in names else None for n in _PLANES if component in (None, n.lower())
    }
    if component is not None:
        return planes[component.upper()]
    return Exposure(
        planes["IMAGE"],
        mask=planes["MASK"],
        variance=planes["VARIANCE"],
        metadata=read_metadata(hdul[0].header),
        wcs=wcs,
        visit_info=read_metadata(hdul["VISIT_INFO"].header),
    )


def _spectrum_hdus(spectrum: Spectrum) -> list[Any]:
    hdus = []
    units = {"flux": spectrum.flux_unit, "wavelength": spectrum.wavelength_unit}
    for attr, name in _SPECTRUM.items():
        array = getattr(spectrum, attr)
        if array is None:
            continue
        hdu = fits.ImageHDU(name=name)
        hdu.data = _pixels(f"Spectrum.{attr}", array, hdu.header)
        if units.get(attr) is not None:
            write_metadata(hdu.header, {"BUNIT": units[attr]}, f"Spectrum.{attr}_unit")
        hdus.append(hdu)
    return hdus


def _read_spectrum(hdul: Any, component: str | None, wavelength_range: Any, stream: BinaryIO) -> Any:
    if component == "metadata":
        return read_metadata(hdul[0].header)
    names = {hdu.name for hdu in hdul}
    keep: Any = slice(None)
    if wavelength_range is not None:
        index = wavelength_selection(_plane(hdul, "WAVELENGTH", None, stream), wavelength_range)
        contiguous = len(index) == 0 or index[-1] - index[0] + 1 == len(index)
        keep = slice(int(index[0]), int(index[-1]) + 1) if len(index) and contiguous else index
    values: dict[str, Any] = {}
    for attr, name in _SPECTRUM.items():
        if component not in (None, attr):
            continue
        if name not in names:
            values[attr] = None
            continue
        hdu = hdul[name]
        if isinstance(keep, slice):  # a section read: only the samples kept
            data = np.asarray(hdu.section[keep]) if keep != slice(None) else np.asarray(hdu.data)
            values[attr] = data.astype(bool) if hdu.header.get(BOOL_MARKER) == "bool" else data
        else:
            values[attr] = _plane(hdul, name, None, stream)[keep]
    if component is not None:
        return values[component]
    return Spectrum(
        values["flux"],
        values["wavelength"],
        values["mask"],
        flux_unit=hdul["FLUX"].header.get("BUNIT"),
        wavelength_unit=hdul["WAVELENGTH"].header.get("BUNIT"),
        metadata=read_metadata(hdul[0].header),
    )
