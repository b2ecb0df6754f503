"""Export/import (YAML and zip) and transfer_from carry lineage edges and run records (issue 23 part 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.testing.sample import populate_sample


@pytest.fixture
def source(tmp_path: Path) -> Butler:
    root = Butler.create(tmp_path / "source")
    butler = Butler(root, writeable=True)
    populate_sample(butler)
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    return butler


def _made(butler: Butler) -> dict[str, object]:
    with butler.run_context("proc/run", config={"threshold": 5.0}) as b:
        raw = b.put({"raw": 1}, "meta", instrument="Cam", visit=1, detector=1, run="raw/run")
        isr = b.put({"isr": 1}, "meta", instrument="Cam", visit=1, detector=2, inputs=[raw])
        calexp = b.put({"calexp": 1}, "meta", instrument="Cam", visit=1, detector=3, inputs=[isr, raw])
    return {"raw": raw, "isr": isr, "calexp": calexp}


@pytest.mark.parametrize("suffix", [".yaml", ".zip"])
def test_export_import_carries_lineage_and_run_records(source: Butler, tmp_path: Path, suffix: str) -> None:
    made = _made(source)
    path = tmp_path / f"export{suffix}"
    source.export(path, collections=["proc/run"], directory=None if suffix == ".zip" else tmp_path / "files",
                  transfer="copy")  # fmt: skip
    target = DirectButler(Butler.create(tmp_path / "target"), writeable=True)
    target.import_(path, directory=None if suffix == ".zip" else tmp_path / "files", transfer="copy")
    calexp = target.find_dataset("meta", instrument="Cam", visit=1, detector=3, collections="proc/run")
    assert calexp is not None
    nodes = {n.id: n for n in target.lineage(calexp)}
    assert set(nodes) == {made["isr"].id, made["raw"].id}  # type: ignore[attr-defined]
    assert nodes[made["raw"].id].removed  # type: ignore[attr-defined]  # not exported: kept by ID and type
    assert nodes[made["isr"].id].ref is not None  # type: ignore[attr-defined]
    info = target.run_info("proc/run")
    assert info.config == {"threshold": 5.0}
    assert info.environments == source.run_info("proc/run").environments
    target.import_(path, directory=None if suffix == ".zip" else tmp_path / "files", transfer="copy",
                   skip_existing=True)  # fmt: skip
    assert len(target.registry.lineage.all_edges()) == 3  # a re-import adds nothing


def test_transfer_from_carries_lineage_and_run_records(source: Butler, tmp_path: Path) -> None:
    made = _made(source)
    target = Butler(Butler.create(tmp_path / "target"), writeable=True)
    refs = [made["raw"], made["isr"], made["calexp"]]
    target.transfer_from(source, refs)  # type: ignore[arg-type]
    assert {n.id for n in target.impact(made["raw"])} == {made["isr"].id, made["calexp"].id}  # type: ignore[arg-type, attr-defined]
    assert target.run_info("proc/run").config == {"threshold": 5.0}
