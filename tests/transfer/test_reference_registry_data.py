"""Every export the reference butler ships as test data imports here as it does there.

The files in ``data/registry_data`` are the reference's own (see ``PROVENANCE.md``): universe 0 to 7, plain
YAML timestamps, storage classes such as ``ExposureF`` and ``SkyMap``.  Each set is imported on SQLite and
PostgreSQL; with ``lsst-daf-butler`` installed the same set is imported into a reference repository in the
test, and the record counts per element, the datasets and the collections must be equal.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from skybutler.butler import DirectButler

DATA = Path(__file__).parent / "data" / "registry_data"

#: Each case: the files imported one after the other, as the reference's own tests load them.
CASES = {
    "base": ("base.yaml",),
    "datasets": ("base.yaml", "datasets.yaml"),
    "spatial": ("base.yaml", "spatial.yaml"),
    "ci_hsc": ("ci_hsc-subset-skymap.yaml", "ci_hsc-subset.yaml"),
    "hsc_rc2_v0": ("hsc-rc2-subset-v0.yaml",),
    "lsstcam": ("lsstcam-subset.yaml",),
}

try:
    HAS_REFERENCE = importlib.util.find_spec("lsst.daf.butler") is not None
except ModuleNotFoundError:
    HAS_REFERENCE = False


def _ours(butler: DirectButler, elements: list[str]) -> dict[str, Any]:
    records = {e: len(butler.registry.fetch_dimension_records(e)) for e in elements}
    datasets = Counter(
        (ref.dataset_type.name, ref.run) for ref in butler.query_datasets("*", collections="*", find_first=False)
    )
    return {
        "records": {e: n for e, n in records.items() if n},
        "datasets": dict(datasets),
        "collections": sorted(c.name for c in butler.collections.query("*")),
    }


@pytest.fixture(scope="module")
def reference_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Where the reference repositories of this module live (one per case, shared by both back-ends)."""
    return str(tmp_path_factory.mktemp("reference"))


@cache
def _reference(case: str, parent: str) -> dict[str, Any]:
    """Import ``case`` into a fresh reference repository and count what it holds (once per case)."""
    from lsst.daf.butler import Butler as ReferenceButler

    root = str(Path(parent) / case)
    ReferenceButler.makeRepo(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        butler = ReferenceButler.from_config(root, writeable=True)
        for name in CASES[case]:
            butler.import_(filename=str(DATA / name), without_datastore=True)
        records = {}
        for element in butler.dimensions.elements:
            if element.has_own_table:
                count = len(list(butler.registry.queryDimensionRecords(element.name)))
                if count:
                    records[element.name] = count
        datasets = Counter(
            (ref.datasetType.name, ref.run) for ref in butler.registry.queryDatasets(..., collections=...)
        )
        collections = sorted(butler.registry.queryCollections())
        butler.close()
    return {"records": records, "datasets": dict(datasets), "collections": collections}


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_test_exports_import(dest: DirectButler, case: str) -> None:
    for name in CASES[case]:
        dest.import_(DATA / name)
    got = _ours(dest, [e.name for e in dest.universe.elements if not e.is_skypix])
    assert got["records"]
    if case in ("datasets", "ci_hsc"):
        assert got["datasets"]


@pytest.mark.skipif(not HAS_REFERENCE, reason="lsst-daf-butler (the reference butler) is not installed")
@pytest.mark.parametrize("case", sorted(CASES))
def test_counts_equal_the_references_after_the_same_import(dest: DirectButler, case: str, reference_root: str) -> None:
    expected = _reference(case, reference_root)
    for name in CASES[case]:
        dest.import_(DATA / name)
    got = _ours(dest, list(expected["records"]))
    assert got == expected


def test_universe_zero_derives_visit_day_obs_as_the_reference_does(dest: DirectButler) -> None:
    """hsc-rc2-subset-v0 has plain YAML timestamps (UTC) and no ``visit.day_obs``: the TAI date of the start."""
    dest.import_(DATA / "hsc-rc2-subset-v0.yaml")
    visits = {v.id: v for v in dest.registry.fetch_dimension_records("visit")}
    assert visits[11690].day_obs == 20141118
    assert visits[23868].day_obs == 20150318
    # 2014-11-18 12:56:47.112 UTC is 35 s later in TAI
    assert visits[11690].timespan.begin % 60_000_000_000 == (47_112_000_000 + 35_000_000_000) % 60_000_000_000


@pytest.mark.parametrize(
    ("begin", "end", "day_obs", "begin_tai"),
    [
        ("!butler_time/tai/iso '2024-03-01 03:00:00.000000000'", "!butler_time/tai/iso '2024-03-01 03:00:30.0'",
         20240301, "2024-03-01T03:00:00 TAI"),
        ("2024-02-29 23:59:40", "2024-03-01 00:00:10", 20240301, "2024-02-29T23:59:40"),  # YAML timestamps, UTC
        ("'2024-02-29T23:59:00'", "'2024-02-29T23:59:30'", 20240229, "2024-02-29T23:59:00"),  # ISO text, UTC
    ],
)  # fmt: skip
def test_universe_zero_visits_get_day_obs_whatever_the_time_form(
    dest: DirectButler, tmp_path: Path, begin: str, end: str, day_obs: int, begin_tai: str
) -> None:
    """The TAI date of the start, as the reference derives it (a UTC time 25 s before midnight is the next day)."""
    from skybutler.dimensions import to_tai_ns

    text = (Path(__file__).parent / "data" / "reference_v0.yaml").read_text()
    text = text.replace("    day_obs: 20240229\n    exposure_time: 30.0", "    exposure_time: 30.0")
    text = text.replace(
        "datetime_begin: !butler_time/tai/iso '2024-03-01 03:00:00.000000000'", f"datetime_begin: {begin}"
    )
    text = text.replace("datetime_end: !butler_time/tai/iso '2024-03-01 03:00:30.000000000'", f"datetime_end: {end}")
    path = tmp_path / "v0.yaml"
    path.write_text(text)
    report = dest.import_(path)
    assert any("visit.day_obs was missing" in note for note in report.notes)
    (visit,) = dest.registry.fetch_dimension_records("visit")
    assert visit.day_obs == day_obs
    assert visit.timespan.begin == to_tai_ns(begin_tai)
