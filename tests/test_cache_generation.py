"""Caches stay right when another butler (or process) removes and re-creates collections (DESIGN §6)."""

from __future__ import annotations

from skybutler.butler import Butler
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
