"""The per-user disk cache itself: off unless enabled, exact keys, failures to write ignored."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from skybutler import _disk_cache
from skybutler._disk_cache import DiskCache, source_digest


@pytest.fixture
def cache(user_cache: Path) -> DiskCache:
    return DiskCache("test", lambda: "v1", max_files=10)


def test_values_come_back_by_their_exact_key(cache: DiskCache) -> None:
    cache.save("a key", {"value": [1, 2]})
    assert cache.load("a key") == {"value": [1, 2]}
    assert cache.load("a key ") is None
    folder = cache.folder()
    assert folder is not None
    assert folder.name == "test-v1"
    assert folder.stat().st_mode & 0o777 == 0o700


def test_nothing_is_read_or_written_when_disabled(cache: DiskCache) -> None:
    _disk_cache.enable(False)
    cache.save("k", 1)
    assert cache.load("k") is None
    assert cache.folder() is None


def test_a_value_that_cannot_be_pickled_is_not_kept(cache: DiskCache) -> None:
    cache.save("k", threading.Lock())
    assert cache.load("k") is None
    folder = cache.folder()
    assert folder is not None
    assert list(folder.iterdir()) == []  # no partial file left behind


def test_no_code_digest_means_no_cache(tmp_path: Path, cache: DiskCache) -> None:
    assert source_digest(["no_such_module_here"]) is None
    uncached = DiskCache("other", lambda: None)
    uncached.save("k", 1)
    assert uncached.load("k") is None
    assert source_digest(["skybutler._disk_cache"]) == source_digest(["skybutler._disk_cache"])
    assert source_digest(["skybutler._disk_cache"]) != source_digest(["skybutler._disk_cache"], [b"more"])
