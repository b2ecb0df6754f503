"""``transfer_from(..., collections=...)``: TAGGED and CALIBRATION associations from SQLite to SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybutler.butler import Butler, DirectButler
from skybutler.datasets import DatasetRef
from skybutler.errors import CollectionError, ConflictError
from skybutler.registry import CollectionType
from skybutler.testing.sample import populate_sample

T1, T2, T3 = "2025-01-01T00:00:00", "2025-02-01T00:00:00", "2025-03-01T00:00:00"


@pytest.fixture
def source(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A SQLite repository with ``meta`` datasets (two tagged in ``picked``), and three ``flat``s of which two
    are certified in ``calib`` (one over a range that was replaced, so it has history); a chain over both."""
    Butler.create(tmp_path / "source")
    with DirectButler(tmp_path / "source", run="r1") as butler:
        populate_sample(butler, n_visits=3, n_detectors=2)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        butler.register_dataset_type("flat", ["detector", "physical_filter"], "StructuredDataDict", is_calibration=True)
        data_ids = [{"instrument": "Cam", "visit": v, "detector": d} for v in range(3) for d in (0, 1)]
        metas = [butler.put({"n": n}, "meta", data_id) for n, data_id in enumerate(data_ids)]
        flats = [
            butler.put({"flat": n}, "flat", instrument="Cam", detector=0, physical_filter="Cam-r", run=f"calib/{n}")
            for n in range(3)
        ]
        butler.collections.register("picked", "TAGGED", doc="Hand-picked")
        butler.collections.associate("picked", [metas[0], metas[3]])
        butler.collections.register("calib", "CALIBRATION", doc="Flats of record")
        butler.collections.certify("calib", [flats[0]], (T1, T2))
        butler.collections.certify("calib", [flats[2]], (T2, None))
        butler.collections.certify("calib", [flats[1]], (T3, None), replace=True)  # closes part of flats[2]'s
        butler.collections.set_chain("all", ["picked", "calib"])
        yield {"butler": butler, "metas": metas, "flats": flats}


@pytest.fixture
def dest(repo: str) -> Iterator[DirectButler]:
    """An empty repository on SQLite and on PostgreSQL."""
    with DirectButler(repo, writeable=True) as butler:
        yield butler


def _tagged(butler: DirectButler, name: str) -> list[Any]:
    return sorted(r.id for r in butler.query_datasets("meta", collections=name))


def _certified(butler: DirectButler, name: str) -> list[tuple[Any, Any]]:
    stored = butler.registry.dataset_types.get("flat")
    record = butler.registry.collections.get(name)
    rows = butler.registry.calibrations.history(stored, record.id)
    return sorted((str(r.dataset_id), r.valid) for r in rows if r.recorded.end is None)


def _everything(butler: DirectButler) -> list[DatasetRef]:
    runs = [("meta", "r1"), ("flat", "calib/0"), ("flat", "calib/1"), ("flat", "calib/2")]
    return [r for dataset_type, run in runs for r in butler.query_datasets_in_run(dataset_type, run)]


def test_tags_and_certifications_come_along_and_a_rerun_adds_nothing(
    source: dict[str, Any], dest: DirectButler
) -> None:
    src: DirectButler = source["butler"]
    refs = _everything(src)
    dest.transfer_from(src, refs, collections=["picked", "calib"])
    picked, calib = dest.registry.collections.get("picked"), dest.registry.collections.get("calib")
    assert (picked.type, picked.doc) == (CollectionType.TAGGED, "Hand-picked")
    assert (calib.type, calib.doc) == (CollectionType.CALIBRATION, "Flats of record")
    assert _tagged(dest, "picked") == _tagged(src, "picked")
    assert _certified(dest, "calib") == _certified(src, "calib")
    assert len(_certified(dest, "calib")) == 3  # flats[2]'s range was split by the replacement: only current rows
    flat = dest.get("flat", instrument="Cam", detector=0, physical_filter="Cam-r", collections="calib", at=T3)
    assert flat == {"flat": 1}
    before = (dest.registry.datasets.count(), _tagged(dest, "picked"), _certified(dest, "calib"))
    dest.transfer_from(src, refs, collections="all")  # the chain stands for its children; nothing new
    assert (dest.registry.datasets.count(), _tagged(dest, "picked"), _certified(dest, "calib")) == before
    assert dest.registry.collections.find("all") is None  # chains are not re-created


def test_only_the_transferred_datasets_associations_come(source: dict[str, Any], dest: DirectButler) -> None:
    src: DirectButler = source["butler"]
    metas, flats = source["metas"], source["flats"]
    dest.transfer_from(src, [metas[0], metas[1], flats[0]], collections="*")
    assert _tagged(dest, "picked") == [metas[0].id]
    assert [i for i, _ in _certified(dest, "calib")] == [str(flats[0].id)]
    dest.transfer_from(src, [metas[2]], collections="*")  # tagged nowhere: no collection is touched
    assert _tagged(dest, "picked") == [metas[0].id]


def test_without_collections_no_association_is_carried(source: dict[str, Any], dest: DirectButler) -> None:
    dest.transfer_from(source["butler"], _everything(source["butler"]))
    assert dest.registry.collections.find("picked") is None
    assert dest.registry.collections.find("calib") is None


def _state(butler: DirectButler) -> tuple[int, list[tuple[str, CollectionType]]]:
    return butler.registry.datasets.count(), sorted((c.name, c.type) for c in butler.registry.query_collections())


@pytest.mark.parametrize("case", ["other type", "other tagged", "overlapping range", "unknown collection"])
def test_clashing_associations_are_refused_before_anything_is_written(
    source: dict[str, Any], dest: DirectButler, case: str
) -> None:
    src: DirectButler = source["butler"]
    metas, flats = source["metas"], source["flats"]
    collections = ["picked", "calib"]
    error: type[Exception] = ConflictError
    if case == "other type":
        dest.collections.register("calib", "TAGGED")
    elif case == "other tagged":  # the destination tagged another dataset of metas[0]'s data ID
        dest.transfer_from(src, [metas[0]])
        dest.collections.register("picked", "TAGGED")
        mine = dest.put({"mine": True}, "meta", metas[0].data_id, run="mine")
        dest.collections.associate("picked", [mine])
    elif case == "overlapping range":  # the destination certified flats[1] over a range overlapping flats[0]'s
        dest.transfer_from(src, [flats[1]])
        dest.collections.register("calib", "CALIBRATION")
        dest.collections.certify("calib", [flats[1]], ("2025-01-15T00:00:00", T2))
    else:
        error, collections = CollectionError, ["picked", "no-such-collection"]
    before = _state(dest)
    with pytest.raises(error):
        dest.transfer_from(src, _everything(src), collections=collections)
    assert _state(dest) == before
