"""Ingest, export, import and transfer_from through the server: grants, traversal, and nothing left behind.

The conformance suite runs the same ingest and export/import calls on direct and remote butlers; this module
checks what only the remote path has: who may stage and register, that the pending upload area is gone after
success and after failure, that a key outside the area is refused, and a local → remote transfer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler.errors import ArtifactNotFoundError, ConfigError, PermissionDeniedError, SkyButlerError
from skybutler.testing.butler import snapshot
from skybutler.testing.sample import populate_sample
from skybutler.testing.server import ServedRepo, served_repo
from skybutler.transfer import FileDataset
from skybutler.wire_transfer import IngestItemModel, IngestRequest, StageRequest

DIMS = ["instrument", "visit", "detector"]
ONE = {"instrument": "Cam", "visit": 1, "detector": 1}


@pytest.fixture
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedRepo]:
    with served_repo(request, tmp_path / "served", "sqlite-file") as served:
        with served.remote(writeable=True) as admin:
            admin.register_dataset_type("meta", DIMS, "StructuredDataDict")
            admin.put({"who": "bob"}, "meta", ONE, run="u/bob/run1")
        yield served


def _pending(repo: ServedRepo) -> list[Path]:
    return sorted((Path(repo.root) / ".pending").glob("upload-*"))


def _file(tmp_path: Path, name: str, value: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(value))
    return path


def test_ingest_needs_write_on_the_run_and_leaves_no_upload_behind(repo: ServedRepo, tmp_path: Path) -> None:
    path = _file(tmp_path, "a.json", {"v": 1})
    fd = FileDataset(path, dataset_type="meta", data_id={**ONE, "visit": 2}, formatter="json")
    with repo.remote(repo.token("alice", ["read:*", "write:u/alice/*"]), run="u/alice/run1") as alice:
        with repo.local() as local:
            before = snapshot(local)
        with pytest.raises(PermissionDeniedError, match="u/bob/run2"):
            alice.ingest(fd, run="u/bob/run2")
        with repo.local() as local:
            assert snapshot(local) == before  # dataset types included: "fresh" is gone
        assert _pending(repo) == []  # refused before an area was made
        with pytest.raises(ConfigError, match="upload"):
            alice.ingest(fd, transfer="symlink")  # the server cannot link a file on this machine
        with pytest.raises(ArtifactNotFoundError, match="nothing was uploaded"):
            alice.ingest(FileDataset(tmp_path / "nope.json", dataset_type="meta", data_id=ONE))
        (ref,) = alice.ingest(fd, transfer="move")
        assert alice.get(ref) == {"v": 1}
        assert not path.exists()  # moved: the local file is gone once the ingest succeeded
    assert _pending(repo) == []


def test_a_failed_ingest_deletes_its_uploads_and_registers_nothing(repo: ServedRepo, tmp_path: Path) -> None:
    good = _file(tmp_path, "good.json", {"v": 1})
    with repo.remote(run="u/alice/run1") as admin:
        with repo.local() as local:
            before = snapshot(local)
        bad = FileDataset(good, dataset_type="meta", data_id={**ONE, "detector": 999}, formatter="json")
        with pytest.raises(Exception, match="999"):
            admin.ingest(FileDataset(good, dataset_type="meta", data_id=ONE, formatter="json"), bad)
    assert _pending(repo) == []
    with repo.local() as local:
        assert snapshot(local) == before


def test_a_staged_key_outside_its_area_is_refused(repo: ServedRepo, tmp_path: Path) -> None:
    with repo.remote(run="u/alice/run1") as admin:
        session = admin._session
        for bad in ["butler.yaml", "{key}/../../butler.yaml", "../x.json", "{other}"]:
            staged = session.call("POST", "/transfer/stage", StageRequest(run="u/alice/run1", names=["x.json"]))
            other = session.call("POST", "/transfer/stage", StageRequest(run="u/alice/run1", names=["y.json"]))
            key = bad.format(key=staged["keys"][0], other=other["keys"][0])
            item = IngestItemModel(key=key, dataset_type="meta", data_id=ONE)
            request = IngestRequest(area=staged["area"], datasets=[item], run="u/alice/run1")
            with pytest.raises(PermissionDeniedError, match="Refused path"):
                session.call("POST", "/transfer/ingest", request)
            assert not (Path(repo.root) / ".pending" / staged["area"]).exists()  # removed whatever happened
        request = IngestRequest(area="../../etc", datasets=[], run="u/alice/run1")
        with pytest.raises(PermissionDeniedError, match="upload area"):
            session.call("POST", "/transfer/ingest", request)


def test_export_needs_read_on_what_it_exports_and_import_write_on_what_it_writes(
    repo: ServedRepo, tmp_path: Path
) -> None:
    with repo.remote(writeable=True) as admin:
        admin.put({"who": "alice"}, "meta", ONE, run="u/alice/run1")
        admin.export(tmp_path / "bob.zip", collections="u/bob/run1")
        admin.register_dataset_type("other", DIMS, "StructuredDataDict")
        admin.put({"new": "type"}, "other", ONE, run="u/alice/run2")
        admin.export(tmp_path / "other.zip", collections="u/alice/run2")
        admin.collections.remove_runs(["u/alice/run2"])
        admin.remove_dataset_type("other")
    grants = ["read:u/alice/*", "write:u/alice/*"]
    with repo.remote(repo.token("alice", grants), writeable=True) as alice:
        with pytest.raises(PermissionDeniedError, match="u/bob/run1"):
            alice.export(tmp_path / "bob2.zip", collections="u/bob/run1")
        with pytest.raises(PermissionDeniedError, match="u/bob/run1"):
            alice.export(tmp_path / "all.zip")  # everything: bob's run too
        assert not (tmp_path / "bob2.zip").exists()
        report = alice.export(tmp_path / "alice.zip", collections="u/alice/*")
        assert report.datasets == 1
        assert report.path == str(tmp_path / "alice.zip")
        with repo.local() as local:
            before = snapshot(local)
        with pytest.raises(PermissionDeniedError, match="u/bob/run1"):  # writes bob's run
            alice.import_(tmp_path / "bob.zip", skip_existing=True)
        with pytest.raises(PermissionDeniedError, match="admin"):  # registers a dataset type
            alice.import_(tmp_path / "other.zip")
        with repo.local() as local:
            assert snapshot(local) == before  # dataset types included: "fresh" is gone
        # Only what she may write, on types and records the repository has: no admin needed.
        assert alice.import_(tmp_path / "alice.zip", skip_existing=True).skipped == 1
    with (
        repo.remote(repo.token("reader", ["read:*"]), writeable=True) as reader,
        pytest.raises(PermissionDeniedError, match="no write grant"),  # refused before any upload
    ):
        reader.import_(tmp_path / "alice.zip", skip_existing=True)
    with repo.remote(writeable=True) as admin:
        assert admin.import_(tmp_path / "other.zip").datasets == 1
    assert _pending(repo) == []


def test_transfer_from_a_local_repository_keeps_ids_records_and_contents(repo: ServedRepo, tmp_path: Path) -> None:
    from skybutler import Butler

    Butler.create(tmp_path / "src")
    with Butler(tmp_path / "src", run="u/alice/src") as source:
        populate_sample(source, n_visits=30)  # visits 20-29: records the server lacks
        source.register_dataset_type("meta", DIMS, "StructuredDataDict")
        refs = source.put_many([({"v": v}, {"instrument": "Cam", "visit": v, "detector": 2}) for v in (1, 25)],
                               "meta", run="u/alice/src")  # fmt: skip
        with repo.remote(repo.token("alice", ["read:u/alice/*", "write:u/alice/*"]), writeable=True) as alice:
            with pytest.raises(PermissionDeniedError, match="admin"):  # records the server lacks: admin
                alice.transfer_from(source, refs)
            assert "u/alice/src" not in alice.query_collections()
        with repo.remote(writeable=True) as admin:
            done = admin.transfer_from(source, refs)
            assert [r.id for r in done] == [r.id for r in refs]
            assert [admin.get(r) for r in done] == [{"v": 1}, {"v": 25}]
            assert [r.id for r in admin.transfer_from(source, refs)] == [r.id for r in refs]  # skipped
        with repo.remote(repo.token("alice", ["read:u/alice/*", "write:u/alice/*"]), writeable=True) as alice:
            more = source.put({"v": 3}, "meta", {"instrument": "Cam", "visit": 1, "detector": 1})
            (ref,) = alice.transfer_from(source, [more])  # records exist now: write on the run is enough
            assert alice.get(ref) == {"v": 3}
    assert _pending(repo) == []


def test_what_stays_refused_says_why_and_changes_nothing(repo: ServedRepo, tmp_path: Path) -> None:
    with repo.remote(run="u/alice/run1") as admin:
        with repo.local() as local:
            before = snapshot(local)
        with pytest.raises(PermissionDeniedError, match="storage URIs"):
            admin.plan_work("meta", outputs={"out": ["meta"]}, run="u/alice/plan")
        with pytest.raises(PermissionDeniedError, match="workers' outputs"):
            admin.merge(tmp_path / "manifest.json")
        with pytest.raises(PermissionDeniedError, match="raw headers"):
            admin.ingest_raws([tmp_path / "raw.fits"])
        with pytest.raises(ConfigError, match="local repository only"):
            admin.transfer_from(admin, [])
        with repo.local() as local:
            assert snapshot(local) == before  # dataset types included: "fresh" is gone


def test_an_upload_of_another_size_than_the_client_sent_is_refused(repo: ServedRepo, tmp_path: Path) -> None:
    from skybutler.errors import CorruptArtifactError

    with repo.remote(run="u/alice/run1") as admin:
        with repo.local() as local:
            before = snapshot(local)
        session = admin._session
        staged = session.call("POST", "/transfer/stage", StageRequest(run="u/alice/run1", names=["x.json"]))
        session.upload(staged["urls"][0], b'{"v":', "cut upload")  # the client's file had 8 bytes
        item = IngestItemModel(key=staged["keys"][0], size=8, dataset_type="meta", data_id=ONE, formatter="json")
        with pytest.raises(CorruptArtifactError, match="not the 8"):
            session.call(
                "POST", "/transfer/ingest", IngestRequest(area=staged["area"], datasets=[item], run="u/alice/run1")
            )
        with repo.local() as local:
            assert snapshot(local) == before  # dataset types included: "fresh" is gone
    assert _pending(repo) == []


def test_transfer_from_the_server_checks_grants_and_bytes_and_leaves_the_destination_unchanged(
    repo: ServedRepo, tmp_path: Path
) -> None:
    from skybutler import Butler
    from skybutler.errors import CorruptArtifactError

    with repo.remote(writeable=True) as admin:
        mine = admin.put({"who": "alice"}, "meta", ONE, run="u/alice/run1")
        admin.collections.register("u/bob/tagged", "TAGGED")
        admin.collections.associate("u/bob/tagged", [mine])
        (bobs,) = admin.query_datasets("meta", collections="u/bob/run1")
    Butler.create(tmp_path / "dest")
    with (
        Butler(tmp_path / "dest", writeable=True) as dest,
        repo.remote(repo.token("alice", ["read:u/alice/*"])) as alice,
    ):
        before = snapshot(dest)
        with pytest.raises(PermissionDeniedError, match="u/bob/run1"):
            dest.transfer_from(alice, [mine, bobs])  # bob's run: not readable
        with pytest.raises(PermissionDeniedError, match="u/bob/tagged"):
            dest.transfer_from(alice, [mine], collections="u/bob/tagged")
        with pytest.raises(ConfigError, match="copy"):
            dest.transfer_from(alice, [mine], transfer="symlink")  # would point at a fetched copy
        assert snapshot(dest) == before
        with repo.local() as local:  # the server's file is changed behind the registry's back
            uri = local.get_uri(mine)
        stored = Path(uri.removeprefix("file://"))
        original = stored.read_bytes()
        stored.write_bytes(original.replace(b"alice", b"eve!!"))  # same size, other bytes: the checksum differs
        with pytest.raises(CorruptArtifactError, match="checksum"):
            dest.transfer_from(alice, [mine])
        assert snapshot(dest) == before
        stored.write_bytes(original)
        (ref,) = dest.transfer_from(alice, [mine])
        assert ref.id == mine.id
        assert dest.get(ref) == {"who": "alice"}


def test_transfer_into_the_server_with_collections_needs_write_on_each(repo: ServedRepo, tmp_path: Path) -> None:
    from skybutler import Butler

    Butler.create(tmp_path / "src")
    with Butler(tmp_path / "src", run="u/alice/src") as source:
        populate_sample(source)
        source.register_dataset_type("meta", DIMS, "StructuredDataDict")
        ref = source.put({"v": 1}, "meta", ONE)
        source.collections.register("u/bob/tagged", "TAGGED")
        source.collections.associate("u/bob/tagged", [ref])
        with repo.remote(repo.token("alice", ["read:*", "write:u/alice/*"]), writeable=True) as alice:
            with repo.local() as local:
                before = snapshot(local)
            with pytest.raises(PermissionDeniedError, match="u/bob/tagged"):
                alice.transfer_from(source, [ref], collections="u/bob/tagged")
            with repo.local() as local:
                assert snapshot(local) == before  # dataset types included: "fresh" is gone
            (done,) = alice.transfer_from(source, [ref])  # without the tag: her run only
            assert alice.get(done) == {"v": 1}
    assert _pending(repo) == []


def test_a_failed_transfer_into_the_server_leaves_no_dataset_type_behind(repo: ServedRepo, tmp_path: Path) -> None:
    """The types a transfer registers go first, by their own calls: a failed ingest takes them back out."""
    from skybutler import Butler

    Butler.create(tmp_path / "src")
    with Butler(tmp_path / "src", run="u/bob/src") as source:
        populate_sample(source)
        source.register_dataset_type("fresh", DIMS, "StructuredDataDict")
        ref = source.put({"v": 1}, "fresh", ONE)
        with repo.local() as local:
            local.collections.register("u/bob/src", "TAGGED")  # the run's name is taken by another kind
            before = snapshot(local)
        token = repo.token("alice", ["admin", "read:*", "write:*"])
        with repo.remote(token, writeable=True) as alice, pytest.raises(SkyButlerError, match="u/bob/src"):
            alice.transfer_from(source, [ref])
        with repo.local() as local:
            assert snapshot(local) == before  # dataset types included: "fresh" is gone
    assert _pending(repo) == []
