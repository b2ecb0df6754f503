"""The collections part of `ButlerTests`: chains and find-first, TAGGED, CALIBRATION certify/decertify/lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from skybutler.errors import CollectionError, ConflictError, DatasetNotFoundError
from skybutler.testing._butler_base import DATA_ID, DIMS, ButlerTestBase

if TYPE_CHECKING:
    from skybutler.butler import Butler

__all__ = ["ButlerCollectionTests"]

CAM3 = {"instrument": "Cam", "detector": 3}


class ButlerCollectionTests(ButlerTestBase):
    """Collections as a search path and as associations (`ButlerTests` documents the suite)."""

    def test_a_chain_is_searched_in_order_and_redefining_it_changes_what_is_found(self, butler: Butler) -> None:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        old = butler.put({"v": "old"}, "meta", DATA_ID, run="u/old")
        new = butler.put({"v": "new"}, "meta", DATA_ID, run="u/new")
        butler.put({"v": "only old"}, "meta", {**DATA_ID, "visit": 2}, run="u/old")
        butler.collections.set_chain("u/chain", ["u/new", "u/old"])
        assert butler.collections.children("u/chain") == ["u/new", "u/old"]
        assert butler.collections.flatten("u/chain") == ["u/new", "u/old"]
        assert butler.get("meta", DATA_ID, collections="u/chain") == {"v": "new"}
        assert butler.get("meta", {**DATA_ID, "visit": 2}, collections="u/chain") == {"v": "only old"}
        assert butler.find_dataset("meta", DATA_ID, collections="u/chain") == new
        found = butler.query_datasets("meta", collections="u/chain", where="visit = 1")
        assert [r.id for r in found] == [new.id]  # find-first: one per data ID, from the first collection
        both = butler.query_datasets("meta", collections="u/chain", where="visit = 1", find_first=False)
        assert sorted(str(r.id) for r in both) == sorted([str(old.id), str(new.id)])
        butler.collections.set_chain("u/chain", ["u/old", "u/new"])  # redefined: the cached path must not stay
        assert butler.get("meta", DATA_ID, collections="u/chain") == {"v": "old"}
        butler.collections.remove_from_chain("u/chain", ["u/old"])
        butler.collections.extend_chain("u/chain", ["u/old"])
        assert butler.collections.children("u/chain") == ["u/new", "u/old"]
        assert "u/chain" in butler.query_collections("u/*", types="CHAINED")
        assert butler.query_collections("u/chain", flatten_chains=True) == ["u/new", "u/old"]

    def test_a_chain_that_would_contain_itself_is_refused_and_left_as_it_was(self, butler: Butler) -> None:
        butler.collections.register("u/run", "RUN")
        butler.collections.set_chain("u/a", ["u/run"])
        butler.collections.set_chain("u/b", ["u/a"])
        with pytest.raises(CollectionError, match="cycle"):
            butler.collections.set_chain("u/a", ["u/b"])
        assert butler.collections.children("u/a") == ["u/run"]
        with pytest.raises(CollectionError):
            butler.collections.set_chain("u/new-chain", ["no/such/collection"])
        assert "u/new-chain" not in butler.query_collections()  # a refused definition leaves no empty chain

    def test_tagged_collections_associate_and_disassociate(self, butler: Butler) -> None:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        refs = butler.put_many([({"v": v}, {**DATA_ID, "visit": v}) for v in range(3)], "meta")
        assert butler.collections.register("u/best", "TAGGED", doc="the good ones") is True
        assert butler.collections.register("u/best", "TAGGED") is False
        assert butler.collections.get("u/best").doc == "the good ones"
        butler.collections.associate("u/best", refs[:2])
        tagged = butler.query_datasets("meta", collections="u/best")
        assert sorted(r.data_id["visit"] for r in tagged) == [0, 1]
        assert butler.get("meta", {**DATA_ID, "visit": 1}, collections="u/best") == {"v": 1}
        other = butler.put({"v": "other"}, "meta", {**DATA_ID, "visit": 0}, run="u/other")
        with pytest.raises(ConflictError):  # one dataset per type and data ID in a TAGGED collection
            butler.collections.associate("u/best", [other])
        assert butler.collections.disassociate("u/best", refs[:1]) == 1
        assert [r.data_id["visit"] for r in butler.query_datasets("meta", collections="u/best")] == [1]
        with pytest.raises(DatasetNotFoundError):
            butler.get("meta", {**DATA_ID, "visit": 0}, collections="u/best")
        butler.collections.remove("u/best")
        assert "u/best" not in butler.query_collections()
        assert butler.get(refs[1]) == {"v": 1}  # the datasets stay in their run

    def test_certify_decertify_and_lookups_in_valid_and_transaction_time(self, butler: Butler) -> None:
        butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
        butler.collections.register("u/calib", "CALIBRATION")
        a = butler.put({"label": "A"}, "bias", CAM3, run="u/bias/A")
        b = butler.put({"label": "B"}, "bias", CAM3, run="u/bias/B")
        t1 = butler.collections.certify("u/calib", [a], ("2025-01-01", None))
        with pytest.raises(ConflictError):  # overlaps A, without replace
            butler.collections.certify("u/calib", [b], ("2025-03-01", "2025-04-01"))
        t2 = butler.collections.certify("u/calib", [b], ("2025-03-01", "2025-04-01"), replace=True)
        assert t2 > t1

        def label(at: str, as_of: int | None = None) -> str | None:
            try:
                return str(butler.get("bias", CAM3, collections="u/calib", at=at, as_of=as_of)["label"])
            except DatasetNotFoundError:
                return None

        assert [label(at) for at in ("2024-12-01", "2025-02-01", "2025-03-15", "2025-05-01")] == [None, "A", "B", "A"]
        assert label("2025-03-15", as_of=t1) == "A"  # as recorded before B replaced it
        assert butler.find_dataset("bias", CAM3, collections="u/calib", at="2025-03-15") == b
        assert butler.exists("bias", CAM3, collections="u/calib", at="2025-02-01")
        found = butler.query_datasets("bias", collections="u/calib", at="2025-03-15")
        assert [r.id for r in found] == [b.id]
        assert butler.collections.decertify("u/calib", "bias", ("2025-06-01", "2025-07-01")) == 1
        assert label("2025-06-15") is None
        assert label("2025-08-01") == "A"
        if not self.has("collection_history"):
            return
        history = butler.collections.history("u/calib", "bias", CAM3)
        assert sum(1 for row in history if row.recorded.end is None) == 4  # A, B, A, A: the current rows
        kinds = {change.kind for change in butler.collections.diff("u/calib", "bias", since=t1)}
        assert {"replaced", "decertified"} <= kinds

    def test_a_calibration_lookup_with_no_time_answers_only_when_unambiguous(self, butler: Butler) -> None:
        from skybutler.errors import DataIdError

        butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
        butler.collections.register("u/calib", "CALIBRATION")
        ref = butler.put({"label": "A"}, "bias", CAM3, run="u/bias/A")
        butler.collections.certify("u/calib", [ref], ("2025-01-01", "2025-06-01"))
        assert butler.get("bias", CAM3, collections="u/calib") == {"label": "A"}  # the one certified
        later = butler.put({"label": "B"}, "bias", CAM3, run="u/bias/B")
        butler.collections.certify("u/calib", [later], ("2025-06-01", None))
        with pytest.raises(DataIdError, match="at="):  # two: the error says what to add
            butler.get("bias", CAM3, collections="u/calib")
        assert butler.get("bias", {**CAM3, "visit": 1}, collections="u/calib") == {"label": "A"}  # visit's time
        assert butler.get("bias", CAM3, collections="u/calib", at="2025-07-01") == {"label": "B"}

    def test_remove_runs_takes_their_datasets_and_refuses_a_chained_run(self, butler: Butler) -> None:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.put_many([({"v": v}, {**DATA_ID, "visit": v}) for v in range(3)], "meta", run="u/gone")
        kept = butler.put({"v": "kept"}, "meta", DATA_ID, run="u/kept")
        butler.collections.set_chain("u/chain", ["u/kept"])
        with pytest.raises(CollectionError, match="chain"):
            butler.collections.remove_runs(["u/gone", "u/kept"])
        assert len(butler.query_datasets("meta", collections="u/gone")) == 3  # nothing was removed
        assert butler.collections.remove_runs(["u/gone"]) == 3
        assert "u/gone" not in butler.query_collections()
        assert butler.get(kept) == {"v": "kept"}
