"""The transfer part of `ButlerTests`: ingest of files and an export/import round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from skybutler.errors import ArtifactNotFoundError, ConflictError
from skybutler.testing._butler_base import DATA_ID, DIMS, ButlerTestBase

if TYPE_CHECKING:
    from skybutler.butler import Butler

__all__ = ["ButlerTransferTests"]


class ButlerTransferTests(ButlerTestBase):
    """Datasets brought in from files and carried out and back in (`ButlerTests` documents the suite)."""

    def test_ingest_registers_files_and_a_rerun_with_deterministic_ids_adds_nothing(
        self, butler: Butler, tmp_path: Path
    ) -> None:
        self.needs("ingest")
        from skybutler.transfer import FileDataset

        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        files = []
        for visit in range(3):
            path = tmp_path / "in" / f"meta_{visit}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps({"visit": visit}))
            files.append(FileDataset(path, dataset_type="meta", data_id={**DATA_ID, "visit": visit}, formatter="json"))
        refs = butler.ingest(*files, transfer="copy", run="u/ingested", id_mode="deterministic")
        assert [butler.get(r) for r in refs] == [{"visit": v} for v in range(3)]
        again = butler.ingest(*files, transfer="copy", run="u/ingested", id_mode="deterministic", skip_existing=True)
        assert [r.id for r in again] == [r.id for r in refs]
        assert len(butler.query_datasets("meta", collections="u/ingested")) == 3
        with pytest.raises(ConflictError):
            butler.ingest(*files[:1], transfer="copy", run="u/ingested", id_mode="deterministic")
        before = self.snapshot(butler)
        missing = FileDataset(tmp_path / "in" / "nope.json", dataset_type="meta", data_id={**DATA_ID, "visit": 9})
        fresh = FileDataset(files[0].path, dataset_type="meta", data_id={**DATA_ID, "visit": 8}, formatter="json")
        with pytest.raises(ArtifactNotFoundError):  # one missing file: none of the batch is ingested
            butler.ingest(fresh, missing, transfer="copy", run="u/ingested")
        assert self.snapshot(butler) == before

    def test_export_then_import_brings_back_the_same_datasets_and_collections(
        self, butler: Butler, tmp_path: Path
    ) -> None:
        self.needs("export_import")
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        refs = butler.put_many([({"v": v}, {**DATA_ID, "visit": v}) for v in range(3)], "meta", run="u/run")
        butler.collections.register("u/tagged", "TAGGED")
        butler.collections.associate("u/tagged", refs[:2])
        butler.collections.set_chain("u/chain", ["u/tagged", "u/run"])
        before = self.snapshot(butler)
        report = butler.export(tmp_path / "export.zip", collections="u/chain")
        assert report.datasets == 3
        butler.collections.remove("u/chain")
        butler.collections.remove("u/tagged")
        assert butler.collections.remove_runs(["u/run"]) == 3
        assert "u/run" not in butler.query_collections()
        imported = butler.import_(tmp_path / "export.zip")
        assert imported.datasets == 3
        assert self.snapshot(butler) == before  # same IDs, runs, tags, chain and contents
        again = butler.import_(tmp_path / "export.zip", skip_existing=True)
        assert again.datasets == 0
        with pytest.raises(ConflictError):
            butler.import_(tmp_path / "export.zip")
        assert self.snapshot(butler) == before

    def test_transfer_from_either_way_keeps_ids_records_and_carries_tags_and_certifications(
        self, butler: Butler, tmp_path: Path
    ) -> None:
        self.needs("transfer")
        from skybutler.butler import Butler as AnyButler
        from skybutler.testing.sample import populate_sample

        bias = {"instrument": "Cam", "detector": 3}
        AnyButler.create(tmp_path / "other")
        with AnyButler(tmp_path / "other", run="u/src") as other:
            populate_sample(other, n_visits=25)  # visits 20-24: records the butler under test lacks
            other.register_dataset_type("meta", DIMS, "StructuredDataDict")
            other.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
            refs = other.put_many([({"v": v}, {**DATA_ID, "visit": v}) for v in (1, 22)], "meta")
            refs.append(other.put({"label": "A"}, "bias", bias))
            other.collections.register("u/tagged", "TAGGED")
            other.collections.associate("u/tagged", refs[:1])
            other.collections.register("u/calib", "CALIBRATION")
            other.collections.certify("u/calib", refs[2:], ("2025-01-01", "2025-06-01"))
            other.collections.set_chain("u/chain", ["u/tagged", "u/calib"])
            # Into the butler under test: same IDs, the records it lacks, the tag and the certification.
            done = butler.transfer_from(other, refs, collections="u/chain")
            assert [r.id for r in done] == [r.id for r in refs]
            assert [butler.get(r) for r in done] == [{"v": 1}, {"v": 22}, {"label": "A"}]
            assert [r.id for r in butler.query_datasets("meta", collections="u/tagged")] == [refs[0].id]
            assert butler.find_dataset("bias", bias, collections="u/calib", at="2025-03-01") == done[2]
            assert "u/chain" not in butler.query_collections()  # chains are not re-created
            before = self.snapshot(butler)
            assert [r.id for r in butler.transfer_from(other, refs, collections="u/chain")] == [r.id for r in refs]
            assert self.snapshot(butler) == before  # a re-run adds nothing twice
        # Out of the butler under test into a new, empty repository: the same again.
        AnyButler.create(tmp_path / "dest")
        with AnyButler(tmp_path / "dest", writeable=True) as dest:
            back = dest.transfer_from(butler, done, collections=["u/tagged", "u/calib"])
            assert [r.id for r in back] == [r.id for r in refs]
            assert [dest.get(r) for r in back] == [{"v": 1}, {"v": 22}, {"label": "A"}]
            assert [r.id for r in dest.query_datasets("meta", collections="u/tagged")] == [refs[0].id]
            assert dest.find_dataset("bias", bias, collections="u/calib", at="2025-03-01") == back[2]
            assert dest.query_dimension_records("visit", where="visit.id = 22")  # carried with the dataset
