"""Caches stay right when another butler (or process) removes and re-creates collections (DESIGN §6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybutler.butler import DirectButler
from skybutler.errors import StorageError
from skybutler.testing.sample import populate_sample


def test_a_run_removed_and_recreated_elsewhere_is_seen(repo: str) -> None:
    with DirectButler(repo, run="r") as first, DirectButler(repo, run="elsewhere", writeable=True) as second:
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


def test_a_put_whose_path_cannot_be_made_fails_before_registering_even_after_a_change_elsewhere(
    repo: str,
) -> None:
    """A retry is for a stale run.  A put whose final path cannot be claimed fails before it registers anything
    (the claim comes first), so it says what blocks it, and the same put succeeds once that is gone."""
    with DirectButler(repo, run="r") as first, DirectButler(repo, writeable=True) as second:
        populate_sample(first)
        first.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        first.put({"x": 1}, "meta", instrument="Cam", visit=1, detector=1)
        blocker = Path(first.datastore.files().transport.local_path("r/meta/Cam/2"))  # the next put's folder
        blocker.write_text("in the way")
        first.put({"x": 0}, "meta", instrument="Cam", visit=1, detector=1, run="old")
        assert second.collections.remove_runs(["old"]) == 1  # the collections' generation moves
        with pytest.raises(StorageError, match="Not a directory"):
            first.put({"x": 2}, "meta", instrument="Cam", visit=1, detector=2)
        assert first.find_dataset("meta", instrument="Cam", visit=1, detector=2) is None
        blocker.unlink()
        first.put({"x": 2}, "meta", instrument="Cam", visit=1, detector=2)
        assert first.get("meta", instrument="Cam", visit=1, detector=2) == {"x": 2}
