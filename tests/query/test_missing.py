"""The completeness matrix (`Butler.missing`), glob search paths and the Butler's collection / dataset type queries."""

from __future__ import annotations

import pytest
from tests.query.conftest import Sky

from skybutler.errors import DataIdError, DatasetTypeError


def test_matrix_counts_what_exists_per_data_id(sky: Sky) -> None:
    table = sky.butler.missing(["calexp", "src", "summary"], ["visit", "detector"], collections="proc",
                               instrument="Cam", where="visit < 40")  # fmt: skip
    assert len(table) == 40 * 10
    assert table.dataset_types == ("calexp", "src", "summary")
    by_key = {(row.data_id["visit"], row.data_id["detector"]): row for row in table}
    assert by_key[(3, 7)].counts == {"calexp": 1, "src": 1, "summary": 1}
    assert by_key[(3, 7)].complete
    assert by_key[(20, 0)].missing == ["src"]
    assert by_key[(35, 9)].missing == ["calexp", "src", "summary"]
    # summary has no detector: each of its datasets covers all ten detectors of its visit
    assert table.missing_counts() == {"calexp": 100, "src": 250, "summary": 100}
    assert {(r.data_id["visit"], r.data_id["detector"]) for r in table.incomplete()} == {
        (v, d) for v in range(15, 40) for d in range(10)
    }


def test_matrix_rows_are_plain_and_frame_ready(sky: Sky) -> None:
    table = sky.butler.missing("src", ["visit", "detector"], collections="proc", instrument="Cam", visit=14)
    rows = table.to_rows()
    assert len(rows) == 10
    assert rows[0]["instrument"] == "Cam"
    assert rows[0]["visit"] == 14
    assert rows[0]["src"] == 1
    assert set(rows[0]) == {*table.dimensions, "src"}
    pd = pytest.importorskip("pandas")
    frame = table.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == [*table.dimensions, "src"]
    assert frame["src"].sum() == 10


def test_matrix_follows_where_and_search_path(sky: Sky) -> None:
    b = sky.butler
    # band is implied by the visit: the where clause constrains data IDs and datasets alike
    table = b.missing(["calexp"], ["visit", "detector"], collections="proc/v2", instrument="Cam",
                      where="band = 'r' AND visit < 20 AND detector = 0")  # fmt: skip
    assert {r.data_id["visit"]: r.counts["calexp"] for r in table} == {v: int(v < 10) for v in range(1, 20, 2)}


def test_matrix_refuses_a_type_with_dimensions_outside(sky: Sky) -> None:
    with pytest.raises(DatasetTypeError, match=r"'calexp' has dimensions \['detector'\] outside"):
        sky.butler.missing(["calexp"], ["visit"], collections="proc", instrument="Cam")


def test_empty_matrix_is_empty(sky: Sky) -> None:
    table = sky.butler.missing(["calexp"], ["visit", "detector"], collections="proc", instrument="Cam",
                               where="visit > 1000")  # fmt: skip
    assert len(table) == 0
    assert table.missing_counts() == {"calexp": 0}


def test_glob_collections_in_a_search_path(sky: Sky) -> None:
    b = sky.butler
    # "proc/*" is proc/v1 and proc/v2, sorted by name: v1 comes first, so its calexps win find-first
    refs = list(b.query_datasets("calexp", collections=["proc/*"], instrument="Cam", visit=3))
    assert {r.run for r in refs} == {"proc/v1"}
    refs = list(b.query_datasets("calexp", collections=["proc/v2", "proc/*"], instrument="Cam", visit=3))
    assert {r.run for r in refs} == {"proc/v2"}
    assert list(b.query_datasets("calexp", collections=["nothing*"], instrument="Cam")) == []
    assert b.get("calexp", instrument="Cam", visit=3, detector=1, collections="proc/*") == {"v": 3}


def test_query_collections_and_dataset_types(sky: Sky) -> None:
    b = sky.butler
    assert b.query_collections("proc*") == ["proc", "proc/v1", "proc/v2"]
    assert b.query_collections(types=["CALIBRATION"]) == ["calib"]
    assert b.query_collections("everything", flatten_chains=True) == [
        "best", "proc/v2", "proc/v1", "calib", "cam2/run",
    ]  # fmt: skip
    assert [dt.name for dt in b.query_dataset_types()] == ["bias", "calexp", "src", "summary"]
    assert [dt.name for dt in b.query_dataset_types(["s*", "bias"])] == ["bias", "src", "summary"]
    assert b.query_dataset_types("nothing*") == []


# -- CALIBRATION collections: the temporal join on an exposure's (visit's) timespan -------------------------------


def test_calibrations_found_by_exposure_timespan(sky: Sky) -> None:
    b = sky.butler
    # exposures start v minutes after 12:00 UTC; bias1 is valid until 12:30, bias2 after
    early = list(b.query_datasets("bias", collections="calib", instrument="Cam", exposure=5))
    assert sorted(early, key=lambda r: r.data_id["detector"]) == sky.bias1
    late = list(b.query_datasets("bias", collections="calib", instrument="Cam", where="exposure = 40 AND detector < 2"))
    assert late == sky.bias2[:2]
    both = b.query_datasets("bias", collections="calib", instrument="Cam", where="exposure IN (28..31)")
    assert sorted({r.run for r in both}) == ["calib/run1", "calib/run2"]
    assert both.count() == 20  # each bias once, however many exposures chose it
    # visits carry timespans too
    assert {r.run for r in b.query_datasets("bias", collections="calib", instrument="Cam", visit=45)} == {"calib/run2"}


def test_calibrations_through_a_chain_and_in_data_id_queries(sky: Sky) -> None:
    b = sky.butler
    refs = list(b.query_datasets("bias", collections="everything", instrument="Cam", exposure=12, detector=3))
    assert refs == [sky.bias1[3]]
    # a RUN ahead of the calibration collection wins find-first, as in get()
    refs = list(b.query_datasets("bias", collections=["calib/run2", "calib"], instrument="Cam", exposure=12,
                                 detector=3))  # fmt: skip
    assert refs == [sky.bias2[3]]
    ids = b.query_data_ids(["exposure", "detector"], datasets="bias", collections="calib", instrument="Cam",
                           where="exposure < 3 AND detector = 0")  # fmt: skip
    assert sorted(c["exposure"] for c in ids) == [0, 1, 2]
    # an exposure before any validity range has no calibration: no data ID
    none = b.query_datasets("bias", collections="calib", instrument="Cam", exposure=5, where="detector = 99")
    assert list(none) == []


def test_data_id_queries_join_calibrations_on_a_visit_named_anywhere(sky: Sky) -> None:
    # The visit is not among the requested dimensions: named in the where expression or by an alternate key, it
    # still selects the calibrations valid during it, as a data ID value does (before: no data IDs at all).
    b = sky.butler
    expected = {("Cam", d) for d in range(10)}
    for constraint in ({"visit": 5}, {"where": "visit = 5"}, {"data_id": {"visit.name": "v5"}}):
        ids = b.query_data_ids(["detector"], datasets="bias", collections="calib", instrument="Cam", **constraint)
        assert {(c["instrument"], c["detector"]) for c in ids} == expected, constraint


def test_calibrations_without_a_time_answer_or_say_what_to_add(sky: Sky) -> None:
    """Never a silent empty result: every certification without find-first, else an error saying what to add."""
    every = list(sky.butler.query_datasets("bias", collections="calib", instrument="Cam", find_first=False))
    assert every
    with pytest.raises(DataIdError, match=r"pass at=.*or constrain an exposure or visit"):
        sky.butler.query_datasets("bias", collections="calib", instrument="Cam")


def test_a_non_calibration_type_in_calibration_collections_is_explained(sky: Sky) -> None:
    # Before: the advice was to give at= or a visit, which cannot help: calexp is never certified.
    results = sky.butler.query_datasets("calexp", collections="calib", instrument="Cam", where="visit = 5")
    assert list(results) == []
    assert results.explain_no_results() == [
        "'calexp' is not a calibration dataset type: CALIBRATION collections ['calib'] hold none of its datasets "
        "(search the RUN or TAGGED collections that do)."
    ]
