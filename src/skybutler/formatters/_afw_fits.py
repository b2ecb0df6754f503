"""Read FITS files the reference stack wrote (its ``afw`` image and table persistence), through astropy.

A team moving from the reference butler brings repositories full of such files.  Their layout, as the
reference stack's public sources write it (``lsst/afw``: ``src/image/ExposureInfo.cc``, ``MaskedImage.cc``,
``Mask.cc``, ``VisitInfo.cc``, ``src/table/io/FitsWriter.cc``):

* an exposure or masked image: an empty primary HDU whose header holds the metadata (and the visit
  information keywords of `VISIT_INFO_KEYS`); then image HDUs with ``EXTTYPE`` (and ``EXTNAME``) ``IMAGE``,
  ``MASK`` and ``VARIANCE``; then binary tables of the persisted parts we do not read (PSF, photometric
  calibration, ... indexed by an ``ARCHIVE_INDEX`` table);
* each image HDU carries the WCS for array pixels (FITS convention) and the image origin ``xy0`` as
  ``LTV1``/``LTV2`` (= ``-x0``/``-y0``) and an alternate ``A`` WCS (``CRVAL1A`` = ``x0``);
* the mask HDU names its planes with ``MP_<NAME>`` = bit number;
* a lone image or mask: the pixels in the primary HDU, with the same keywords;
* a table catalog (``SourceCatalog`` and kin): an empty primary HDU, a binary table whose flag fields are
  packed into one bit-array column ``flags``, the ``n``-th bit named by the keyword ``TFLAGn``.

What we read: an `Exposure` (image, mask, variance; ``metadata`` = the primary header plus the mask-plane
keywords ``MP_*``; ``wcs`` from the image HDU; ``visit_info`` = the visit keywords), an `Image`, and an
astropy table with one boolean column per flag.  ``bbox`` is in the image's PARENT coordinates, as the
reference's is (a pixel's parent position is its array position plus the origin ``xy0``): a `Box`, or
``(rows, columns)`` slices of parent positions; the cut-out's ``LTV1``/``LTV2`` give its own origin, the box's
corner.  It reads only the rows holding the cut-out.  Writing is not offered: new files are written in our
own layouts.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from skybutler.astro import Box, Exposure, Image
from skybutler.astro._image import slice_wcs
from skybutler.errors import FormatterError
from skybutler.formatters._fits import _plane, _shape
from skybutler.formatters._fits_header import read_metadata
from skybutler.formatters._formatter import Formatter

__all__ = ["VISIT_INFO_KEYS", "AfwFitsFormatter"]

#: Keywords the reference writes for an exposure's visit information (``VisitInfo.cc``).
VISIT_INFO_KEYS = (
    "EXPID", "EXPTIME", "DARKTIME", "DATE-AVG", "TIMESYS", "TIME-MID", "MJD-AVG-UT1", "AVG-ERA", "BORE-RA",
    "BORE-DEC", "BORE-AZ", "BORE-ALT", "BORE-AIRMASS", "BORE-ROTANG", "ROTTYPE", "OBS-LONG", "OBS-LAT",
    "OBS-ELEV", "AIRTEMP", "AIRPRESS", "HUMIDITY", "INSTRUMENT", "IDNUM", "FOCUSZ", "OBSTYPE", "OBSID",
    "HAS-SIMULATED-CONTENT",
)  # fmt: skip

#: Keywords of the image origin and the reference's bookkeeping, left out of the WCS we build.
_NOT_WCS = ("LTV1", "LTV2", "INHERIT", "EXTTYPE", "EXTNAME")
_PLANES = ("IMAGE", "MASK", "VARIANCE")
_EXPOSURE_PARTS = ("image", "mask", "variance", "metadata", "wcs", "visit_info")


class AfwFitsFormatter(Formatter):
    """Reads the reference stack's exposure, masked-image, image, mask and table-catalog FITS files."""

    name = "afw_fits"
    extensions = (".fits",)
    storage_classes = ()  # reads only

    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Refuse: files in the reference's layout are read here, never written."""
        raise FormatterError(
            "The afw_fits formatter reads files the reference butler wrote; it does not write. New datasets are "
            "written with the 'fits' formatter (our layout, which astropy and the reference's readers of plain "
            "FITS can open)."
        )

    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Read what the file holds: an exposure (or masked image), an image or mask, or a table catalog."""
        params = dict(parameters or {})
        unknown = sorted(set(params) - {"bbox"})
        if unknown:
            raise FormatterError(f"Unknown read parameter(s) {unknown} for a reference FITS file; accepted: ['bbox'].")
        with fits.open(stream, memmap=False, lazy_load_hdus=True, mode="readonly") as hdul:
            primary = hdul[0].header
            if primary.get("NAXIS", 0):  # a lone image or mask, in the primary HDU
                return _read_image(hdul, component, params.get("bbox"), stream)
            try:
                second = hdul[1].header
            except IndexError:
                raise FormatterError("This FITS file has no data: neither pixels nor a table.") from None
            if second.get("XTENSION") == "BINTABLE":
                if component is not None or params:
                    raise FormatterError("A reference table catalog is read whole (no component, no bbox).")
                return read_catalog(hdul[1])
            return _read_exposure(hdul, component, params.get("bbox"), stream)


def _wcs(header: fits.Header) -> Any:
    """The WCS of array pixels from an image HDU's header, or ``None`` when it has none."""
    if "CTYPE1" not in header:
        return None
    cards = fits.Header([card for card in header.cards if card.keyword not in _NOT_WCS])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)  # the reference's DATE-OBS/MJD spellings
        return WCS(cards, relax=True)


def _xy0(header: fits.Header) -> dict[str, Any]:
    """The image origin as metadata (``LTV1``/``LTV2``), kept so that parent coordinates can be recovered."""
    return {key: header[key] for key in ("LTV1", "LTV2") if key in header}


def _array_box(bbox: Any, header: fits.Header) -> Box:
    """The array box of a ``bbox`` given in parent coordinates (the reference's), checked inside the image.

    The image's origin is ``(x0, y0) = (-LTV1, -LTV2)``; a file without them has its origin at 0.
    """
    x0, y0 = round(-float(header.get("LTV1", 0))), round(-float(header.get("LTV2", 0)))
    rows, cols = _shape(header)
    if isinstance(bbox, Box):
        if bbox.x0 < x0 or bbox.y0 < y0 or bbox.x1 > x0 + cols or bbox.y1 > y0 + rows:
            raise FormatterError(
                f"bbox {bbox} (parent coordinates, as the reference's) reaches outside the image, which covers "
                f"x {x0} to {x0 + cols - 1} and y {y0} to {y0 + rows - 1} (its origin xy0 is ({x0}, {y0}))."
            )
        return Box(x0=bbox.x0 - x0, y0=bbox.y0 - y0, width=bbox.width, height=bbox.height)
    if isinstance(bbox, tuple) and len(bbox) == 2 and all(isinstance(s, slice) for s in bbox):
        row, col = bbox

        def shift(s: slice, by: int) -> slice:
            def moved(v: Any) -> Any:
                return v - by if isinstance(v, int) and not isinstance(v, bool) else v

            return slice(moved(s.start), moved(s.stop), s.step)

        return Box.resolve((shift(row, y0), shift(col, x0)), (rows, cols))
    return Box.resolve(bbox, (rows, cols))  # refused there, with what is accepted


def _cut_origin(metadata: dict[str, Any], header: fits.Header, box: Box) -> None:
    """The cut-out's own origin (``LTV1``/``LTV2``): the parent position of its first pixel."""
    x0, y0 = round(-float(header.get("LTV1", 0))), round(-float(header.get("LTV2", 0)))
    metadata["LTV1"], metadata["LTV2"] = -(x0 + box.x0), -(y0 + box.y0)


def _read_image(hdul: Any, component: str | None, bbox: Any, stream: BinaryIO) -> Any:
    if component not in (None, "data", "metadata"):
        raise FormatterError(f"A reference image has no component {component!r}; components: ['data', 'metadata'].")
    header = hdul[0].header
    metadata = read_metadata(header)
    if component == "metadata":
        return metadata
    box = None if bbox is None else _array_box(bbox, header)
    data = _plane(hdul, 0, box, stream)
    if box is not None and data is not None:
        _cut_origin(metadata, header, box)
    return data if component == "data" else Image(data, metadata)


def _read_exposure(hdul: Any, component: str | None, bbox: Any, stream: BinaryIO) -> Any:
    if component is not None and component not in _EXPOSURE_PARTS:
        raise FormatterError(
            f"A reference exposure has no component {component!r}; components: {list(_EXPOSURE_PARTS)}."
        )
    planes: dict[str, int] = {}
    for index, hdu in enumerate(hdul):
        kind = str(hdu.header.get("EXTTYPE", hdu.header.get("EXTNAME", ""))).strip().upper()
        if kind in _PLANES and kind not in planes:
            planes[kind] = index
        if len(planes) == len(_PLANES):
            break
    if "IMAGE" not in planes:
        raise FormatterError("This FITS file has no IMAGE extension; it is not an exposure the reference wrote.")
    primary = hdul[0].header
    visit_info = {k: v for k, v in read_metadata(primary).items() if k in VISIT_INFO_KEYS}
    if component == "visit_info":
        return visit_info
    image_header = hdul[planes["IMAGE"]].header
    metadata = {k: v for k, v in read_metadata(primary).items() if k not in VISIT_INFO_KEYS}
    metadata.update(_xy0(image_header))
    if "MASK" in planes:
        mask_header = hdul[planes["MASK"]].header
        metadata.update({k: v for k, v in mask_header.items() if k.startswith("MP_")})
    box = None if bbox is None else _array_box(bbox, image_header)
    if box is not None:
        _cut_origin(metadata, image_header, box)
    if component == "metadata":
        return metadata
    wcs = _wcs(image_header)
    if box is not None:
        wcs = slice_wcs(wcs, box)
    if component == "wcs":
        return wcs
    arrays = {
        name: _plane(hdul, index, box, stream) if component in (None, name.lower()) else None
        for name, index in planes.items()
    }
    if component is not None:
        return arrays.get(component.upper())
    image = arrays["IMAGE"]
    assert image is not None  # the IMAGE extension is there (checked above)
    return Exposure(
        image,
        mask=arrays.get("MASK"),
        variance=arrays.get("VARIANCE"),
        metadata=metadata,
        wcs=wcs,
        visit_info=visit_info,
    )


def read_catalog(hdu: Any) -> Any:
    """An afw table catalog's binary table as an astropy table, its packed flags as boolean columns."""
    from astropy.table import Table

    header = hdu.header
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference's unit spellings astropy does not know
        table = Table.read(hdu, character_as_bytes=False, unit_parse_strict="silent")
    numbered = {int(k[5:]): v for k, v in header.items() if k.startswith("TFLAG") and k[5:].isdigit()}
    flag_names = [numbered[n] for n in sorted(numbered)]
    if "flags" in table.colnames and flag_names:
        bits = np.asarray(table["flags"], dtype=bool).reshape(len(table), -1)
        index = table.colnames.index("flags")
        table.remove_column("flags")
        for n, name in enumerate(flag_names):
            table.add_column(bits[:, n], name=name, index=index + n)
    for key in list(table.meta):
        if key.startswith(("TFLAG", "TDOC", "TCCLS")):
            del table.meta[key]
    return table
