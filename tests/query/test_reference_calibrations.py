"""CALIBRATION collections searched with no time, here and in the reference butler: the same answers.

Both repositories import the reference's ``base.yaml`` and ``datasets.yaml`` and certify the same ``bias``
datasets in a CALIBRATION collection: detectors 1, 3 and 4 once, detector 2 twice (two validity ranges).
The reference's answers are computed here with ``lsst-daf-butler``, never copied:

* a data-ID query constrained by the datasets answers every certified data ID (no time needed);
* a find-first dataset search is refused as ambiguous only where the data IDs it asks about (its data ID and
  ``where``) have several certifications; elsewhere it answers the one certified dataset.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybutler import Butler
from skybutler.errors import DataIdError
from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema, require_postgres

DATA = Path(__file__).parents[1] / "transfer" / "data" / "registry_data"
FILES = ("base.yaml", "datasets.yaml")
T1, T2, T3 = "2020-01-01T00:00:00", "2020-02-01T00:00:00", "2020-03-01T00:00:00"

try:
    HAS_REFERENCE = importlib.util.find_spec("lsst.daf.butler") is not None
except ModuleNotFoundError:
    HAS_REFERENCE = False
pytestmark = pytest.mark.skipif(not HAS_REFERENCE, reason="lsst-daf-butler (the reference butler) is not installed")

# (where, data ID) of find-first searches of "bias" in the CALIBRATION collection with no time
SEARCHES: list[tuple[str, dict[str, Any]]] = [
    ("instrument = 'Cam1' AND detector = 3", {}),
    ("instrument = 'Cam1' AND detector IN (1, 4)", {}),
    ("", {"instrument": "Cam1", "detector": 1}),
    ("instrument = 'Cam1' AND detector = 2", {}),  # ambiguous in both
    ("instrument = 'Cam1'", {}),  # ambiguous in both: detector 2 is among them
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from astropy.time import Time
    from lsst.daf.butler import Butler as ReferenceButler
    from lsst.daf.butler import Timespan
    from lsst.daf.butler._collection_type import CollectionType

    root = str(tmp_path_factory.mktemp("reference"))
    ReferenceButler.makeRepo(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        butler = ReferenceButler.from_config(root, writeable=True)
        for name in FILES:
            butler.import_(filename=str(DATA / name), without_datastore=True)
        registry = butler.registry
        registry.registerCollection("calibs", CollectionType.CALIBRATION)
        t1, t2, t3 = (Time(t, scale="tai") for t in (T1, T2, T3))
        g = list(registry.queryDatasets("bias", collections="imported_g"))
        r = list(registry.queryDatasets("bias", collections="imported_r"))
        registry.certify("calibs", g, Timespan(t1, t2))
        registry.certify("calibs", [x for x in r if x.dataId["detector"] == 4], Timespan(t1, t2))
        registry.certify("calibs", [x for x in r if x.dataId["detector"] == 2], Timespan(t2, t3))
    yield butler
    butler.close()


def _fill(butler: Butler) -> None:
    for name in FILES:
        butler.import_(DATA / name)
    butler.collections.register("calibs", "CALIBRATION")
    g = list(butler.query_datasets("bias", collections="imported_g"))
    r = list(butler.query_datasets("bias", collections="imported_r"))
    # the same instants as the reference's: its Time(..., scale="tai"), ours read as TAI too
    butler.collections.certify("calibs", g, (_tai(T1), _tai(T2)))
    butler.collections.certify("calibs", [x for x in r if x.data_id["detector"] == 4], (_tai(T1), _tai(T2)))
    butler.collections.certify("calibs", [x for x in r if x.data_id["detector"] == 2], (_tai(T2), _tai(T3)))


def _tai(text: str) -> Any:
    from astropy.time import Time

    return Time(text, scale="tai")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ours(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Butler]:
    root = tmp_path_factory.mktemp(f"ours-{request.param}") / "repo"
    if request.param == "sqlite":
        Butler.create(root)
        with Butler(root, writeable=True) as butler:
            _fill(butler)
            yield butler
        return
    require_postgres()
    with fresh_schema(POSTGRES_URL) as schema:
        Butler.create(root, registry=POSTGRES_URL, schema=schema)
        with Butler(root, writeable=True) as butler:
            _fill(butler)
            yield butler


def test_data_ids_with_datasets_in_a_calibration_collection_need_no_time(reference: Any, ours: Butler) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {d["detector"] for d in reference.registry.queryDataIds(["detector"], datasets="bias",
                                                                            collections="calibs")}  # fmt: skip
    found = [d["detector"] for d in ours.query_data_ids(["detector"], datasets="bias", collections="calibs")]
    assert expected == {1, 2, 3, 4}
    # the reference repeats detector 2 (one row per certification); data IDs here are distinct
    assert sorted(found) == sorted(expected)
    assert {d["detector"] for d in ours.query_data_ids(["detector"], datasets="bias", collections=["calibs"],
                                                       where="detector > 2", instrument="Cam1")} == {3, 4}  # fmt: skip


def _reference_search(butler: Any, where: str, data_id: dict[str, Any]) -> list[tuple[int, str]] | None:
    """The reference's find-first answer as (detector, run), or None when it refuses it as ambiguous."""
    from lsst.daf.butler import CalibrationLookupError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            refs = butler.registry.queryDatasets("bias", collections="calibs", findFirst=True, where=where,
                                                 dataId=data_id or None)  # fmt: skip
            return sorted((r.dataId["detector"], r.run) for r in refs)
        except CalibrationLookupError:
            return None


@pytest.mark.parametrize(("where", "data_id"), SEARCHES, ids=[w or str(d) for w, d in SEARCHES])
def test_find_first_ambiguity_follows_where_and_data_id(
    reference: Any, ours: Butler, where: str, data_id: dict[str, Any]
) -> None:
    expected = _reference_search(reference, where, data_id)
    if expected is None:
        with pytest.raises(DataIdError, match=r"certified for .*'detector': 2.*pass at="):
            list(ours.query_datasets("bias", collections="calibs", where=where, data_id=data_id or None))
        return
    refs = ours.query_datasets("bias", collections="calibs", where=where, data_id=data_id or None)
    assert sorted((r.data_id["detector"], r.run) for r in refs) == expected
    assert expected  # each unambiguous search finds something
