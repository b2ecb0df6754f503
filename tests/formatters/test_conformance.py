"""Every built-in formatter passes the `FormatterTests` conformance suite that plug-in authors run on theirs."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
import pytest

from skybutler.errors import FormatterError
from skybutler.formatters._bytes import BytesFormatter
from skybutler.formatters._json import JsonFormatter
from skybutler.formatters._numpy import NumpyFormatter
from skybutler.formatters._pickle import PickleFormatter
from skybutler.formatters._yaml import YamlFormatter
from skybutler.testing.formatters import FormatterTests
from skybutler.transports._ranged import RangedReader

DICTS: list[tuple[str, Any]] = [
    ("StructuredDataDict", {"seeing": 0.7, "name": "ünïcode ✓", "nested": {"a": [1, 2, None]}, "flag": True}),
    ("StructuredDataDict", {}),
    ("StructuredDataList", [1, "two", 3.5, None, {"k": "v"}]),
    ("StructuredDataList", []),
]


class TestJson(FormatterTests):
    formatter_class = JsonFormatter

    def samples(self) -> list[tuple[str, Any]]:
        return DICTS

    @pytest.mark.parametrize("obj", [{1: "a", "1": "b"}, {"nested": [{None: 1}]}, {"k": {2.5: "x"}}])
    def test_keys_that_json_would_turn_into_strings_are_refused(self, formatter: JsonFormatter, obj: Any) -> None:
        # JSON objects have string keys only: 1 would read back as "1" (and {1: .., "1": ..} lose a value)
        with pytest.raises(FormatterError, match="keys"):
            self._write(formatter, obj)


class TestYaml(FormatterTests):
    formatter_class = YamlFormatter
    garbage: ClassVar[tuple[bytes, ...]] = (b"{unclosed: [", b"\xff\xfe\x00binary", b"a: b: c")

    def samples(self) -> list[tuple[str, Any]]:
        return DICTS


class TestNumpy(FormatterTests):
    formatter_class = NumpyFormatter

    def samples(self) -> list[tuple[str, Any]]:
        return [
            ("NumpyArray", np.arange(12, dtype=np.float64).reshape(3, 4)),
            ("NumpyArray", np.array([np.nan, -0.0, np.inf], dtype=">f4")),  # big-endian, NaN
            ("NumpyArray", np.zeros((0, 5), dtype=np.int16)),
        ]

    def test_a_masked_array_is_refused_rather_than_stripped_of_its_mask(self, formatter: NumpyFormatter) -> None:
        with pytest.raises(FormatterError, match="mask"):
            self._write(formatter, np.ma.masked_array([1.0, 2.0], mask=[False, True]))

    @pytest.mark.parametrize("parameters", [{"slices": (slice(1, 3), slice(None, None, 2))}, {"mmap": True}])
    def test_slices_and_mmap_read_a_stream_without_a_local_file(
        self, formatter: NumpyFormatter, parameters: dict[str, Any]
    ) -> None:
        # S3 and HTTP hand the formatter a ranged reader whose name is the object's URI, not a path to open
        array = np.arange(20, dtype="<i4").reshape(4, 5)
        data = io.BytesIO()
        formatter.write(array, data)
        raw = data.getvalue()
        reader = RangedReader(lambda start, stop: raw[start:stop], len(raw), "s3://bucket/repo/a.npy")
        got = formatter.read(reader, parameters=parameters)  # type: ignore[arg-type]
        np.testing.assert_array_equal(got, array[parameters.get("slices", ())])


class TestBytes(FormatterTests):
    formatter_class = BytesFormatter
    garbage: ClassVar[tuple[bytes, ...]] = ()  # any bytes are a valid file

    def samples(self) -> list[tuple[str, Any]]:
        return [("Bytes", b"\x00\x01binary\xff"), ("Bytes", b"")]


class TestPickle(FormatterTests):
    formatter_class = PickleFormatter

    def samples(self) -> list[tuple[str, Any]]:
        return [("Pickled", {"a": (1, 2), "b": {3, 4}}), ("StructuredDataList", [1, 2])]

    def assert_same(self, got: Any, expected: Any) -> None:
        assert got == expected


def _astro_samples(tables: bool = True, images: bool = True, unicode: bool = True) -> list[tuple[str, Any]]:
    """Images, exposures, spectra, headers and tables in each in-memory form, with NaNs, unicode and units.

    FITS tables hold ASCII text only (the formatter refuses other text with a clear error): ``unicode=False``.
    """
    from astropy.table import Table
    from astropy.wcs import WCS

    from skybutler.astro import Exposure, Image, Spectrum
    from skybutler.astro._conversions import to_arrow, to_numpy, to_pandas

    out: list[tuple[str, Any]] = []
    if images:
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.crval = [150.0, 2.0]
        wcs.wcs.crpix = [8.0, 8.0]
        wcs.wcs.cdelt = [-5e-5, 5e-5]
        data = np.arange(16 * 12, dtype=">f4").reshape(16, 12)
        data[3, 4] = np.nan
        out += [
            ("Image", Image(data, {"EXPTIME": 30.0, "OBSERVER": "A. Astronomer"})),
            (
                "Exposure",
                Exposure(
                    data.astype("f4"),
                    mask=np.zeros(data.shape, "i4"),
                    variance=np.ones(data.shape, "f4"),
                    metadata={"FILTER": "r"},
                    wcs=wcs,
                    visit_info={"airmass": 1.2},
                ),
            ),
            (
                "Spectrum",
                Spectrum(np.linspace(1, 2, 50), np.linspace(400, 700, 50), flux_unit="Jy", wavelength_unit="nm"),
            ),
            ("Metadata", {"EXPTIME": 15.5, "OBJECT": "M31", "NCOMBINE": 3}),
            *[(sc, obj) for sc, obj in DICTS if sc == "StructuredDataDict"],  # nested, unicode: FITS too
        ]
    if tables:
        table = Table(
            {"ra": [10.5, np.nan, 12.0], "id": np.array([1, 2, 3], "i8"), "name": ["a", "bé" if unicode else "be", "c"]}
        )
        table["ra"].unit = "deg"
        out += [
            ("AstropyTable", table),
            ("AstropyTable", Table({"x": np.zeros(0, "f8")})),
            ("ArrowTable", to_arrow(table)),
            ("DataFrame", to_pandas(Table({"a": [1.0, 2.0], "b": [3, 4]}))),
            ("NumpyStructuredArray", to_numpy(Table({"a": [1.0, 2.0], "b": np.array([3, 4], "i4")}))),
        ]
    return out


class TestFits(FormatterTests):
    from skybutler.formatters._fits import FitsFormatter as formatter_class  # noqa: N813

    def samples(self) -> list[tuple[str, Any]]:
        return _astro_samples(unicode=False)


class TestHdf5(FormatterTests):
    from skybutler.formatters._hdf5 import Hdf5Formatter as formatter_class  # noqa: N813

    def samples(self) -> list[tuple[str, Any]]:
        return _astro_samples()


class TestParquet(FormatterTests):
    from skybutler.formatters._parquet import ParquetFormatter as formatter_class  # noqa: N813

    def samples(self) -> list[tuple[str, Any]]:
        return _astro_samples(images=False)


class TestCamera(FormatterTests):
    from skybutler.formatters._camera import CameraFormatter as formatter_class  # noqa: N813

    def samples(self) -> list[tuple[str, Any]]:
        from skybutler.datasets._camera import CameraDescription, DetectorDescription

        detectors = (DetectorDescription(0, "S00"), DetectorDescription(1, "S01"))
        return [("Camera", CameraDescription("Cam", detectors, plate_scale_arcsec_per_mm=20.0))]

    def assert_same(self, got: Any, expected: Any) -> None:
        assert got == expected
