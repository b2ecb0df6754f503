"""Bulk ingest of N small files (the W1 ``meta`` dicts as YAML) against a loop of put, and the reference butler.

Usage::

    python benchmarks/ingest.py [--n 1000] [--no-reference]

Steps on skybutler (fresh SQLite repository, one run per step): ``put_loop`` (N puts, one call each),
``put_many`` (one call), ``ingest_<mode>`` for direct / copy / hardlink / symlink, ``ingest_direct_nosum``
(checksums off), and ``reingest_skip`` (the direct ingest again with deterministic IDs: every file skipped).
Baselines: the same files copied with ``open``/``read``/``write`` and hard-linked with ``os.link``.  With
``lsst-daf-butler`` installed, its ingest (direct, copy) runs in the same invocation on the same kind of files.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import yaml

from _common import N_DETECTORS, Step, check, has_reference, meta_payload, report, timed
from skybutler import Butler
from skybutler.testing.sample import populate_sample
from skybutler.transfer import FileDataset


def _write_inputs(directory: Path, n: int) -> tuple[list[Path], list[dict[str, str | int]]]:
    directory.mkdir(parents=True, exist_ok=True)
    data_ids: list[dict[str, str | int]] = [
        {"instrument": "Cam", "visit": i // N_DETECTORS, "detector": i % N_DETECTORS} for i in range(n)
    ]
    paths = []
    for i, data_id in enumerate(data_ids):
        path = directory / f"ing_{data_id['visit']}_{data_id['detector']}.yaml"
        path.write_text(yaml.safe_dump(meta_payload(i)))
        paths.append(path)
    return paths, data_ids


def _files(paths: list[Path], data_ids: list[dict[str, str | int]]) -> list[FileDataset]:
    return [
        FileDataset(p, dataset_type="ing", data_id=d, formatter="yaml") for p, d in zip(paths, data_ids, strict=True)
    ]


def run_skybutler(root: Path, n: int) -> list[Step]:
    """The skybutler steps; files under ``root / "inputs"``, repository ``root / "repo"`` (SQLite registry)."""
    steps: list[Step] = []
    paths, data_ids = _write_inputs(root / "inputs", n)
    Butler.create(root / "repo")
    with Butler(root / "repo", run="put") as butler:
        populate_sample(butler, n_visits=n // N_DETECTORS + 1, n_detectors=N_DETECTORS)
        butler.register_dataset_type("ing", ["instrument", "visit", "detector"], "StructuredDataDict")
        payloads = [meta_payload(i) for i in range(n)]
        with timed("put_loop", n, steps):
            for payload, data_id in zip(payloads, data_ids, strict=True):
                butler.put(payload, "ing", data_id)
        with timed("put_many", n, steps):
            butler.put_many(list(zip(payloads, data_ids, strict=True)), "ing", run="put_many")

        for mode in ("direct", "copy", "hardlink", "symlink"):
            batch = _files(paths, data_ids)
            with timed(f"ingest_{mode}", n, steps):
                refs = butler.ingest(*batch, transfer=mode, run=f"ingest_{mode}", id_mode="deterministic")
            check(butler.get(refs[-1]) == payloads[-1], f"ingest {mode}: read back wrong")
        batch = _files(paths, data_ids)
        with timed("reingest_skip", n, steps):
            refs = butler.ingest(*batch, transfer="direct", run="ingest_direct", id_mode="deterministic",
                                 skip_existing=True)  # fmt: skip
        check(len(refs) == n, "re-ingest returned the wrong refs")
    with Butler(root / "repo", run="nosum", config={"datastore": {"checksum": "none"}}) as butler:
        batch = _files(paths, data_ids)
        with timed("ingest_direct_nosum", n, steps):
            butler.ingest(*batch, transfer="direct")
    return steps


def run_baselines(root: Path, n: int) -> list[Step]:
    """Copy (read + write) and hard-link the same N files with the standard library."""
    steps: list[Step] = []
    paths, _ = _write_inputs(root / "inputs", n)
    copies, links = root / "copies", root / "links"
    copies.mkdir()
    links.mkdir()
    with timed("plain_copy", n, steps):
        for path in paths:
            with open(path, "rb") as src, open(copies / path.name, "wb") as dst:
                dst.write(src.read())
    with timed("plain_link", n, steps):
        for path in paths:
            os.link(path, links / path.name)
    return steps


def run_reference(root: Path, n: int) -> list[Step]:
    """The reference butler's ingest (direct, copy) of the same kind of files, via the W1 reference runner."""
    from w1_reference import _ReferenceW1

    runner = _ReferenceW1(root, n, (None, None))
    with ExitStack() as stack:
        butler = runner._create(stack)
        if butler is None:
            return runner.steps
        runner._dimension_records(butler)
        runner._register(butler)
        runner._ingest(butler)
    return [s for s in runner.steps if s.name.startswith("ingest_")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1000, help="number of files (a multiple of 10)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference butler")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ingest_") as tmp:
        ours = run_skybutler(Path(tmp) / "skybutler", args.n)
        report("skybutler", args.n, ours, registry="sqlite")
        report("baseline", args.n, run_baselines(Path(tmp) / "baseline", args.n))
        theirs: list[Step] = []
        if not args.no_reference and has_reference():
            theirs = run_reference(Path(tmp) / "reference", args.n)
            report("lsst-daf-butler", args.n, theirs)
    by_name = {s.name: s for s in ours}
    for step in theirs:
        mine = by_name.get(step.name)
        if mine is not None and mine.ok and step.ok and mine.ms_per_op:
            print(f"{step.name}: reference {step.ms_per_op:.3f} ms/file, skybutler {mine.ms_per_op:.3f} ms/file, "
                  f"ratio {step.ms_per_op / mine.ms_per_op:.1f}")  # fmt: skip
    return 0 if all(s.ok for s in ours) else 1


if __name__ == "__main__":
    sys.exit(main())
