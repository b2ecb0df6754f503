"""Checksums: recorded while writing, named by algorithm, re-checked by verify."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import xxhash

from skybutler.butler import Butler, DirectButler
from skybutler.testing.sample import populate_sample


@pytest.mark.parametrize("algorithm", ["xxh3_128", "blake2b"])
def test_checksum_is_the_files_and_verify_catches_corruption(tmp_path: Path, algorithm: str) -> None:
    root = tmp_path / "repo"
    Butler.create(root, config={"datastore": {"checksum": algorithm}})
    with DirectButler(root, run="r") as butler:
        populate_sample(butler, n_visits=1, n_detectors=1)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        ref = butler.put({"a": 1}, "meta", instrument="Cam", visit=0, detector=0)
        artifact = butler.registry.datasets.artifacts([ref.id])[ref.id]
        data = Path(butler.get_uri(ref).removeprefix("file://")).read_bytes()
        digest = (
            xxhash.xxh3_128(data).hexdigest()
            if algorithm == "xxh3_128"
            else hashlib.blake2b(data, digest_size=16).hexdigest()
        )
        assert artifact.checksum == f"{algorithm}:{digest}"
        assert artifact.size == len(data)
        assert butler.datastore.leaf(artifact.datastore).verify(artifact) is None
        Path(butler.get_uri(ref).removeprefix("file://")).write_bytes(data.replace(b"1", b"2"))
        assert "checksum" in (butler.datastore.leaf(artifact.datastore).verify(artifact) or "")


def test_checksums_can_be_switched_off(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    Butler.create(root, config={"datastore": {"checksum": "none"}})
    with DirectButler(root, run="r") as butler:
        populate_sample(butler, n_visits=1, n_detectors=1)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        ref = butler.put({"a": 1}, "meta", instrument="Cam", visit=0, detector=0)
        assert butler.registry.datasets.artifacts([ref.id])[ref.id].checksum is None
