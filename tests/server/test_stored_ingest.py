"""Ingest of files already in the server's datastore storage (``transfer="stored"``): no upload, and nothing
outside the datastore root, none of the repository's own files and no other dataset's file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler.errors import ArtifactNotFoundError, PermissionDeniedError
from skybutler.testing.butler import snapshot
from skybutler.testing.server import BACKENDS, ServedRepo, served_repo
from skybutler.transfer import FileDataset

DIMS = ["instrument", "visit", "detector"]
ONE = {"instrument": "Cam", "visit": 1, "detector": 1}
ALICE = ["read:u/alice/*", "write:u/alice/*"]


@pytest.fixture
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedRepo]:
    with served_repo(request, tmp_path / "served", "sqlite-file") as served:
        with served.remote(writeable=True) as admin:
            admin.register_dataset_type("meta", DIMS, "StructuredDataDict")
            admin.put({"who": "bob"}, "meta", ONE, run="u/bob/run1")
        yield served


def _meta(path: str | Path, visit: int = 2) -> FileDataset:
    return FileDataset(path, dataset_type="meta", data_id={**ONE, "visit": visit}, formatter="json")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_file_in_the_datastore_storage_is_ingested_without_an_upload(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    with served_repo(request, tmp_path, backend) as served:
        with served.remote(writeable=True) as admin:
            admin.register_dataset_type("meta", DIMS, "StructuredDataDict")
        with served.local() as local:
            transport = local.datastore.files("test").transport
            transport.put("incoming/a.json", json.dumps({"v": 1}).encode())
            transport.put("incoming/b.json", json.dumps({"v": 2}).encode())
            absolute = transport.uri("incoming/b.json")
        with served.remote(served.token("alice", ALICE), run="u/alice/run1") as alice:
            (a,) = alice.ingest(_meta("incoming/a.json"), transfer="stored")
            (b,) = alice.ingest(_meta(absolute, visit=3), transfer="stored")  # a URI under the root
            assert [alice.get(a), alice.get(b)] == [{"v": 1}, {"v": 2}]
            with pytest.raises(PermissionDeniedError, match="u/bob/run2"):
                alice.ingest(_meta("incoming/a.json", visit=4), transfer="stored", run="u/bob/run2")
        if backend == "sqlite-file":  # registered where it is (auto, in the root): no copy
            assert (Path(served.root) / "incoming" / "a.json").exists()
            with served.local() as local:
                assert local.get_uri(a).endswith("/incoming/a.json")
        assert not list((Path(served.root) / ".pending").glob("upload-*"))


def test_paths_outside_the_root_the_repository_files_and_other_datasets_files_are_refused(
    repo: ServedRepo, tmp_path: Path
) -> None:
    root = Path(repo.root)
    (tmp_path / "outside.json").write_text('{"secret": 1}')
    (root / "incoming").mkdir()
    (root / "incoming" / "link.json").symlink_to(tmp_path / "outside.json")
    with repo.local() as local:
        (bobs,) = local.query_datasets("meta", collections="u/bob/run1")
        bobs_file = local.get_uri(bobs).removeprefix("file://")
    refused = [
        "../outside.json",
        "incoming/../../outside.json",
        str(tmp_path / "outside.json"),
        (tmp_path / "outside.json").as_uri(),
        "file:///etc/passwd",
        "butler.yaml",
        ".pending/x.json",
        "incoming/link.json",  # inside the root, but a link out of it
        bobs_file,  # another dataset's file (bob's run, which alice may not even read)
        Path(bobs_file).relative_to(root.resolve()).as_posix(),
    ]
    with repo.remote(repo.token("alice", ALICE), run="u/alice/run1") as alice:
        with repo.local() as local:
            before = snapshot(local)
        for path in refused:
            with pytest.raises(PermissionDeniedError, match="Refused path"):
                alice.ingest(_meta(path), transfer="stored")
        with pytest.raises(ArtifactNotFoundError, match="nothing was ingested"):
            alice.ingest(_meta("incoming/missing.json"), transfer="stored")
    with repo.local() as local:
        assert snapshot(local) == before
