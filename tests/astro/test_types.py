"""Box, Image, Exposure and Spectrum: astronomy conventions, validation and in-memory cut-outs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from astropy.wcs import WCS
from hypothesis import given
from hypothesis import strategies as st

from skybutler.astro import Box, Exposure, Image, Spectrum, arrays_equal, metadata_equal, wcs_equal
from skybutler.errors import FormatterError


def test_importing_the_package_imports_no_numpy_or_astropy() -> None:
    code = "import sys, skybutler.astro; print([m for m in ('numpy', 'astropy') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_box_is_x_columns_y_rows() -> None:
    box = Box(x0=10, y0=20, width=100, height=50)
    assert (box.x1, box.y1) == (110, 70)
    assert box.slices == (slice(20, 70), slice(10, 110))
    array = np.zeros((100, 200))
    assert array[box.slices].shape == (50, 100)


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_box_and_slices_round_trip(x0: int, y0: int, width: int, height: int) -> None:
    box = Box(x0, y0, width, height)
    assert Box.from_slices(box.slices) == box
    assert Box.resolve(box.slices, (200, 200)) == box


def test_resolve_fills_open_slices_and_accepts_numpy_integers() -> None:
    assert Box.resolve((slice(None, 3), slice(np.int64(2), None)), (10, 8)) == Box(2, 0, 6, 3)


@pytest.mark.parametrize(
    ("bbox", "match"),
    [
        (Box(5, 5, 10, 1), "outside the image"),
        ((slice(0, 2, 2), slice(0, 2)), "no step"),
        ((slice(-2, None), slice(0, 2)), "negative"),
        ((slice(0, 2),), "two slices"),
        ("0:2,0:2", "two slices"),
        ((slice(0.5, 2), slice(0, 2)), "two slices"),
    ],
)
def test_bad_bboxes_are_refused(bbox: object, match: str) -> None:
    with pytest.raises(FormatterError, match=match):
        Box.resolve(bbox, (10, 10))


def test_box_fields_must_be_non_negative_integers() -> None:
    with pytest.raises(FormatterError, match="non-negative"):
        Box(-1, 0, 1, 1)
    with pytest.raises(FormatterError, match="non-negative"):
        Box(True, 0, 1, 1)


def test_image_checks_its_array_and_metadata() -> None:
    with pytest.raises(FormatterError, match="2-D"):
        Image(np.zeros(3))
    with pytest.raises(FormatterError, match="metadata values"):
        Image(np.zeros((2, 2)), {"a": object()})
    image = Image(np.zeros((2, 2)), {"N": np.float32(1.5), "I": np.int16(3)})
    assert image.metadata == {"N": 1.5, "I": 3}
    assert type(image.metadata["I"]) is int


def test_image_equality_is_by_value() -> None:
    a = Image(np.array([[np.nan, 1.0]], "<f4"), {"A": 1})
    assert a == Image(np.array([[np.nan, 1.0]], ">f4"), {"A": 1})
    assert a != Image(np.array([[np.nan, 2.0]], "<f4"), {"A": 1})
    assert a != Image(np.array([[np.nan, 1.0]], "<f8"), {"A": 1})
    assert a != Image(np.array([[np.nan, 1.0]], "<f4"), {"A": 2})


def _wcs() -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [10.0, 20.0]
    wcs.wcs.crpix = [50.0, 60.0]
    wcs.wcs.cdelt = [-1e-4, 1e-4]
    return wcs


def test_exposure_cutout_shifts_the_wcs_so_pixels_keep_their_sky_position() -> None:
    exposure = Exposure(np.zeros((100, 120), "f4"), mask=np.zeros((100, 120), "i4"), wcs=_wcs())
    cutout = exposure.cutout(Box(x0=30, y0=40, width=20, height=10))
    assert cutout.image.shape == (10, 20)
    assert cutout.variance is None
    sky_full = exposure.wcs.pixel_to_world_values(35, 45)
    sky_cut = cutout.wcs.pixel_to_world_values(5, 5)
    np.testing.assert_allclose(sky_cut, sky_full)


def test_wcs_equal_sees_sip_distortion() -> None:
    from astropy.wcs import Sip

    distorted = _wcs()
    distorted.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    a = np.zeros((3, 3))
    a[0, 2] = 1e-5
    distorted.sip = Sip(a, np.zeros((3, 3)), None, None, distorted.wcs.crpix)
    plain = _wcs()
    assert not wcs_equal(distorted, plain)
    assert wcs_equal(distorted, distorted.deepcopy())


def test_exposure_checks_its_planes() -> None:
    with pytest.raises(FormatterError, match="shape"):
        Exposure(np.zeros((2, 2)), variance=np.zeros((3, 3)))
    with pytest.raises(FormatterError, match="integers"):
        Exposure(np.zeros((2, 2)), mask=np.zeros((2, 2)))
    with pytest.raises(FormatterError, match=r"astropy\.wcs\.WCS"):
        Exposure(np.zeros((2, 2)), wcs="TAN")


def test_spectrum_select_is_inclusive_and_checks_its_range() -> None:
    spectrum = Spectrum(np.arange(5.0), np.array([400.0, 500, 600, 700, 800]), mask=np.zeros(5, bool))
    got = spectrum.select((500, 700))
    assert got.flux.tolist() == [1.0, 2.0, 3.0]
    assert got.mask is not None
    assert len(got.mask) == 3
    with pytest.raises(FormatterError, match="low <= high"):
        spectrum.select((700, 500))
    with pytest.raises(FormatterError, match=r"\(low, high\)"):
        spectrum.select(500)
    with pytest.raises(FormatterError, match="samples"):
        Spectrum(np.zeros(3), np.zeros(4))


def test_comparison_helpers() -> None:
    assert arrays_equal(None, None)
    assert not arrays_equal(np.zeros(2), None)
    structured = np.zeros(2, dtype=[("a", "f8"), ("b", "i4")])
    assert arrays_equal(structured, structured.copy())
    assert metadata_equal({"a": float("nan")}, {"a": float("nan")})
    assert not metadata_equal({"a": 1, "b": 2}, {"b": 2, "a": 1})  # order matters for headers
    assert not metadata_equal({"a": 1}, {"a": True})
    assert wcs_equal(_wcs(), _wcs())
    assert not wcs_equal(_wcs(), None)
