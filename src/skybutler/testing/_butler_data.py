"""The data part of `ButlerTests`: put, get, find, storage classes, components, queries, remove."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from skybutler.errors import ConflictError, DatasetNotFoundError, FormatterError
from skybutler.testing._butler_base import DATA_ID, DIMS, ButlerTestBase

if TYPE_CHECKING:
    from skybutler.butler import Butler

__all__ = ["ButlerDataTests"]


class ButlerDataTests(ButlerTestBase):
    """Put, get, find and remove, with their storage checked (`ButlerTests` documents the suite)."""

    def check_storage(self, butler: Butler, datasets: int) -> None:
        """Storage holds the registered datasets, each intact, and nothing else (when ``verify`` is there)."""
        if "maintenance" in self.unsupported:
            return
        report = butler.verify()
        assert (report.problems, report.unknown) == (0, [])
        assert report.ok >= datasets

    def test_put_then_get_exists_and_find(self, butler: Butler) -> None:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        ref = butler.put({"a": 1, "b": [1, 2]}, "meta", DATA_ID)
        assert butler.get("meta", DATA_ID) == {"a": 1, "b": [1, 2]}
        assert butler.get(ref) == {"a": 1, "b": [1, 2]}
        assert butler.exists("meta", DATA_ID)
        assert butler.find_dataset("meta", DATA_ID) == ref
        assert butler.get_deferred("meta", DATA_ID).get() == {"a": 1, "b": [1, 2]}
        assert "://" in butler.get_uri(ref)
        self.check_storage(butler, datasets=1)

    def test_a_dataset_does_not_change_when_the_objects_put_or_got_do(self, butler: Butler) -> None:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        obj = {"a": [1, 2]}
        butler.put(obj, "meta", DATA_ID)
        obj["a"].append(3)
        got = butler.get("meta", DATA_ID)
        got["a"].append(4)
        assert butler.get("meta", DATA_ID) == {"a": [1, 2]}

    def test_put_many_then_get_many_in_order(self, butler: Butler) -> None:
        butler.register_dataset_type("array", DIMS, "NumpyArray")
        items = [(np.arange(5) * v, {"instrument": "Cam", "visit": v, "detector": 1}) for v in range(6)]
        refs = butler.put_many(items, "array")
        for got, (expected, _) in zip(butler.get_many(list(reversed(refs))), reversed(items), strict=True):
            np.testing.assert_array_equal(got, expected)
        self.check_storage(butler, datasets=6)

    def test_queries_see_what_was_put(self, butler: Butler) -> None:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.put_many([({"v": v}, {"instrument": "Cam", "visit": v, "detector": 3}) for v in range(4)], "meta")
        found = butler.query_datasets("meta", where="visit >= 2", instrument="Cam")
        assert sorted(ref.data_id["visit"] for ref in found) == [2, 3]
        assert sorted(d["visit"] for d in butler.query_data_ids(["visit"], datasets="meta", detector=3)) == [0, 1, 2, 3]
        assert [butler.get(ref) for ref in sorted(found, key=lambda r: r.data_id["visit"])] == [{"v": 2}, {"v": 3}]

    def test_remove_forgets_the_dataset_and_its_artifacts(self, butler: Butler) -> None:
        self.needs("maintenance")
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        refs = butler.put_many([({"v": v}, {"instrument": "Cam", "visit": v, "detector": 1}) for v in range(3)], "meta")
        assert butler.remove(refs[:2]) == 2
        assert not butler.exists(refs[0])
        with pytest.raises(DatasetNotFoundError):
            butler.get("meta", instrument="Cam", visit=0, detector=1)
        assert butler.get(refs[2]) == {"v": 2}
        report = butler.reconcile(grace_seconds=0)
        assert (report.unknown, report.missing, report.removed_trash) == ([], [], [])
        assert butler.verify().problems == 0
        assert butler.verify().unknown == []

    def test_a_refused_put_stores_nothing(self, butler: Butler) -> None:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        with pytest.raises(FormatterError, match="StructuredDataDict"):
            butler.put([1, 2], "meta", DATA_ID)
        butler.put({"v": 1}, "meta", DATA_ID)
        with pytest.raises(ConflictError):
            butler.put({"v": 2}, "meta", DATA_ID)
        with pytest.raises(ConflictError):  # put_many: the conflicting one and the good ones, all refused
            butler.put_many([({"v": 3}, {**DATA_ID, "visit": 3}), ({"v": 2}, DATA_ID)], "meta")
        assert len(butler.query_datasets("*", find_first=False)) == 1
        assert butler.get("meta", DATA_ID) == {"v": 1}
        self.check_storage(butler, datasets=1)
        if "maintenance" not in self.unsupported:
            assert butler.reconcile(grace_seconds=0).removed_staging == []

    def test_storage_class_conversion_on_put_and_on_read(self, butler: Butler) -> None:
        butler.register_dataset_type("array", DIMS, "NumpyArray")
        butler.put([1.0, 2.0, 3.0], "array", DATA_ID)  # a list converts into the storage class on put
        np.testing.assert_array_equal(butler.get("array", DATA_ID), np.array([1.0, 2.0, 3.0]))
        self.needs("astropy")
        butler.register_dataset_type("table", DIMS, "NumpyStructuredArray")
        table = np.array([(1, 2.5), (2, 3.5), (3, 4.5)], dtype=[("id", "i8"), ("flux", "f8")])
        butler.put(table, "table", DATA_ID)
        as_astropy = butler.get("table", DATA_ID, storage_class="AstropyTable")
        assert type(as_astropy).__name__ == "Table"
        assert list(as_astropy["flux"]) == [2.5, 3.5, 4.5]

    def test_components_and_read_parameters(self, butler: Butler) -> None:
        self.needs("astropy")
        from skybutler.astro import Image

        butler.register_dataset_type("image", DIMS, "Image")
        image = Image(np.arange(100, dtype="f4").reshape(10, 10), {"EXPTIME": 30.0})
        butler.put(image, "image", DATA_ID)
        assert butler.get("image", DATA_ID) == image
        np.testing.assert_array_equal(butler.get("image.data", DATA_ID), image.array)
        assert butler.get("image.metadata", DATA_ID)["EXPTIME"] == 30.0
        cut = butler.get("image", DATA_ID, parameters={"bbox": (slice(2, 4), slice(3, 6))})
        np.testing.assert_array_equal(cut.array, image.array[2:4, 3:6])
        with pytest.raises(FormatterError, match="nope"):
            butler.get("image", DATA_ID, parameters={"nope": 1})
