"""The query part of `ButlerTests`: dataset types, data IDs, dimension records and the completeness matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from skybutler.errors import ConflictError, DatasetTypeError, QuerySyntaxError
from skybutler.testing._butler_base import DATA_ID, DIMS, ButlerTestBase

if TYPE_CHECKING:
    from skybutler.butler import Butler

__all__ = ["ButlerQueryTests"]


class ButlerQueryTests(ButlerTestBase):
    """What a repository answers about itself (`ButlerTests` documents the suite)."""

    def test_dataset_types_register_once_and_refuse_a_different_definition(self, butler: Butler) -> None:
        first = butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        assert butler.register_dataset_type("meta", DIMS, "StructuredDataDict") == first  # identical: a no-op
        assert butler.get_dataset_type("meta") == first
        with pytest.raises(DatasetTypeError):
            butler.register_dataset_type("meta", ["instrument", "visit"], "StructuredDataDict")
        with pytest.raises(DatasetTypeError, match="storage class"):
            butler.register_dataset_type("other", DIMS, "NoSuchStorageClass")
        butler.register_dataset_type("metb", DIMS, "StructuredDataDict")
        assert [dt.name for dt in butler.query_dataset_types("met*")] == ["meta", "metb"]
        with pytest.raises(DatasetTypeError, match="meta"):
            butler.get_dataset_type("mtea")  # the message suggests the close name
        butler.put({"v": 1}, "meta", DATA_ID)
        with pytest.raises(ConflictError):  # it has a dataset
            butler.remove_dataset_type("meta")
        butler.remove_dataset_type("metb")
        assert [dt.name for dt in butler.query_dataset_types()] == ["meta"]

    def test_query_data_ids_with_where_order_limit_and_datasets(self, butler: Butler) -> None:
        ids = butler.query_data_ids(["visit"], instrument="Cam", where="visit >= 3 AND visit < 7")
        assert sorted(d["visit"] for d in ids) == [3, 4, 5, 6]
        ordered = butler.query_data_ids(["visit"], instrument="Cam", where="visit < 5", order_by=["-visit"], limit=2)
        assert [d["visit"] for d in ordered] == [4, 3]
        bound = butler.query_data_ids(["visit"], where="visit IN (:visits)", bind={"visits": [1, 2]}, instrument="Cam")
        assert sorted(d["visit"] for d in bound) == [1, 2]
        assert {d["physical_filter"] for d in butler.query_data_ids(["visit"], where="band = 'r'")} == {"Cam-r"}
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.put({"v": 1}, "meta", DATA_ID)
        with_data = butler.query_data_ids(["visit", "detector"], datasets="meta")
        assert [(d["visit"], d["detector"]) for d in with_data] == [(1, 2)]
        empty = butler.query_data_ids(["visit"], instrument="Cam", where="visit > 10000")
        assert list(empty) == []
        assert empty.explain_no_results() != []
        with pytest.raises(QuerySyntaxError):
            butler.query_data_ids(["visit"], where="visit >")

    def test_query_dimension_records(self, butler: Butler) -> None:
        detectors = butler.query_dimension_records("detector", instrument="Cam", where="detector < 3")
        assert sorted((r.id, r.full_name) for r in detectors) == [(0, "S00"), (1, "S01"), (2, "S02")]
        visits = butler.query_dimension_records("visit", where="visit.physical_filter = 'Cam-r'", order_by=["visit"])
        assert [r.id for r in visits][:3] == [1, 3, 5]
        assert butler.query_dimension_records("band", order_by=["band"], limit=1)[0].name == "g"

    def test_missing_counts_datasets_per_data_id(self, butler: Butler) -> None:
        butler.register_dataset_type("calexp", DIMS, "StructuredDataDict")
        butler.register_dataset_type("src", DIMS, "StructuredDataDict")
        for visit in (1, 2):
            butler.put({"v": visit}, "calexp", {**DATA_ID, "visit": visit})
        butler.put({"v": 1}, "src", DATA_ID)
        table = butler.missing(["calexp", "src"], ["visit", "detector"], where="visit IN (1, 2) AND detector = 2")
        assert len(table) == 2
        assert [(row.data_id["visit"], row.missing) for row in table.incomplete()] == [(2, ["src"])]
        assert table.missing_counts() == {"calexp": 0, "src": 1}
