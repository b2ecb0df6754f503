"""Caches stay right when another butler (or process) removes and re-creates collections (DESIGN §6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybutler.butler import Butler
from skybutler.errors import StorageError
from skybutler.testing.sample import populate_sample


def test_a_run_removed_and_recreated_elsewhere_is_seen(repo: str) -> None:
    with Butler(repo, run="r") as first, Butler(repo, run="elsewhere", writeable=True) as second:
        populate_sample(first)
        first.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        first.put({"x": 1}, "meta", instrument="Cam", visit=1, detector=1)
        assert second.collections.remove_runs(["r"]) == 1
        second.put({"x": 2}, "meta", instrument="Cam", visit=1, detector=1, run="r")  # a new run named r
        # `first` cached the old run's id: its lookup misses, notices the generation moved, and looks again.
        assert first.get("meta", instrument="Cam", visit=1, detector=1) == {"x": 2}
        ref = first.put({"x": 3}, "meta", instrument="Cam", visit=2, detector=1)
        assert second.get(ref) == {"x": 3}
        assert first.registry.collections.generation == second.registry.collections.read_generation()


def test_a_put_whose_file_cannot_be_moved_in_is_not_retried_after_a_change_elsewhere(
    repo: str,
) -> None:
    """A retry is for a stale run.  A put registered before its file failed to move into place must say to run
    reconcile, not try again (which could only conflict with the dataset it just registered)."""
    with Butler(repo, run="r") as first, Butler(repo, writeable=True) as second:
        populate_sample(first)
        first.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        first.put({"x": 1}, "meta", instrument="Cam", visit=1, detector=1)
        blocker = Path(first.datastore.files().transport.local_path("r/meta/Cam/2"))  # the next put's folder
        blocker.write_text("in the way")
        first.put({"x": 0}, "meta", instrument="Cam", visit=1, detector=1, run="old")
        assert second.collections.remove_runs(["old"]) == 1  # the collections' generation moves
        with pytest.raises(StorageError, match="reconcile"):
            first.put({"x": 2}, "meta", instrument="Cam", visit=1, detector=2)
        blocker.unlink()
        report = first.reconcile(grace_seconds=0)
        assert len(report.promoted) == 1
        assert first.get("meta", instrument="Cam", visit=1, detector=2) == {"x": 2}
