"""Ingest of existing files: every transfer mode, idempotent re-runs, bad input, failures inside a batch."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybutler.butler import Butler, DirectButler
from skybutler.datasets import ArtifactInfo, DatasetRef, DatasetType
from skybutler.dimensions import DataCoordinate, DimensionUniverse
from skybutler.errors import (
    ArtifactNotFoundError,
    CollectionError,
    ConfigError,
    ConflictError,
    DataIdError,
    DatasetTypeError,
    PermissionDeniedError,
    StorageError,
)
from skybutler.testing.files import immutable
from skybutler.testing.sample import populate_sample
from skybutler.transfer import FileDataset

DIMS = ["instrument", "visit", "detector"]


@pytest.fixture
def local(tmp_path: Path) -> Iterator[DirectButler]:
    """A SQLite repository with the sample instrument and the ``meta`` dataset type."""
    Butler.create(tmp_path / "repo")
    with DirectButler(tmp_path / "repo", run="ingest") as butler:
        populate_sample(butler, n_visits=10, n_detectors=3)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        yield butler


def _write(directory: Path, n: int = 6) -> list[FileDataset]:
    """``n`` JSON files (visit, detector) and their FileDatasets."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        visit, detector = divmod(i, 3)
        path = directory / f"meta_{visit}_{detector}.json"
        path.write_text(json.dumps({"visit": visit, "detector": detector}))
        data_id = {"instrument": "Cam", "visit": visit, "detector": detector}
        out.append(FileDataset(path, dataset_type="meta", data_id=data_id))
    return out


def _state(butler: DirectButler) -> tuple[int, list[str], list[str]]:
    """Registry contents and every file under the repository (except the registry itself)."""
    root = Path(butler.root)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir() and "registry" not in p.name)
    return butler.registry.datasets.count(), files, sorted(c.name for c in butler.registry.query_collections())


def _artifact(uri: str) -> Path:
    assert uri.startswith("file://")
    return Path(uri.removeprefix("file://"))


@pytest.mark.parametrize("mode", ["copy", "move", "link", "hardlink", "symlink", "relsymlink", "direct", "auto"])
def test_every_transfer_mode_gives_readable_datasets(local: DirectButler, tmp_path: Path, mode: str) -> None:
    files = _write(tmp_path / "incoming")
    refs = local.ingest(*files, transfer=mode)
    assert len(refs) == len(files)
    for ref, fd in zip(refs, files, strict=True):
        assert local.get(ref) == {"visit": ref.data_id["visit"], "detector": ref.data_id["detector"]}
        source = Path(fd.path)
        stored = _artifact(local.get_uri(ref))
        if mode == "direct":
            assert stored == source
            continue
        assert stored.is_relative_to(Path(local.root))
        if mode == "move":
            assert not source.exists()
            assert stored.is_file()
            assert not stored.is_symlink()
        elif mode in ("hardlink", "link", "auto"):  # same file system: a hard link (auto's rule)
            assert stored.stat().st_ino == source.stat().st_ino
            assert not stored.is_symlink()
        elif mode == "symlink":
            assert stored.is_symlink()
            assert stored.readlink() == source
        elif mode == "relsymlink":
            assert stored.is_symlink()
            assert not stored.readlink().is_absolute()
            assert stored.resolve() == source.resolve()
        else:  # copy
            assert stored.stat().st_ino != source.stat().st_ino
            assert source.exists()
    report = local.reconcile(grace_seconds=0)
    assert (report.unknown, report.missing, report.removed_staging) == ([], [], [])


def _artifacts(butler: DirectButler, refs: list[DatasetRef]) -> list[ArtifactInfo]:
    rows = butler.registry.datasets.by_ids([butler.registry.dataset_types.get("meta")], [r.id for r in refs])
    out = [row.artifact for row in rows]
    assert None not in out
    return out  # type: ignore[return-value]


def test_checksums_are_recorded_and_verify(local: DirectButler, tmp_path: Path) -> None:
    files = _write(tmp_path / "incoming", 3)
    for mode, run, checksum in (("copy", "c", None), ("direct", "d", True), ("symlink", "s", None)):
        refs = local.ingest(*files, transfer=mode, run=run, checksum=checksum)
        for artifact in _artifacts(local, refs):
            assert artifact.checksum is not None
            assert artifact.checksum.startswith("xxh3_128:")
            assert local.datastore.leaf(artifact.datastore).verify(artifact) is None


def test_direct_files_get_their_size_only_unless_asked(local: DirectButler, tmp_path: Path) -> None:
    files = _write(tmp_path / "archive", 3)
    refs = local.ingest(*files, transfer="direct")
    artifacts = _artifacts(local, refs)
    assert [(a.size, a.checksum) for a in artifacts] == [(Path(fd.path).stat().st_size, None) for fd in files]
    assert (local.verify(refs).ok, local.verify(refs).problems) == (3, 0)
    Path(files[0].path).write_text('{"visit": 0, "detector": 0, "changed": true}')  # another size: found
    Path(files[1].path).unlink()
    report = local.verify(refs)
    assert (report.ok, report.problems) == (1, 2)


def test_checksum_false_records_sizes_only(local: DirectButler, tmp_path: Path) -> None:
    files = _write(tmp_path / "incoming", 2)
    refs = local.ingest(*files, transfer="copy", checksum=False)
    assert [a.checksum for a in _artifacts(local, refs)] == [None, None]
    assert local.get(refs[0]) == {"visit": 0, "detector": 0}


def test_auto_registers_files_inside_the_datastore_in_place(local: DirectButler) -> None:
    inside = Path(local.root) / "incoming"
    files = _write(inside, 3)
    refs = local.ingest(*files, transfer="auto")
    for ref, fd in zip(refs, files, strict=True):
        assert _artifact(local.get_uri(ref)) == Path(fd.path)
    local.remove(refs[:1])  # the datastore owns in-place files: remove deletes them
    assert not Path(files[0].path).exists()
    assert Path(files[1].path).exists()


def test_move_whose_sources_cannot_be_deleted(local: DirectButler, tmp_path: Path) -> None:
    """Sources that cannot be deleted (immutable, as on a read-only file system): the datasets are ingested
    (every file in place, readable), and the error says so and which sources are left, rather than a bare
    PermissionError mid-promotion."""
    files = _write(tmp_path / "incoming")
    with immutable(*(Path(fd.path) for fd in files)):
        with pytest.raises(StorageError, match=r"(?s)ingested.*could not be deleted.*meta_0_0\.json") as info:
            local.ingest(*files, transfer="move")
        assert "6 source(s)" in str(info.value)
    refs = local.query_datasets("meta", collections="ingest")
    assert len(list(refs)) == len(files)
    for ref in refs:
        assert local.get(ref) == {"visit": ref.data_id["visit"], "detector": ref.data_id["detector"]}
    assert all(Path(fd.path).exists() for fd in files)
    report = local.reconcile(grace_seconds=0)
    assert (report.unknown, report.missing, report.promoted, report.removed_staging) == ([], [], [], [])


def test_remove_never_deletes_a_direct_file(local: DirectButler, tmp_path: Path) -> None:
    files = _write(tmp_path / "archive", 3)
    refs = local.ingest(*files, transfer="direct")
    assert local.remove(refs) == 3
    assert all(Path(fd.path).exists() for fd in files)
    assert local.reconcile(grace_seconds=0).missing == []


def test_direct_files_are_verified_and_retrieved_where_they_are(local: DirectButler, tmp_path: Path) -> None:
    files = _write(tmp_path / "archive", 2)
    refs = local.ingest(*files, transfer="direct")
    report = local.verify(refs)
    assert (report.ok, report.problems) == (2, 0)
    out = local.retrieve_artifacts(refs, tmp_path / "copies")
    assert len(out) == 2
    for path, fd in zip(out, files, strict=True):
        assert Path(path).read_bytes() == Path(fd.path).read_bytes()
        assert str(Path(fd.path)).lstrip("/") in path  # under the URI's own path, inside the destination


def _ref(butler: DirectButler, run: str, visit: int, detector: int) -> DatasetRef:
    dt = butler.get_dataset_type("meta")
    given: dict[str, Any] = {"instrument": "Cam", "visit": visit, "detector": detector}
    coord = DataCoordinate.from_required(dt.dimensions, tuple(given[d] for d in dt.dimensions.required))
    return DatasetRef(uuid.uuid4(), dt, coord, run)


def test_one_file_holding_two_datasets_is_kept_until_both_are_removed(local: DirectButler, tmp_path: Path) -> None:
    path = tmp_path / "both.json"
    path.write_text(json.dumps({"shared": True}))
    refs = local.ingest(FileDataset(path, refs=[_ref(local, "multi", 0, 0), _ref(local, "multi", 0, 1)]))
    assert local.get_uri(refs[0]) == local.get_uri(refs[1])
    stored = _artifact(local.get_uri(refs[0]))
    local.remove(refs[:1])
    assert stored.exists()
    assert local.get(refs[1]) == {"shared": True}
    local.remove(refs[1:])
    assert not stored.exists()


def test_deterministic_ids_make_reingest_idempotent(local: DirectButler, tmp_path: Path) -> None:
    files = _write(tmp_path / "incoming")
    first = local.ingest(*files, transfer="copy", id_mode="deterministic", skip_existing=True)
    before = _state(local)
    again = local.ingest(*files, transfer="copy", id_mode="deterministic", skip_existing=True)
    assert [r.id for r in again] == [r.id for r in first]
    assert _state(local) == before
    with pytest.raises(ConflictError, match="already registered"):
        local.ingest(*files, transfer="copy", id_mode="deterministic")
    assert _state(local) == before


def test_skip_existing_with_random_ids_skips_by_data_id(local: DirectButler, tmp_path: Path) -> None:
    files = _write(tmp_path / "incoming")
    first = local.ingest(*files[:3], transfer="copy")
    refs = local.ingest(*files, transfer="copy", skip_existing=True)
    assert {r.id for r in first} <= {r.id for r in refs}
    assert local.registry.datasets.count() == len(files)


def test_refs_keep_their_ids_and_runs(local: DirectButler, tmp_path: Path) -> None:
    files = _write(tmp_path / "incoming", 2)
    given = [_ref(local, "second", 0, 0), _ref(local, "second", 0, 1)]
    refs = local.ingest(*(FileDataset(fd.path, refs=[r]) for fd, r in zip(files, given, strict=True)))
    assert refs == given
    assert local.find_dataset("meta", given[1].data_id, collections="second") == refs[1]


def test_progress_reports_check_and_batches(local: DirectButler, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int | None]] = []
    local.ingest(*_write(tmp_path / "incoming"), transfer="copy", batch_size=4,
                 progress=lambda phase, done, total: calls.append((phase, done, total)))  # fmt: skip
    assert calls == [("check", 6, 6), ("ingest", 4, 6), ("ingest", 6, 6)]


def _bad_cases(tmp: Path) -> dict[str, tuple[type[Exception], list[FileDataset], dict[str, Any]]]:
    path = tmp / "x.json"
    path.write_text("{}")

    def fd(dataset_type: str = "meta", file: Path = path, formatter: str | None = None, **data_id: Any) -> FileDataset:
        given = {"instrument": "Cam", "visit": 1, "detector": 1, **data_id}
        given = {k: v for k, v in given.items() if v is not None}
        return FileDataset(file, dataset_type=dataset_type, data_id=given, formatter=formatter)

    return {
        "missing file": (ArtifactNotFoundError, [fd(file=tmp / "nope.json")], {}),
        "unknown dataset type": (DatasetTypeError, [fd("calexp")], {}),
        "unknown record": (DataIdError, [fd(visit=999)], {}),
        "missing key": (DataIdError, [fd(detector=None)], {}),
        "contradicting implied value": (DataIdError, [fd(physical_filter="Cam-g")], {}),
        "same dataset twice": (ConflictError, [fd(), fd()], {}),
        "unknown transfer mode": (ConfigError, [fd()], {"transfer": "teleport"}),
        "formatter for another storage class": (ConfigError, [fd(formatter="npy")], {}),
        "run that is not a RUN": (CollectionError, [fd()], {"run": "tagged"}),
        "unknown id mode": (ConfigError, [fd()], {"id_mode": "sometimes"}),
        "dataset type defined differently": (
            DatasetTypeError,
            [
                FileDataset(
                    path,
                    dataset_type=DatasetType("meta", DIMS, "NumpyArray", universe=DimensionUniverse.default()),
                    data_id=fd().data_id,
                )
            ],
            {},
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["missing file", "unknown dataset type", "unknown record", "missing key", "contradicting implied value",
     "same dataset twice", "unknown transfer mode", "formatter for another storage class", "run that is not a RUN",
     "unknown id mode", "dataset type defined differently"],
)  # fmt: skip
def test_bad_input_changes_nothing(butler: DirectButler, tmp_path: Path, case: str) -> None:
    butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
    butler.collections.register("tagged", "TAGGED")
    butler.ingest(*_write(tmp_path / "first", 2), transfer="copy")
    before = _state(butler)
    error, datasets, kwargs = _bad_cases(tmp_path)[case]
    with pytest.raises(error):
        butler.ingest(*datasets, run=kwargs.pop("run", "new/run"), **kwargs)
    assert _state(butler) == before


def test_the_first_unknown_record_in_input_order_is_reported(local: DirectButler, tmp_path: Path) -> None:
    files = _write(tmp_path / "incoming", 6)
    bad = {1: 999, 4: 998}  # two files name visits that do not exist; the earlier one is reported
    given = [
        FileDataset(fd.path, dataset_type="meta", data_id={**dict(fd.data_id), "visit": bad.get(n, n // 3)})  # type: ignore[arg-type]
        for n, fd in enumerate(files)
    ]
    with pytest.raises(DataIdError, match=re.escape(f"Cannot ingest {Path(files[1].path).as_uri()} as meta")):
        local.ingest(*given, transfer="direct")
    assert local.registry.datasets.count() == 0


def test_read_only_butler_and_missing_run_are_refused(local: DirectButler, tmp_path: Path) -> None:
    files = _write(tmp_path / "incoming", 1)
    with DirectButler(local.root) as reader, pytest.raises(PermissionDeniedError):
        reader.ingest(*files)
    with DirectButler(local.root, writeable=True) as no_run, pytest.raises(PermissionDeniedError, match="No run"):
        no_run.ingest(*files)
    with pytest.raises(DatasetTypeError, match="either refs"):
        FileDataset(files[0].path)


def test_a_failure_inside_a_batch_registers_nothing_of_it(local: DirectButler, tmp_path: Path) -> None:
    files = _write(tmp_path / "incoming", 9)
    victim = Path(files[7].path)

    def vanish(phase: str, done: int, total: int | None) -> None:
        if phase == "ingest" and done == 3:  # after the first batch: a later file disappears mid-ingest
            victim.unlink()

    with pytest.raises(ArtifactNotFoundError, match="gone missing"):
        local.ingest(*files, transfer="copy", batch_size=3, id_mode="deterministic", progress=vanish)
    assert local.registry.datasets.count() == 6  # the batches before the failing one (files 6-8)
    staging = Path(local.root) / ".staging"
    assert not staging.exists() or not any(staging.iterdir())
    report = local.reconcile(grace_seconds=0)
    assert (report.unknown, report.missing, report.promoted, report.removed_staging) == ([], [], [], [])
    victim.write_text(json.dumps({"visit": 2, "detector": 1}))
    refs = local.ingest(*files, transfer="copy", batch_size=3, id_mode="deterministic", skip_existing=True)
    assert [local.get(r) for r in refs] == [json.loads(Path(fd.path).read_text()) for fd in files[6:] + files[:6]]


def test_a_failed_first_batch_leaves_no_new_run(local: DirectButler, tmp_path: Path) -> None:
    files = _write(tmp_path / "incoming", 3)
    before = _state(local)
    victim = Path(files[1].path)
    with pytest.raises(ArtifactNotFoundError):
        local.ingest(*files, transfer="copy", run="brand/new",
                     progress=lambda phase, done, total: victim.unlink() if phase == "check" else None)  # fmt: skip
    assert _state(local) == before
    assert local.registry.collections.find("brand/new") is None


@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink"])
def test_a_vanished_staging_folder_is_made_again(local: DirectButler, tmp_path: Path, mode: str) -> None:
    files = _write(tmp_path / "incoming", 6)
    staging = Path(local.root) / ".staging"

    def remove_staging(phase: str, done: int, total: int | None) -> None:
        if staging.exists() and not any(staging.iterdir()):
            staging.rmdir()  # what another process's aborted put (or reconcile) does to an empty staging folder

    refs = local.ingest(*files, transfer=mode, batch_size=2, progress=remove_staging)
    assert [local.get(r)["visit"] for r in refs] == [0, 0, 0, 1, 1, 1]


def test_direct_records_normalized_absolute_uris(
    local: DirectButler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _write(tmp_path / "archive dir", 4)
    names = [Path(fd.path).name for fd in files]
    monkeypatch.chdir(tmp_path)
    given = [
        f"{tmp_path}/archive dir/../archive dir/{names[0]}",
        f"{tmp_path}//archive dir/./{names[1]}",
        f"archive dir/{names[2]}",
        f"file://{tmp_path}/archive%20dir/{names[3]}",
    ]
    renamed = [FileDataset(p, dataset_type="meta", data_id=fd.data_id) for p, fd in zip(given, files, strict=True)]
    refs = local.ingest(*renamed, transfer="direct")
    expected = [(tmp_path / "archive dir" / n).as_uri() for n in names]
    assert [local.get_uri(r) for r in refs] == expected
    assert local.get(refs[2]) == {"visit": refs[2].data_id["visit"], "detector": refs[2].data_id["detector"]}
    local.remove(refs[:1])
    (ref,) = local.ingest(FileDataset(f"file://localhost{tmp_path}/archive%20dir/{names[0]}", dataset_type="meta",
                                      data_id=files[0].data_id), transfer="direct")  # fmt: skip
    assert local.get_uri(ref) == expected[0]
    elsewhere = FileDataset(f"file://otherhost{tmp_path}/archive%20dir/{names[0]}", dataset_type="meta",
                            data_id=files[0].data_id)  # fmt: skip
    with pytest.raises(ConfigError, match="names the host 'otherhost'"):  # not read as a local path
        local.ingest(elsewhere, transfer="direct")


@pytest.mark.parametrize("mode", ["copy", "symlink", "direct"])
def test_ingest_into_a_chain_records_the_file_child_that_holds_each_file(tmp_path: Path, mode: str) -> None:
    chain = {
        "type": "chained",
        "children": [
            {"name": "scratch", "type": "memory"},
            {"name": "disk", "type": "file", "root": "{root}/disk"},
        ],
    }
    Butler.create(tmp_path / "repo", config={"datastore": chain})
    with DirectButler(tmp_path / "repo", run="ingest") as butler:
        populate_sample(butler, n_visits=2, n_detectors=3)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        refs = butler.ingest(*_write(tmp_path / "incoming"), transfer=mode)
        assert {a.datastore for a in _artifacts(butler, refs)} == {"disk"}
        assert [butler.get(ref)["detector"] for ref in refs] == [0, 1, 2, 0, 1, 2]
        assert (butler.verify(refs).ok, butler.verify(refs).problems) == (6, 0)


def test_on_sqlite_other_writers_are_not_held_up_while_a_batch_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry transaction starts once the batch is staged: a slow copy never holds SQLite's write lock."""
    import sqlite3
    import threading
    import time

    from skybutler.transfer._modes import FileMover

    Butler.create(tmp_path / "repo")
    with DirectButler(tmp_path / "repo", run="ingest") as butler:
        populate_sample(butler, n_visits=2, n_detectors=3)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
    files = _write(tmp_path / "incoming")
    copying, release = threading.Event(), threading.Event()
    real_bring = FileMover.bring

    def slow_bring(self: FileMover, *args: Any) -> tuple[int, str | None]:
        copying.set()
        release.wait(30)  # a large file still being copied
        return real_bring(self, *args)

    monkeypatch.setattr(FileMover, "bring", slow_bring)
    outcome: list[Any] = []

    def ingest() -> None:
        with DirectButler(tmp_path / "repo", run="ingest") as butler:
            try:
                outcome.append(butler.ingest(*files, transfer="copy"))
            except Exception as exc:
                outcome.append(exc)

    worker = threading.Thread(target=ingest)
    worker.start()
    try:
        assert copying.wait(30)
        time.sleep(0.5)  # time for the ingest to reach its transaction, had it started one before the copies end
        other = sqlite3.connect(tmp_path / "repo" / "registry.sqlite3", timeout=0.2)
        try:
            other.execute("BEGIN IMMEDIATE")  # another writer takes the write lock at once
            other.rollback()
        finally:
            other.close()
    finally:
        release.set()
        worker.join(60)
    (refs,) = outcome
    assert isinstance(refs, list)
    assert len(refs) == len(files)
