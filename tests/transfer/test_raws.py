"""Raw ingest from real FITS files: headers → records (synced) and raw datasets; bad files reported, not half-done."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from skybutler.butler import DirectButler
from skybutler.dimensions import Timespan, to_tai_ns
from skybutler.errors import DataIdError, PluginNotFoundError
from skybutler.testing.files import immutable
from skybutler.transfer import GenericTranslator, ObservationInfo, metadata_translators

NIGHT = "2025-03-04"


def _header(seq: int, detector: int, **extra: Any) -> dict[str, Any]:
    cards: dict[str, Any] = {
        "INSTRUME": "TestCam",
        "DATE-OBS": f"{NIGHT}T0{seq}:00:00.000",
        "EXPTIME": 30.0,
        "FILTER": "TestCam-r",
        "BAND": "r",
        "DETECTOR": detector,
        "DETNAME": f"S{detector:02d}",
        "OBSID": f"TC_{NIGHT}_{seq:04d}",
        "SEQNUM": seq,
        "IMAGETYP": "science",
        "OBJECT": "M31",
        "RA": 10.68,
        "DEC": 41.27,
    }
    cards.update(extra)
    return {k: v for k, v in cards.items() if v is not None}


def _write(path: Path, header: Mapping[str, Any], value: int = 0) -> Path:
    hdu = fits.PrimaryHDU(np.full((4, 5), value, dtype=np.int16))
    for key, item in header.items():
        hdu.header[key] = item
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu.writeto(path)
    return path


@pytest.fixture
def night(tmp_path: Path) -> list[Path]:
    """Two science exposures times three detectors, and one bias on detector 0."""
    paths = [
        _write(tmp_path / "night" / f"raw_{seq}_{det}.fits", _header(seq, det), value=10 * seq + det)
        for seq in (1, 2)
        for det in range(3)
    ]
    bias = _header(3, 0, IMAGETYP="bias", EXPTIME=0.0, OBJECT=None, FILTER="TestCam-dark", BAND="dark")
    paths.append(_write(tmp_path / "night" / "bias_3_0.fits", bias, value=-1))
    return paths


@pytest.fixture
def fresh(repo: str) -> Iterator[DirectButler]:
    with DirectButler(repo, writeable=True) as butler:
        yield butler


def test_a_night_of_raws_gives_records_and_readable_datasets(fresh: DirectButler, night: list[Path]) -> None:
    calls: list[tuple[str, int, int | None]] = []
    report = fresh.ingest_raws(night, progress=lambda *a: calls.append(a))
    assert report.failures == {}
    assert len(report.ingested) == 7
    assert calls[0] == ("translate", 7, 7)
    assert calls[-1] == ("ingest", 7, 7)
    exposure = fresh.registry.fetch_dimension_records("exposure", instrument="TestCam", exposure=20250303 * 100_000 + 1)
    (record,) = exposure
    begin = to_tai_ns(f"{NIGHT}T01:00:00")
    assert record.timespan == Timespan(begin, begin + 30 * 10**9)
    assert (record.obs_id, record.physical_filter, record.day_obs) == (f"TC_{NIGHT}_0001", "TestCam-r", 20250303)
    assert (record.exposure_time, record.observation_type, record.target_name) == (30.0, "science", "M31")
    day = fresh.registry.fetch_dimension_records("day_obs", instrument="TestCam")
    assert [d.id for d in day] == [20250303]  # 01:00 UTC belongs to the night that began at 12:00 UTC the day before
    assert day[0].timespan.contains(begin)
    assert [d.full_name for d in fresh.query_dimension_records("detector")] == ["S00", "S01", "S02"]
    assert {b.name for b in fresh.query_dimension_records("band")} == {"r", "dark"}
    assert [v.id for v in fresh.query_dimension_records("visit")] == [20250303 * 100_000 + 1, 20250303 * 100_000 + 2]
    assert len(fresh.query_dimension_records("visit_definition")) == 2
    assert fresh.registry.get_dataset_type("raw").storage_class == "Image"
    ref = next(r for r in report.ingested if r.data_id["detector"] == 2 and r.data_id["exposure"] % 10 == 2)
    assert ref.run == "TestCam/raw/all"
    image = fresh.get(ref)
    assert np.array_equal(image.array, np.full((4, 5), 22, dtype=np.int16))
    assert image.metadata["OBSID"] == f"TC_{NIGHT}_0002"


def test_a_move_whose_sources_stay_reports_them_ingested_with_a_note(fresh: DirectButler, night: list[Path]) -> None:
    """Sources that cannot be deleted (immutable, as on a read-only file system): every raw is registered and
    readable, so none is a failure; the leftover sources are a note, not seven false failures."""
    with immutable(*night):
        report = fresh.ingest_raws(night, transfer="move")
    assert report.failures == {}
    assert sorted(r.data_id["detector"] for r in report.ingested) == [0, 0, 0, 1, 1, 2, 2]
    assert len(report.notes) == 1
    assert "could not be deleted" in report.notes[0]
    assert str(report).endswith("0 failed, 1 note(s)")
    assert all(path.exists() for path in night)
    image = fresh.get(report.ingested[0])
    assert image.array.shape == (4, 5)


def test_reingesting_the_night_skips_everything(fresh: DirectButler, night: list[Path]) -> None:
    first = fresh.ingest_raws(night, transfer="copy")
    count = fresh.registry.datasets.count()
    again = fresh.ingest_raws(night, transfer="copy")
    assert (again.ingested, again.failures) == ([], {})
    assert sorted(r.id for r in again.skipped) == sorted(r.id for r in first.ingested)
    assert fresh.registry.datasets.count() == count


def test_bad_files_are_reported_and_nothing_of_them_is_ingested(
    fresh: DirectButler, night: list[Path], tmp_path: Path
) -> None:
    no_time = _write(tmp_path / "bad" / "no_time.fits", _header(5, 0, **{"DATE-OBS": None}))
    bad_det = _write(tmp_path / "bad" / "bad_det.fits", _header(6, 0, DETECTOR="left"))
    other = _write(tmp_path / "bad" / "other.fits", _header(7, 0, INSTRUME="OtherCam"))
    text = tmp_path / "bad" / "notes.fits"
    text.write_text("not a FITS file")
    missing = tmp_path / "bad" / "missing.fits"
    report = fresh.ingest_raws([*night, no_time, bad_det, other, text, missing], instrument="TestCam")
    assert len(report.ingested) == 7
    assert set(report.failures) == {str(p) for p in (no_time, bad_det, other, text, missing)}
    assert "DATE-OBS" in report.failures[str(no_time)]
    assert "DETECTOR" in report.failures[str(bad_det)]
    assert "OtherCam" in report.failures[str(other)]
    assert "ArtifactNotFoundError" in report.failures[str(missing)]
    seqs = {r.seq_num for r in fresh.query_dimension_records("exposure")}
    assert seqs == {1, 2, 3}  # no record of the failed files


def test_a_header_contradicting_the_registry_is_reported(
    fresh: DirectButler, night: list[Path], tmp_path: Path
) -> None:
    fresh.ingest_raws(night[:1])
    changed = _write(tmp_path / "later" / "raw_1_1.fits", _header(1, 1, EXPTIME=31.0))
    clash = _write(tmp_path / "later" / "raw_2_0.fits", _header(2, 0, FILTER="TestCam-g", BAND="g"))
    clash_too = _write(tmp_path / "later" / "raw_2_1.fits", _header(2, 1))
    report = fresh.ingest_raws([changed, clash, clash_too])
    assert "exposure_time=30.0 vs 31.0" in report.failures[str(changed)]
    assert str(clash) in report.failures[str(clash_too)]  # disagrees with an earlier file of the same call
    assert [r.data_id["detector"] for r in report.ingested] == [0]
    assert fresh.registry.datasets.count() == 2


def test_translator_plugins_by_name_and_unknown_names(fresh: DirectButler, night: list[Path]) -> None:
    class Shifted(GenericTranslator):
        """A 'real instrument': detector ids are offset by 100 in its headers."""

        name = "shifted"

        def detector(self, header: Mapping[str, Any]) -> int:
            return super().detector(header) - 100

    paths = night[:1]
    fits.setval(paths[0], "DETECTOR", value=100)
    metadata_translators.register("shifted", Shifted, replace=True)
    report = fresh.ingest_raws(paths, translator="shifted")
    assert [r.data_id["detector"] for r in report.ingested] == [0]
    with pytest.raises(PluginNotFoundError, match="generic"):
        fresh.ingest_raws(paths, translator="nope")


def test_generic_translator_on_header_variants() -> None:
    generic = GenericTranslator()
    tai = generic.translate(_header(1, 0, TIMESYS="TAI", EXPID=42))
    utc = generic.translate(_header(1, 0))
    assert tai.begin == to_tai_ns(f"{NIGHT}T01:00:00 TAI")
    assert utc.begin - tai.begin == 37 * 10**9
    assert tai.exposure == 42
    mjd = generic.translate(_header(1, 0, **{"DATE-OBS": None, "MJD-OBS": 60738.5, "DATE-END": "2025-03-04T12:00:10"}))
    assert mjd.begin == to_tai_ns("2025-03-04T12:00:00")
    assert mjd.end == to_tai_ns("2025-03-04T12:00:10")
    assert mjd.day_obs == 20250304
    split = generic.translate(_header(1, 0, **{"DATE-OBS": NIGHT, "TIME-OBS": "01:00:00"}))
    assert split.begin == utc.begin
    bias = generic.translate(_header(1, 0, IMAGETYP="BIAS"))
    assert isinstance(bias, ObservationInfo)
    assert (bias.observation_type, bias.visit) == ("bias", None)
    for header, keyword in [
        (_header(1, 0, EXPTIME=None), "EXPTIME"),
        (_header(1, 0, EXPID=None, SEQNUM=None), "SEQNUM"),
        (_header(1, 0, OBSID=None), "OBSID"),
        (_header(1, 0, EXPTIME="long"), "EXPTIME"),
        (_header(1, 0, **{"DATE-OBS": "yesterday"}), "DATE-OBS"),
        (_header(1, 0, INSTRUME=None), "INSTRUME"),
        (_header(1, 0, DETECTOR=1.5), "DETECTOR"),  # not truncated to detector 1
        (_header(1, 0, EXPID=42.5), "EXPID"),
        (_header(1, 0, DETECTOR=True), "DETECTOR"),
    ]:
        with pytest.raises(DataIdError, match=keyword):
            generic.translate(header)
    assert generic.translate(_header(1, 0, DETECTOR=3.0, EXPID="42")).detector == 3


def test_empty_and_garbled_files_are_reported_not_fatal(fresh: DirectButler, night: list[Path], tmp_path: Path) -> None:
    # A zero-byte file (a transfer cut short) and a header card astropy cannot parse (read lazily, when the
    # translator asks for it) are bad files like any other: reported, and the night goes in.
    empty = tmp_path / "bad" / "empty.fits"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    garbled = _write(tmp_path / "bad" / "garbled.fits", _header(5, 0))
    data = bytearray(garbled.read_bytes())
    at = data.index(b"OBJECT  =")
    data[at : at + 80] = b"OBJECT  = 'M31".ljust(80)  # an unclosed string
    garbled.write_bytes(bytes(data))
    report = fresh.ingest_raws([*night, empty, garbled])
    assert len(report.ingested) == 7
    assert set(report.failures) == {str(empty), str(garbled)}
    assert "empty or cut short" in report.failures[str(empty)]
    assert "OBJECT" in report.failures[str(garbled)]


def test_date_end_is_read_in_timesys_like_date_obs() -> None:
    # FITS: TIMESYS is the time scale of every time keyword of the header, DATE-END included.
    header = _header(1, 0, TIMESYS="TAI", EXPTIME=None, **{"DATE-END": f"{NIGHT}T01:00:30.000"})
    info = GenericTranslator().translate(header)
    assert info.begin == to_tai_ns(f"{NIGHT}T01:00:00 TAI")
    assert info.end - info.begin == 30 * 10**9
