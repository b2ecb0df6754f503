"""``transfer_from``: a SQLite repository's datasets into a new repository on SQLite and on PostgreSQL, with local
files, in memory or on S3."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler.butler import Butler, DirectButler
from skybutler.datasets import DatasetRef
from skybutler.errors import ConfigError, ConflictError, DataIdError, DatasetNotFoundError, DatasetTypeError
from skybutler.testing.sample import populate_sample
from skybutler.transfer import FileDataset

DIMS = ["instrument", "visit", "detector"]


@pytest.fixture
def source(tmp_path: Path) -> Iterator[DirectButler]:
    """A SQLite repository with 12 ``meta`` datasets in run ``r1`` (visits 0-3, detectors 0-2)."""
    Butler.create(tmp_path / "source")
    with DirectButler(tmp_path / "source", run="r1") as butler:
        populate_sample(butler, n_visits=6, n_detectors=3)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        for visit in range(4):
            for detector in range(3):
                butler.put(
                    {"visit": visit, "detector": detector}, "meta", instrument="Cam", visit=visit, detector=detector
                )
        yield butler


@pytest.fixture
def dest(repo: str) -> Iterator[DirectButler]:
    """An empty repository (no records, no dataset types) on SQLite and on PostgreSQL."""
    with DirectButler(repo, writeable=True, collections="r1") as butler:
        yield butler


def _refs(butler: DirectButler) -> list[DatasetRef]:
    return butler.query_datasets_in_run("meta", "r1")


def _state(butler: DirectButler) -> tuple[int, list[str], list[str], int]:
    names = sorted(c.name for c in butler.registry.query_collections())
    types = [t.name for t in butler.registry.query_dataset_types()]
    return butler.registry.datasets.count(), names, types, len(butler.query_dimension_records("visit"))


def test_transfer_brings_datasets_types_runs_and_records(source: DirectButler, dest: DirectButler) -> None:
    refs = _refs(source)
    calls: list[tuple[str, int, int | None]] = []
    out = dest.transfer_from(source, refs, progress=lambda *a: calls.append(a))
    assert sorted(r.id for r in out) == sorted(r.id for r in refs)
    assert dest.get_dataset_type("meta") == source.get_dataset_type("meta")
    for ref in refs:
        assert dest.get(ref) == source.get(ref)
        assert dest.get_uri(ref).startswith(Path(dest.root).as_uri())
    # the records the data IDs stand on, and what those imply: visits 0-3, their filters and bands, day_obs
    assert [r.id for r in dest.query_dimension_records("visit")] == [0, 1, 2, 3]
    assert {r.name for r in dest.query_dimension_records("physical_filter")} == {"Cam-r", "Cam-g"}
    assert {r.name for r in dest.query_dimension_records("band")} == {"r", "g"}
    assert dest.query_dimension_records("visit")[1] == source.query_dimension_records("visit", visit=1)[0]
    assert [r.id for r in dest.query_dimension_records("day_obs")] == [20250101]
    assert calls[-1] == ("ingest", len(refs), len(refs))
    assert dest.registry.datasets.count() == len(refs)
    report = dest.reconcile(grace_seconds=0)
    assert (report.unknown, report.missing) == ([], [])


def test_existing_datasets_are_skipped_by_uuid(source: DirectButler, dest: DirectButler) -> None:
    refs = _refs(source)
    first = dest.transfer_from(source, refs[:5])
    out = dest.transfer_from(source, refs)
    assert sorted(r.id for r in out) == sorted(r.id for r in refs)
    assert out[-5:] == first  # the skipped ones come last, as registered
    assert dest.registry.datasets.count() == len(refs)
    assert _state(dest)[1:] == (["r1"], ["meta"], 4)
    with pytest.raises(ConflictError, match="already registered"):
        dest.transfer_from(source, refs[:1], skip_existing=False)


def test_direct_transfer_registers_the_source_files_where_they_are(source: DirectButler, dest: DirectButler) -> None:
    refs = _refs(source)[:3]
    dest.transfer_from(source, refs, transfer="direct")
    for ref in refs:
        assert dest.get_uri(ref) == source.get_uri(ref)
        assert dest.get(ref) == source.get(ref)
    dest.remove(refs)
    assert all(source.get(r) is not None for r in refs)  # the source's files are not the destination's to delete


def test_files_ingested_direct_in_the_source_are_copied(
    source: DirectButler, dest: DirectButler, tmp_path: Path
) -> None:
    path = tmp_path / "outside.json"
    path.write_text(json.dumps({"outside": True}))
    (ref,) = source.ingest(
        FileDataset(path, dataset_type="meta", data_id={"instrument": "Cam", "visit": 5, "detector": 0}),
        transfer="direct",
    )
    dest.transfer_from(source, [ref], transfer="copy")
    assert dest.get(ref) == {"outside": True}
    assert dest.get_uri(ref).startswith(Path(dest.root).as_uri())


def test_a_record_that_differs_is_a_conflict_and_nothing_changes(source: DirectButler, dest: DirectButler) -> None:
    populate_sample(dest, n_visits=6, n_detectors=3)
    dest.registry.sync_dimension_records(
        "visit", {**source.query_dimension_records("visit", visit=2)[0].to_dict(), "target_name": "elsewhere"},
        update=True,
    )  # fmt: skip
    before = _state(dest)
    with pytest.raises(ConflictError, match="visit record"):
        dest.transfer_from(source, _refs(source))
    assert _state(dest) == before


@pytest.mark.parametrize("case", ["unregistered type", "different type", "unknown ref", "move", "no records"])
def test_refused_transfers_change_nothing(source: DirectButler, dest: DirectButler, case: str) -> None:
    refs = _refs(source)
    kwargs: dict[str, object] = {}
    error: type[Exception]
    if case == "unregistered type":
        error, kwargs = DatasetTypeError, {"register_dataset_types": False}
    elif case == "different type":
        dest.register_dataset_type("meta", ["instrument", "visit"], "StructuredDataDict")
        error = DatasetTypeError
    elif case == "unknown ref":
        refs = [*refs, DatasetRef(uuid.uuid4(), refs[0].dataset_type, refs[0].data_id, "r1")]
        error = DatasetNotFoundError
    elif case == "move":
        error, kwargs = ConfigError, {"transfer": "move"}
    else:
        error, kwargs = DataIdError, {"transfer_dimensions": False}
    before = _state(dest)
    with pytest.raises(error):
        dest.transfer_from(source, refs, **kwargs)  # type: ignore[arg-type]
    assert _state(dest) == before


def test_into_a_memory_datastore_with_a_postgresql_registry(
    source: DirectButler, registry_url: tuple[str, str | None], tmp_path: Path
) -> None:
    url, schema = registry_url
    if url.startswith("sqlite"):
        pytest.skip("a mem:// repository needs a server registry (SQLite lives in a local file)")
    root = Butler.create(f"mem://{uuid.uuid4().hex}/", registry=url, schema=schema)
    with DirectButler(root, writeable=True, collections="r1") as remote:
        refs = _refs(source)
        remote.transfer_from(source, refs)
        assert [remote.get(r) for r in refs] == [source.get(r) for r in refs]
        assert remote.get_uri(refs[0]).startswith(root)
        path = tmp_path / "extra.json"
        path.write_text(json.dumps({"extra": 1}))
        extra = FileDataset(path, dataset_type="meta", data_id={"instrument": "Cam", "visit": 0, "detector": 2})
        with pytest.raises(ConfigError, match="not on a local file system"):
            remote.ingest(extra, transfer="symlink", run="r2")
        (ref,) = remote.ingest(extra, run="r2")  # auto: a copy, the datastore not being local
        assert remote.get(ref) == {"extra": 1}
        assert path.exists()


@pytest.mark.s3
def test_into_an_s3_datastore(source: DirectButler, registry_url: tuple[str, str | None], tmp_path: Path,
                              s3_root: str, s3_endpoint: str) -> None:  # fmt: skip
    """SQLite and local files to a repository whose files are on S3 (moto on loopback), its registry on SQLite or
    PostgreSQL: the objects are uploaded under the destination's own paths, and a re-run uploads nothing."""
    url, schema = registry_url
    root = Butler.create(
        tmp_path / "s3repo",
        registry=None if url.startswith("sqlite") else url,
        schema=schema,
        datastore=s3_root,
        config={"datastore": {"transport": {"endpoint_url": s3_endpoint}}},
    )
    refs = _refs(source)
    with DirectButler(root, writeable=True, collections="r1") as remote:
        out = remote.transfer_from(source, refs, transfer="copy")
        assert sorted(r.id for r in out) == sorted(r.id for r in refs)
        assert [remote.get(r) for r in refs] == [source.get(r) for r in refs]
        assert all(remote.get_uri(r).startswith(s3_root) for r in refs)
        keys = sorted(remote.datastore.files().transport.keys())
        assert len(keys) == len(refs)
        again = remote.transfer_from(source, refs)
        assert sorted(r.id for r in again) == sorted(r.id for r in refs)
        assert sorted(remote.datastore.files().transport.keys()) == keys
        assert remote.registry.datasets.count() == len(refs)
        report = remote.reconcile(grace_seconds=0)
        assert (report.unknown, report.missing) == ([], [])
