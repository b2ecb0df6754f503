"""Files leave the server in chunks: a transfer out of it and `retrieve_artifacts` hold one chunk in memory,
not the whole file, and check size and checksum on the stream (issue 20, part 3)."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from skybutler import Butler
from skybutler.client._transfer_source import RemoteSource
from skybutler.errors import CorruptArtifactError
from skybutler.testing.butler import snapshot
from skybutler.testing.server import ServedRepo

ONE = {"instrument": "Cam", "visit": 1, "detector": 1}
CHUNK = 64 * 1024
SIZE = 4 << 20  # 64 chunks


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_transfer_from_the_server_streams_a_file_larger_than_the_chunk(
    served: ServedRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RemoteSource, "chunk", CHUNK)
    data = np.random.default_rng(7).integers(0, 255, size=SIZE, dtype=np.uint8)
    with served.remote(writeable=True) as admin:
        admin.register_dataset_type("big", ["instrument", "visit", "detector"], "NumpyArray")
        ref = admin.put(data, "big", ONE, run="u/big")
        (served_copy,) = admin.retrieve_artifacts([ref], tmp_path / "retrieved")
    with served.local() as local:
        on_files = local.get_uri(ref).startswith("file://")
    Butler.create(tmp_path / "dest")
    with Butler(tmp_path / "dest", writeable=True) as dest, served.remote() as remote:
        source = remote._transfer_source()
        assert isinstance(source, RemoteSource)
        artifact = source.describe([ref], records=False, collections=None).artifacts[ref.id]
        assert artifact.size > SIZE
        tracemalloc.start()
        try:
            with source.open(artifact) as fetched:
                peak = tracemalloc.get_traced_memory()[1]
                assert fetched.size == artifact.size
                assert _digest(Path(str(fetched.local))) == _digest(Path(served_copy))
                folder = Path(str(fetched.local)).parent
        finally:
            tracemalloc.stop()
        assert not folder.exists()  # the temporary copy goes with the block
        if on_files:  # moto keeps S3 objects in this process: its copies would count
            assert peak < SIZE // 4, f"peak {peak} bytes for a {artifact.size}-byte file"
        (done,) = dest.transfer_from(remote, [ref])
        assert np.array_equal(dest.get(done), data)
        assert Path(served_copy).stat().st_size == artifact.size


def test_a_large_file_changed_on_the_server_is_refused_on_the_stream(
    served_files: ServedRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RemoteSource, "chunk", CHUNK)
    data = np.arange(SIZE // 8, dtype=np.int64)
    with served_files.remote(writeable=True) as admin:
        admin.register_dataset_type("big", ["instrument", "visit", "detector"], "NumpyArray")
        ref = admin.put(data, "big", ONE, run="u/big")
    with served_files.local() as local:
        stored = Path(local.get_uri(ref).removeprefix("file://"))
    with stored.open("r+b") as f:  # one byte in the middle, same size: only the checksum can tell
        f.seek(SIZE // 2)
        f.write(b"\xff")
    Butler.create(tmp_path / "dest")
    with Butler(tmp_path / "dest", writeable=True) as dest, served_files.remote() as remote:
        before = snapshot(dest)
        with pytest.raises(CorruptArtifactError, match="checksum"):
            dest.transfer_from(remote, [ref])
        assert snapshot(dest) == before
        with pytest.raises(CorruptArtifactError, match="checksum"):
            remote.retrieve_artifacts([ref], tmp_path / "retrieved")
        assert [p for p in (tmp_path / "retrieved").rglob("*") if p.is_file()] == []
