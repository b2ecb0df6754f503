"""A remote export writes the archive (or directory) itself, from signed URLs (issue 20, part 3).

The server answers ``/transfer/export/files`` with the document and a signed URL per file (S3 presigned GET on
PostgreSQL + S3, its own HMAC-signed files URL on SQLite + files; small files inline); the client downloads
each file, checked on the stream.  The archive holds what a local export's holds, byte for byte, and a file
changed behind the registry's back leaves no archive behind.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest

from skybutler import Butler
from skybutler.client import RemoteButler
from skybutler.errors import ArtifactNotFoundError, ConfigError, CorruptArtifactError
from skybutler.testing.butler import snapshot
from skybutler.testing.server import ServedRepo
from skybutler.wire import INLINE_LIMIT

DIMS = ["instrument", "visit", "detector"]
BIG = 4 * INLINE_LIMIT  # never inline: always read through a signed URL


@pytest.fixture
def seen() -> list[httpx.Request]:
    return []


def _watch(butler: RemoteButler, seen: list[httpx.Request]) -> None:
    butler._session.client.event_hooks["request"].append(seen.append)


def _put_some(served: ServedRepo) -> None:
    with served.remote(writeable=True) as admin:
        admin.register_dataset_type("big", DIMS, "NumpyArray")
        admin.register_dataset_type("meta", DIMS, "StructuredDataDict")
        for v in (1, 2):
            one = {"instrument": "Cam", "visit": v, "detector": 1}
            admin.put(np.full(BIG // 8, v, dtype=np.int64), "big", one, run="u/alice/run")
            admin.put({"v": v}, "meta", one, run="u/alice/run")


@pytest.fixture
def filled(served: ServedRepo) -> ServedRepo:
    _put_some(served)
    return served


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_remote_zip_export_downloads_the_files_and_matches_a_local_export(
    filled: ServedRepo, tmp_path: Path, seen: list[httpx.Request]
) -> None:
    with filled.local() as local:
        local.export(tmp_path / "local.zip", collections="u/alice/run")
        (one, _) = local.query_datasets("big", collections="u/alice/run")
        s3 = not local.get_uri(one).startswith("file://")
    with filled.remote(filled.token("alice", ["read:u/alice/*"])) as alice:
        _watch(alice, seen)
        report = alice.export(tmp_path / "remote.zip", collections="u/alice/run")
    assert (report.datasets, report.artifacts) == (4, 4)
    remote, local_members = _members(tmp_path / "remote.zip"), _members(tmp_path / "local.zip")
    assert remote == local_members  # the document, every file, the index and the provenance
    assert report.bytes == sum(len(v) for k, v in remote.items() if k.startswith("u/"))
    api = [r.url.path for r in seen if r.url.path.startswith("/api/v1/transfer")]
    assert api == ["/api/v1/transfer/export/files"]  # never the server-side archive
    downloads = [r for r in seen if not r.url.path.startswith("/api/v1/transfer")]
    if s3:  # every file straight from the object store's presigned URL: the server saw none of these bytes
        assert len(downloads) == 4
        assert all("X-Amz-Signature" in r.url.params and not str(r.url).startswith(filled.url) for r in downloads)
    else:  # the two big files from the server's own signed files URL; the small ones came inline
        assert len(downloads) == 2
        assert all(r.url.path.startswith("/api/v1/files/") and "sig" in r.url.params for r in downloads)


def test_a_remote_export_to_a_directory_imports_back(filled: ServedRepo, tmp_path: Path) -> None:
    with filled.remote(filled.token("alice", ["read:u/alice/*"])) as alice:
        with pytest.raises(ConfigError, match="symlink"):
            alice.export(tmp_path / "e.yaml", collections="u/alice/run", directory=tmp_path / "f", transfer="symlink")
        report = alice.export(tmp_path / "out" / "export.yaml", collections="u/alice/run", directory=tmp_path / "files")
        assert report.artifacts == 4
        (ref,) = alice.query_datasets("big", collections="u/alice/run", where="visit = 2")
        expected = alice.get(ref)
    assert (tmp_path / "out" / "export.provenance.json").is_file()
    assert not list(tmp_path.rglob(".*.partial"))
    Butler.create(tmp_path / "dest")
    with Butler(tmp_path / "dest", writeable=True) as dest:
        dest.import_(tmp_path / "out" / "export.yaml", directory=tmp_path / "files", transfer="copy")
        two = {"instrument": "Cam", "visit": 2, "detector": 1}
        assert np.array_equal(dest.get("big", two, collections="u/alice/run"), expected)


def test_a_file_changed_on_the_server_leaves_no_archive(served_files: ServedRepo, tmp_path: Path) -> None:
    _put_some(served_files)
    with served_files.local() as local:
        (ref,) = local.query_datasets("big", collections="u/alice/run", where="visit = 1")
        stored = Path(local.get_uri(ref).removeprefix("file://"))
        before = snapshot(local)
    original = stored.read_bytes()
    with stored.open("r+b") as f:  # same size, other bytes: only the checksum can tell
        f.seek(BIG // 2)
        f.write(b"\xff")
    with served_files.remote() as admin:
        with pytest.raises(CorruptArtifactError, match="checksum"):
            admin.export(tmp_path / "x.zip", collections="u/alice/run")
        with pytest.raises(CorruptArtifactError, match="checksum"):
            admin.export(tmp_path / "x.yaml", collections="u/alice/run", directory=tmp_path / "files")
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == []  # no archive, document, or partial
    stored.write_bytes(original)
    with served_files.local() as local:  # an export changes nothing on the server
        assert snapshot(local) == before


def test_files_without_signed_urls_come_through_the_server_as_an_archive(
    tmp_path: Path, seen: list[httpx.Request]
) -> None:
    """The one place the server still sends files' bytes: storage that cannot sign a URL (fsspec's memory
    filesystem here, like any fsspec filesystem without signing), for a .zip export only."""
    import uuid

    from skybutler.butler import DirectButler
    from skybutler.server import ServerConfig, ServerThread
    from skybutler.testing.sample import populate_sample

    root = Butler.create(tmp_path / "repo", config={"datastore": {"root": f"fsspec+memory://{uuid.uuid4().hex}/"}})
    with DirectButler(root, writeable=True) as local:
        populate_sample(local)
        local.register_dataset_type("big", DIMS, "NumpyArray")
        ref = local.put(np.arange(BIG // 8), "big", {"instrument": "Cam", "visit": 1, "detector": 1}, run="u/run")
        local.export(tmp_path / "local.zip", collections="u/run")
        token = local.registry.tokens.create("admin", ["admin"])[0]
    with ServerThread(ServerConfig(root)) as server, Butler(server.url, token=token) as remote:
        assert isinstance(remote, RemoteButler)
        _watch(remote, seen)
        with pytest.raises(ConfigError, match=r"no signed URL.*\.zip"):
            remote.export(tmp_path / "e.yaml", collections="u/run", directory=tmp_path / "files")
        assert not (tmp_path / "e.yaml").exists()
        report = remote.export(tmp_path / "remote.zip", collections="u/run")
        assert report.datasets == 1
        assert np.array_equal(remote.get(ref), np.arange(BIG // 8))
    assert [r.url.path for r in seen if "/transfer/" in r.url.path] == [
        "/api/v1/transfer/export/files",
        "/api/v1/transfer/export/files",
        "/api/v1/transfer/export",
    ]
    remote_members, local_members = _members(tmp_path / "remote.zip"), _members(tmp_path / "local.zip")
    assert remote_members.keys() == local_members.keys()
    assert {k: v for k, v in remote_members.items() if k.startswith("u/")} == {
        k: v for k, v in local_members.items() if k.startswith("u/")
    }


def test_a_long_export_renews_its_urls_before_they_expire(
    request: pytest.FixtureRequest, tmp_path: Path, seen: list[httpx.Request]
) -> None:
    import time

    from skybutler.testing.server import served_repo

    with served_repo(request, tmp_path / "served", "sqlite-file", url_lifetime=2) as served:
        with served.remote(writeable=True) as admin:
            admin.register_dataset_type("big", DIMS, "NumpyArray")
            for v in (1, 2):  # larger than a chunk: streamed in turn, not fetched ahead
                admin.put(np.full(3 << 17, v), "big", {"instrument": "Cam", "visit": v, "detector": 1}, run="u/huge")
            _watch(admin, seen)

            def slow(stage: str, done: int, total: int | None) -> None:
                if stage == "files" and done == 1:
                    time.sleep(2.5)  # the other file's first URL has expired by now

            report = admin.export(tmp_path / "slow.zip", collections="u/huge", progress=slow)
        with served.local() as local:
            local.export(tmp_path / "local.zip", collections="u/huge")
    assert report.artifacts == 2
    assert "/api/v1/datasets/lookup" in [r.url.path for r in seen]  # renewed, with the read checks of a get
    assert _members(tmp_path / "slow.zip") == _members(tmp_path / "local.zip")


def test_many_small_files_fetched_ahead_land_in_order(served_files: ServedRepo, tmp_path: Path) -> None:
    with served_files.remote(writeable=True) as admin:
        admin.register_dataset_type("big", DIMS, "NumpyArray")
        admin.put_many([(np.full(BIG // 8, i), {"instrument": "Cam", "visit": i // 10, "detector": i % 10})
                        for i in range(20)], "big", run="u/many")  # fmt: skip
        report = admin.export(tmp_path / "remote.zip", collections="u/many")
        admin.export(tmp_path / "remote.yaml", collections="u/many", directory=tmp_path / "files")
    with served_files.local() as local:
        local.export(tmp_path / "local.zip", collections="u/many")
    assert report.artifacts == 20
    members = _members(tmp_path / "remote.zip")
    assert members == _members(tmp_path / "local.zip")
    for name, data in members.items():
        if name.startswith("u/"):
            assert (tmp_path / "files" / name).read_bytes() == data


def test_a_document_alone_is_exported_from_a_memory_datastore_but_not_an_archive(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from skybutler.errors import StorageError
    from skybutler.testing.server import served_repo

    with (
        served_repo(request, tmp_path / "served", "sqlite-file", datastore="memory") as served,
        served.remote(writeable=True) as admin,
    ):
        admin.register_dataset_type("meta", DIMS, "StructuredDataDict")
        admin.put({"v": 1}, "meta", {"instrument": "Cam", "visit": 1, "detector": 1}, run="u/mem")
        assert admin.export(tmp_path / "doc.yaml", collections="u/mem").datasets == 1  # no files wanted
        with pytest.raises(StorageError, match="held only in memory"):
            admin.export(tmp_path / "mem.zip", collections="u/mem")
    assert "u/mem" in (tmp_path / "doc.yaml").read_text()
    assert not (tmp_path / "mem.zip").exists()


def test_a_remote_import_takes_an_export_directory(filled: ServedRepo, tmp_path: Path) -> None:
    """The client packs the document, the files it names and its provenance into one upload; stray files stay."""
    with filled.remote(writeable=True) as admin:
        admin.export(tmp_path / "out" / "export.yaml", collections="u/alice/run", directory=tmp_path / "files")
        (ref,) = admin.query_datasets("big", collections="u/alice/run", where="visit = 2")
        expected = admin.get(ref)
        (tmp_path / "files" / "stray.txt").write_text("not named by the export")
        admin.collections.remove_runs(["u/alice/run"])
        with pytest.raises(ConfigError, match="symlink"):
            admin.import_(tmp_path / "out" / "export.yaml", directory=tmp_path / "files", transfer="symlink")
        report = admin.import_(tmp_path / "out" / "export.yaml", directory=tmp_path / "files", transfer="copy")
        assert report.datasets == 4
        two = {"instrument": "Cam", "visit": 2, "detector": 1}
        assert np.array_equal(admin.get("big", two, collections="u/alice/run"), expected)
    assert report.artifacts == 4  # the stray file was not sent
    if "://" not in filled.root:
        assert not list(Path(filled.root).rglob("stray.txt"))


def test_a_remote_import_of_a_directory_missing_a_file_uploads_nothing(filled: ServedRepo, tmp_path: Path) -> None:
    with filled.remote(writeable=True) as admin:
        admin.export(tmp_path / "export.yaml", collections="u/alice/run", directory=tmp_path / "files")
        admin.collections.remove_runs(["u/alice/run"])
        next(p for p in (tmp_path / "files").rglob("*") if p.is_file()).unlink()
        before = snapshot(admin)
        with pytest.raises(ArtifactNotFoundError, match="nothing was uploaded or imported"):
            admin.import_(tmp_path / "export.yaml", directory=tmp_path / "files")
        assert snapshot(admin) == before
