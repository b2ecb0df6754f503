"""The local cache of remote reads: hits read nothing remote, verification on download, per-type policy,
the size bound, and two processes sharing one cache directory."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.datastore import FileDatastore
from skybutler.errors import CorruptArtifactError, StorageError
from skybutler.testing.sample import populate_sample
from skybutler.transports._s3 import S3Transport

pytestmark = pytest.mark.s3

DIMS = ["instrument", "visit", "detector"]


def _data_id(visit: int) -> dict[str, Any]:
    return {"instrument": "Cam", "visit": visit, "detector": 1}


@pytest.fixture
def repo(tmp_path: Path, s3_root: str, s3_endpoint: str) -> str:
    root = Butler.create(
        tmp_path / "repo",
        datastore=s3_root,
        config={"datastore": {"transport": {"endpoint_url": s3_endpoint}}},
    )
    with DirectButler(root, run="run1") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.register_dataset_type("arr", DIMS, "NumpyArray")
        butler.put_many([({"v": v}, _data_id(v)) for v in range(10)], "meta")
        butler.put_many([(np.full(10_000, v, "f8"), _data_id(v)) for v in range(10)], "arr")
    return root


def _open(repo: str, cache_dir: Path, **cache: Any) -> DirectButler:
    return DirectButler(
        repo, collections="run1", config={"datastore": {"cache": {"directory": str(cache_dir), **cache}}}
    )


def _s3(butler: DirectButler) -> S3Transport:
    transport = butler.datastore.files().transport
    assert isinstance(transport, S3Transport)
    return transport


def _cache(butler: DirectButler) -> Any:
    assert isinstance(butler.datastore, FileDatastore)
    assert butler.datastore.cache is not None
    return butler.datastore.cache


def test_a_second_read_comes_from_the_cache(repo: str, tmp_path: Path) -> None:
    with _open(repo, tmp_path / "cache") as butler:
        assert butler.get("arr", _data_id(3))[0] == 3
        remote = _s3(butler).bytes_read
        assert butler.get("arr", _data_id(3))[0] == 3
        assert _s3(butler).bytes_read == remote
        assert (_cache(butler).hits, _cache(butler).misses) == (1, 1)
        assert _cache(butler).status().files == 1


def test_the_cache_policy_is_per_dataset_type(repo: str, tmp_path: Path) -> None:
    with _open(repo, tmp_path / "cache", default=False, dataset_types={"arr": True}) as butler:
        butler.get("meta", _data_id(1))
        butler.get("arr", _data_id(1))
        butler.get("meta", _data_id(1))
        assert (_cache(butler).hits, _cache(butler).misses) == (0, 1)


def test_a_corrupt_download_is_refused_and_not_cached(repo: str, tmp_path: Path) -> None:
    with _open(repo, tmp_path / "cache") as butler:
        key = butler.get_uri("meta", _data_id(2))[len(_s3(butler).root) :]
        _s3(butler).put(key, _s3(butler).get(key).replace(b"2", b"5"))
        with pytest.raises(CorruptArtifactError, match="is corrupt"):
            butler.get("meta", _data_id(2))
        assert _cache(butler).status().files == 0
        assert not list((tmp_path / "cache").rglob(".tmp-*"))


def test_the_cache_stays_within_its_size_bound(repo: str, tmp_path: Path) -> None:
    with _open(repo, tmp_path / "cache", max_bytes=250_000) as butler:  # room for three 80 kB arrays
        for v in range(10):
            butler.get("arr", _data_id(v))
        status = _cache(butler).status()
        assert status.bytes <= 250_000
        assert status.files == 3
        butler.get("arr", _data_id(9))  # the most recent one was kept
        assert _cache(butler).hits == 1
        assert _cache(butler).clear() == 3
        assert _cache(butler).status().files == 0


def test_the_cache_folder_is_listed_once_not_on_every_miss(repo: str, tmp_path: Path) -> None:
    # issue 19: each miss listed (and stat'ed) the whole cache folder to decide on eviction
    with _open(repo, tmp_path / "cache", max_bytes=10_000_000) as butler:
        for v in range(10):
            butler.get("meta", _data_id(v))
        cache = _cache(butler)
        assert cache.misses == 10
        assert cache.listings == 1
        assert cache.status().files == 10


def test_a_failed_eviction_leaves_no_cached_file_open(repo: str, tmp_path: Path) -> None:
    # issue 19: when eviction failed, the stream of the file just downloaded was left open
    import os

    cache_dir = tmp_path / "cache"
    (cache_dir / ".lock").mkdir(parents=True)  # the eviction lock cannot be taken: a real failure
    expected = r"read cache .* could not be kept within its bound"
    with _open(repo, cache_dir) as butler, pytest.raises(StorageError, match=expected):
        butler.get("meta", _data_id(1))
    fds = Path(f"/proc/{os.getpid()}/fd")
    open_files = [str(fd.readlink()) for fd in fds.iterdir() if fd.is_symlink()]
    assert not [f for f in open_files if f.startswith(str(cache_dir))], open_files


def _read_all(repo: str, cache_dir: str, rounds: int) -> list[float]:
    with _open(repo, Path(cache_dir), max_bytes=400_000) as butler:
        return [float(butler.get("arr", _data_id(v))[0]) for _ in range(rounds) for v in range(10)]


def test_two_processes_share_one_cache_directory(repo: str, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = pool.starmap(_read_all, [(repo, str(cache_dir), 5), (repo, str(cache_dir), 5)])
    assert results == [[float(v) for _ in range(5) for v in range(10)]] * 2
    files = [p for p in cache_dir.rglob("*") if p.is_file() and p.name != ".lock"]
    assert not [p for p in files if p.name.startswith(".tmp-")]
    assert sum(p.stat().st_size for p in files) <= 400_000


@pytest.fixture
def local_butler(tmp_path: Path) -> Iterator[DirectButler]:
    root = Butler.create(tmp_path / "local")
    with DirectButler(root, config={"datastore": {"cache": {"directory": str(tmp_path / "cache")}}}) as butler:
        yield butler


def test_local_files_are_never_cached(local_butler: DirectButler) -> None:
    assert isinstance(local_butler.datastore, FileDatastore)
    assert local_butler.datastore.cache is None
