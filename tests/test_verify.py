"""Butler.verify (missing, corrupt and unknown artifacts) and datastore.verify_on_read, on local files and S3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.errors import CorruptArtifactError
from skybutler.testing.sample import populate_sample

DIMS = ["instrument", "visit", "detector"]


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def repo_root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite repository whose files are local, or on S3 (moto on loopback)."""
    if request.param == "local":
        return Butler.create(tmp_path / "repo")
    endpoint = request.getfixturevalue("s3_endpoint")
    return Butler.create(
        tmp_path / "repo",
        datastore=request.getfixturevalue("s3_root"),
        config={"datastore": {"transport": {"endpoint_url": endpoint}}},
    )


@pytest.fixture
def filled(repo_root: str) -> Iterator[DirectButler]:
    with DirectButler(repo_root, run="run1") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.put_many([({"v": v}, {"instrument": "Cam", "visit": v, "detector": 1}) for v in range(6)], "meta")
        yield butler


def _key(butler: DirectButler, visit: int) -> str:
    uri = butler.get_uri("meta", instrument="Cam", visit=visit, detector=1)
    return uri[len(butler.datastore.files().transport.root) :]


def test_a_healthy_repository_verifies_clean(filled: DirectButler) -> None:
    seen: list[tuple[str, int, int | None]] = []
    report = filled.verify(progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert (report.ok, report.missing, report.corrupt, report.unknown) == (6, [], [], [])
    assert seen[-1] == ("verify", 6, 6)


def test_missing_corrupt_and_unknown_artifacts_are_reported(filled: DirectButler) -> None:
    transport = filled.datastore.files().transport
    transport.delete(_key(filled, 0))
    transport.put(_key(filled, 1), transport.get(_key(filled, 1)).replace(b"1", b"7"))  # same length, other bytes
    transport.put(_key(filled, 2), b"{}")  # other length
    transport.put("stray/thing.json", b"{}")
    report = filled.verify()
    assert report.ok == 3
    assert [uri for _, uri in report.missing] == [transport.uri(_key(filled, 0))]
    problems = {uri: why for _, uri, why in report.corrupt}
    assert "checksum" in problems[transport.uri(_key(filled, 1))]
    assert "bytes but" in problems[transport.uri(_key(filled, 2))]
    assert report.unknown == ["stray/thing.json"]
    assert report.problems == 3
    assert "1 missing, 2 corrupt, 1 unknown" in str(report)


def test_verify_by_refs_or_collections_checks_only_those(filled: DirectButler) -> None:
    transport = filled.datastore.files().transport
    transport.put(_key(filled, 5), b"garbage!!!")
    refs = list(filled.query_datasets("meta", where="visit < 3"))
    assert filled.verify(refs).ok == 3
    by_collection = filled.verify(collections="run1")
    assert (by_collection.ok, len(by_collection.corrupt), by_collection.unknown) == (5, 1, [])


def test_get_catches_corruption_by_default_and_reads_unchecked_when_turned_off(filled: DirectButler) -> None:
    transport = filled.datastore.files().transport
    transport.put(_key(filled, 3), transport.get(_key(filled, 3)).replace(b"3", b"9"))
    assert filled.get("meta", instrument="Cam", visit=4, detector=1) == {"v": 4}
    with pytest.raises(CorruptArtifactError, match=r"is corrupt.*checksum"):
        filled.get("meta", instrument="Cam", visit=3, detector=1)  # on by default
    with DirectButler(filled.root, collections="run1", config={"datastore": {"verify_on_read": False}}) as lax:
        assert lax.get("meta", instrument="Cam", visit=3, detector=1) == {"v": 9}  # turned off: not checked
