"""Test configuration: the shipped skybutler fixtures, and the per-user disk cache in a temporary folder."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler import _bytecode, _disk_cache

pytest_plugins = ["skybutler.testing.fixtures"]


@pytest.fixture
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The per-user disk cache turned on (as the command line does), in a fresh folder: ``<tmp>/skybutler``."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SKYBUTLER_NO_CACHE", raising=False)
    _disk_cache.enable()
    try:
        yield tmp_path / "skybutler"
    finally:
        _disk_cache.enable(False)


@pytest.fixture(autouse=True)
def _disk_cache_off_after_each_test() -> Iterator[None]:
    """A test that runs the command line's main() in-process turns the disk cache (and its bytecode finder) on
    and freezes the garbage collector's objects; the next test starts with neither."""
    yield
    _disk_cache.enable(False)
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _bytecode.Finder)]
    gc.unfreeze()  # the command line's main() freezes what exists when it ends (a process of its own would exit)
