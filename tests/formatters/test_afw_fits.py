"""Files in the reference stack's FITS layouts (exposures, images, table catalogs) read through astropy.

The files are built here with astropy, following the layout the reference stack's public sources write
(``lsst/afw``): ``src/image/ExposureInfo.cc`` and ``MaskedImage.cc`` (empty primary HDU holding the metadata
and visit keywords; ``IMAGE``, ``MASK``, ``VARIANCE`` extensions named by ``EXTTYPE``/``EXTNAME``; archive
tables after them), ``src/image/Mask.cc`` (``MP_<plane>`` = bit number in the mask header),
``src/image/VisitInfo.cc`` (``EXPTIME``, ``BORE-AIRMASS``, ...), ``src/geom/SkyWcs.cc`` and
``src/image/ImageBase`` writing (the WCS of array pixels, ``LTV1``/``LTV2`` and the alternate ``A`` WCS for
the image origin) and ``src/table/io/FitsWriter.cc`` (flags packed into a ``flags`` bit column, bit ``n``
named by ``TFLAGn``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skybutler.astro import Box, Exposure, Image
from skybutler.errors import FormatterError
from skybutler.formatters import formatters
from skybutler.testing.astro import CountingReader

FMT = formatters.get("afw_fits")()
SHAPE = (300, 200)  # rows, columns
X0, Y0 = 1000, 2000  # the image origin (afw's xy0)
PLANES = {"BAD": 0, "SAT": 1, "INTRP": 2, "CR": 3, "EDGE": 4, "DETECTED": 5}


def _wcs() -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.crpix = [100.5, 150.5]
    wcs.wcs.cd = [[-5.6e-5, 0.0], [0.0, 5.6e-5]]
    return wcs


def _image_header(kind: str) -> fits.Header:
    header = fits.Header()
    header["EXTTYPE"] = kind
    header["EXTNAME"] = kind
    header["INHERIT"] = True
    header.extend(_wcs().to_header().cards)
    for key, value in {"LTV1": -X0, "LTV2": -Y0, "CRVAL1A": X0, "CRVAL2A": Y0, "CRPIX1A": 1.0, "CRPIX2A": 1.0,
                       "CTYPE1A": "LINEAR", "CTYPE2A": "LINEAR", "CUNIT1A": "PIXEL", "CUNIT2A": "PIXEL",
                       "WCSNAMEA": "PHYSICAL"}.items():  # fmt: skip
        header[key] = value
    return header


def planes() -> tuple[Any, Any, Any]:
    rng = np.random.default_rng(7)
    image = rng.normal(100, 5, SHAPE).astype(np.float32)
    mask = rng.integers(0, 64, SHAPE).astype(np.int32)
    variance = rng.uniform(20, 30, SHAPE).astype(np.float32)
    return image, mask, variance


def write_reference_exposure(path: Path) -> None:
    """An ``ExposureF`` as the reference writes it (see the module docstring for where each part comes from)."""
    image, mask, variance = planes()
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "Subaru"
    primary.header["EXPTIME"] = 30.0
    primary.header["HIERARCH BORE-AIRMASS"] = 1.25  # keywords over 8 characters: HIERARCH, as cfitsio
    primary.header["EXPID"] = 903334
    primary.header["AR_HDU"] = 5  # where the archive starts (not read here)
    mask_header = _image_header("MASK")
    for name, bit in PLANES.items():
        mask_header[f"HIERARCH MP_{name}" if len(name) > 5 else f"MP_{name}"] = bit
    archive = fits.BinTableHDU.from_columns([fits.Column(name="id", format="K", array=np.arange(3))])
    archive.header["EXTNAME"] = "ARCHIVE_INDEX"
    archive.header["EXTTYPE"] = "ARCHIVE_INDEX"
    fits.HDUList([
        primary,
        fits.ImageHDU(image, _image_header("IMAGE")),
        fits.ImageHDU(mask, mask_header),
        fits.ImageHDU(variance, _image_header("VARIANCE")),
        archive,
    ]).writeto(path)  # fmt: skip


def write_reference_catalog(path: Path) -> None:
    """A ``SourceCatalog``: flags packed into one bit column, named by ``TFLAGn``."""
    flags = np.array([[True, False, True], [False, False, True], [True, True, False], [False, False, False]])
    table = fits.BinTableHDU.from_columns([
        fits.Column(name="id", format="K", array=np.arange(1, 5)),
        fits.Column(name="coord_ra", format="D", unit="rad", array=np.linspace(2.6, 2.7, 4)),
        fits.Column(name="flags", format="3X", array=flags),
        fits.Column(name="base_PsfFlux_instFlux", format="D", unit="ct", array=np.arange(4) * 10.0),
    ])  # fmt: skip
    table.header["AFW_TYPE"] = "SOURCE"
    for n, name in enumerate(["base_PixelFlags_flag", "base_PixelFlags_flag_edge", "base_PsfFlux_flag"], 1):
        table.header[f"TFLAG{n}"] = name
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)


def _read(path: Path, **kwargs: Any) -> tuple[Any, int]:
    with open(path, "rb") as raw:
        reader = CountingReader(raw)
        return FMT.read(reader, **kwargs), reader.bytes_read  # type: ignore[arg-type]


def test_a_reference_exposure_reads_with_its_pixels_mask_planes_wcs_and_visit_info(tmp_path: Path) -> None:
    path = tmp_path / "calexp.fits"
    write_reference_exposure(path)
    exposure, _ = _read(path)
    image, mask, variance = planes()
    assert isinstance(exposure, Exposure)
    np.testing.assert_array_equal(exposure.image, image)
    np.testing.assert_array_equal(exposure.mask, mask)
    np.testing.assert_array_equal(exposure.variance, variance)
    assert {k[3:]: v for k, v in exposure.metadata.items() if k.startswith("MP_")} == PLANES
    assert exposure.metadata["TELESCOP"] == "Subaru"
    assert (exposure.metadata["LTV1"], exposure.metadata["LTV2"]) == (-X0, -Y0)
    assert exposure.visit_info == {"EXPTIME": 30.0, "BORE-AIRMASS": 1.25, "EXPID": 903334}
    # the WCS maps array pixels as the one written does, and ignores the alternate (xy0) WCS
    sky = exposure.wcs.pixel_to_world_values([0.0, 57.0, 199.0], [0.0, 33.0, 299.0])
    np.testing.assert_allclose(sky, _wcs().pixel_to_world_values([0.0, 57.0, 199.0], [0.0, 33.0, 299.0]))


def test_components_and_a_bbox_cutout_read_only_what_they_need(tmp_path: Path) -> None:
    path = tmp_path / "calexp.fits"
    write_reference_exposure(path)
    size = path.stat().st_size
    image, mask, _ = planes()
    box = Box(x0=20, y0=40, width=10, height=5)  # in the array; the bbox is in parent coordinates
    parent = Box(x0=X0 + 20, y0=Y0 + 40, width=10, height=5)
    cut, read = _read(path, parameters={"bbox": parent})
    np.testing.assert_array_equal(cut.image, image[box.slices])
    np.testing.assert_array_equal(cut.mask, mask[box.slices])
    assert read < size / 10  # headers and 3 x 5 rows, not the planes
    sky = cut.wcs.pixel_to_world_values(0.0, 0.0)
    np.testing.assert_allclose(sky, _wcs().pixel_to_world_values(20.0, 40.0))
    only_mask, read = _read(path, component="mask")
    np.testing.assert_array_equal(only_mask, mask)
    assert read < size / 2
    assert _read(path, component="visit_info")[0]["EXPTIME"] == 30.0


def test_a_masked_image_and_a_lone_image(tmp_path: Path) -> None:
    image, mask, variance = planes()
    masked = tmp_path / "masked.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(image, _image_header("IMAGE")),
                  fits.ImageHDU(mask, _image_header("MASK")),
                  fits.ImageHDU(variance, _image_header("VARIANCE"))]).writeto(masked)  # fmt: skip
    read, _ = _read(masked)
    np.testing.assert_array_equal(read.variance, variance)
    lone = tmp_path / "image.fits"
    header = _image_header("IMAGE")
    del header["EXTNAME"], header["EXTTYPE"], header["INHERIT"]
    fits.PrimaryHDU(image, header).writeto(lone)
    got, _ = _read(lone)
    assert isinstance(got, Image)
    np.testing.assert_array_equal(got.array, image)
    cut, _ = _read(lone, parameters={"bbox": (slice(Y0 + 5, Y0 + 7), slice(X0, X0 + 3))})
    np.testing.assert_array_equal(cut.array, image[5:7, 0:3])
    assert (cut.metadata["LTV1"], cut.metadata["LTV2"]) == (-X0, -(Y0 + 5))


def test_bbox_is_in_parent_coordinates_as_the_reference_has_it(tmp_path: Path) -> None:
    """The reference's ``bbox`` is a Box2I in PARENT coordinates: the pixel at array ``[r, c]`` of an image
    whose origin (afw ``getXY0()``, written as ``LTV1``/``LTV2`` = ``-x0``/``-y0`` by afw's
    ``src/image/ImageBase.cc`` / ``fits/fitsWriteImage``) is at parent ``(x0 + c, y0 + r)``; a sub-image read
    by ``bbox`` has the box's corner as its own origin (afw ``ImageBase(image, bbox)``)."""
    path = tmp_path / "calexp.fits"
    write_reference_exposure(path)
    image, _, variance = planes()
    parent = Box(x0=X0 + 195, y0=Y0 + 290, width=5, height=10)  # the far corner of the image
    cut, _ = _read(path, parameters={"bbox": parent})
    np.testing.assert_array_equal(cut.image, image[290:300, 195:200])
    np.testing.assert_array_equal(cut.variance, variance[290:300, 195:200])
    assert (cut.metadata["LTV1"], cut.metadata["LTV2"]) == (-(X0 + 195), -(Y0 + 290))
    np.testing.assert_allclose(cut.wcs.pixel_to_world_values(0.0, 0.0), _wcs().pixel_to_world_values(195.0, 290.0))
    assert _read(path, component="metadata", parameters={"bbox": parent})[0]["LTV1"] == -(X0 + 195)
    for outside in (Box(x0=0, y0=0, width=5, height=5), Box(x0=X0 + 196, y0=Y0, width=5, height=5),
                    Box(x0=X0, y0=Y0 - 1, width=5, height=5)):  # fmt: skip
        with pytest.raises(FormatterError, match=r"parent coordinates.*origin xy0 is \(1000, 2000\)"):
            _read(path, parameters={"bbox": outside})


def test_a_reference_catalog_reads_as_an_astropy_table_with_one_column_per_flag(tmp_path: Path) -> None:
    path = tmp_path / "src.fits"
    write_reference_catalog(path)
    table, _ = _read(path)
    assert table.colnames == ["id", "coord_ra", "base_PixelFlags_flag", "base_PixelFlags_flag_edge",
                              "base_PsfFlux_flag", "base_PsfFlux_instFlux"]  # fmt: skip
    assert list(table["base_PsfFlux_flag"]) == [True, True, False, False]
    assert list(table["base_PixelFlags_flag"]) == [True, False, True, False]
    assert str(table["coord_ra"].unit) == "rad"


def test_it_never_writes_and_refuses_unknown_parameters(tmp_path: Path) -> None:
    with pytest.raises(FormatterError, match="does not write"):
        FMT.write(object(), io.BytesIO())
    path = tmp_path / "calexp.fits"
    write_reference_exposure(path)
    with pytest.raises(FormatterError, match="accepted: \\['bbox'\\]"):
        _read(path, parameters={"origin": "PARENT"})
    with pytest.raises(FormatterError, match="no component 'psf'"):
        _read(path, component="psf")
