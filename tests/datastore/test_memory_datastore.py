"""A repository whose files live in memory (``datastore="mem://..."``): scratch data for tests and pipelines."""

from __future__ import annotations

import uuid
from pathlib import Path

from skybutler import Butler
from skybutler.testing.sample import populate_sample


def test_a_scratch_datastore_in_memory_beside_a_sqlite_registry(tmp_path: Path) -> None:
    root = Butler.create(tmp_path / "repo", datastore=f"mem://{uuid.uuid4().hex}/")
    with Butler(root, run="scratch") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        refs = butler.put_many([({"v": v}, {"instrument": "Cam", "visit": v, "detector": 1}) for v in range(3)], "meta")
        assert butler.get_uri(refs[0]).startswith("mem://")
        assert butler.get_many(refs) == [{"v": 0}, {"v": 1}, {"v": 2}]
        assert butler.verify().ok == 3
        assert butler.remove(refs[:1]) == 1
        assert butler.reconcile(grace_seconds=0).unknown == []
        assert not list((tmp_path / "repo").rglob("*.json"))  # nothing reached the disk
