"""Bulk ingest of N small files (the W1 ``meta`` dicts as YAML) against a loop of put, and the reference butler.

Usage::

    python benchmarks/ingest.py [--n 1000] [--repeat 3] [--no-reference]

Steps on skybutler (fresh SQLite repository, one run per step): ``put_loop`` (N puts, one call each),
``put_many`` (one call), ``ingest_<mode>`` for direct / copy / hardlink / symlink (``direct`` records each
file's size only, the default), ``ingest_direct_checksum`` (``checksum=True``: every direct file read for
its checksum), and ``reingest_skip`` (the direct ingest again with deterministic IDs: every file skipped).
Each ingest step runs ``--repeat`` times (into a new run each time); the best wall time is reported, with
the best CPU time (all threads) beside it -- the machine is shared, so CPU time is the steadier figure.
Baselines: the same files copied with ``open``/``read``/``write`` and hard-linked with ``os.link``.  File
creation on this kind of machine varies several-fold within minutes (the kernel's write-back of earlier
files), so the copy ingest is also compared with a plain copy of the same files made right after each of
its rounds (``plain_copy_beside``, into a new folder each time): the printed ratio pairs each round with its
own plain copy.  Beside it, ``staged_copy_beside`` is the file work of the put protocol alone (DESIGN
invariant 2) with no registry: the same files copied into one staging folder, then renamed into one folder
per visit, as the datastore lays them out -- the floor a safe copy ingest can reach.  With
``lsst-daf-butler`` installed, its ingest (direct, copy) runs in the same invocation on the same kind of files.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import yaml

from _common import N_DETECTORS, Step, check, has_reference, meta_payload, report, timed, untimed
from skybutler import Butler, DatasetRef
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


def _best(
    name: str,
    n: int,
    repeat: int,
    files: Callable[[], list[FileDataset]],
    body: Callable[[int, list[FileDataset]], list[DatasetRef]],
    answer: Callable[[list[DatasetRef]], None],
    into: list[Step],
    beside: Callable[[int, list[Step]], None] | None = None,
) -> None:
    """Time ``body(r, files())`` ``repeat`` times as step ``name`` (the inputs are made, and the answer checked,
    off the clock); keep the best wall time and, beside it, the best CPU time.  ``beside(r, steps)``, if
    given, runs (and times itself) after each round."""
    tries: list[Step] = []
    for r in range(repeat):
        batch = files()
        with timed(name, n, tries) as step:
            refs = body(r, batch)
        with untimed(step):
            answer(refs)
        if beside is not None:
            beside(r, tries)
    for group in dict.fromkeys(t.name for t in tries):
        same = [t for t in tries if t.name == group]
        failed = [t for t in same if not t.ok]
        if failed:
            into.append(failed[0])
            continue
        best = min(same, key=lambda t: t.seconds)
        best.cpu_seconds = min(t.cpu_seconds for t in same)
        into.append(best)
    if beside is not None:
        for baseline in dict.fromkeys(t.name for t in tries if t.name != name):
            _pair_ratios(tries, name, baseline)


def _pair_ratios(tries: list[Step], name: str, baseline: str) -> None:
    """Print each round's time of ``name`` over the ``baseline`` step timed right after it (rounds alternate)."""
    ours = [t.seconds for t in tries if t.name == name]
    plain = [t.seconds for t in tries if t.name == baseline]
    ratios = sorted(a / b for a, b in zip(ours, plain, strict=True) if b > 0)
    if ratios:
        print(f"{name} / {baseline} of the same round: median {ratios[len(ratios) // 2]:.2f}, "
              f"range {ratios[0]:.2f}-{ratios[-1]:.2f} over {len(ratios)} rounds")  # fmt: skip


def _copy_all(paths: list[Path], out: Path) -> None:
    """The plain copy: each file read and written with ``open``/``read``/``write`` into ``out``."""
    for path in paths:
        with open(path, "rb") as src, open(out / path.name, "wb") as dst:
            dst.write(src.read())


def _staged_copy_all(paths: list[Path], data_ids: list[dict[str, str | int]], out: Path) -> None:
    """The put protocol's file work alone: copy each file into ``out/staging``, then rename it into its visit's
    folder (made once per visit), as a copy ingest does around its registry transaction."""
    staging = out / "staging"
    staging.mkdir(parents=True)
    for path in paths:
        with open(path, "rb") as src, open(staging / path.name, "wb") as dst:
            dst.write(src.read())
    made: set[Path] = set()
    for path, data_id in zip(paths, data_ids, strict=True):
        folder = out / "ing" / str(data_id["visit"])
        if folder not in made:
            folder.mkdir(parents=True)
            made.add(folder)
        (staging / path.name).replace(folder / path.name)


def run_skybutler(root: Path, n: int, repeat: int = 1) -> list[Step]:
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

        def files() -> list[FileDataset]:
            return _files(paths, data_ids)

        def reads_back(refs: list[DatasetRef]) -> None:
            check(len(refs) == n and butler.get(refs[-1]) == payloads[-1], "ingest: wrong refs or read back wrong")

        def ingest(mode: str, checksum: bool | None = None) -> Callable[[int, list[FileDataset]], list[DatasetRef]]:
            def body(r: int, batch: list[FileDataset]) -> list[DatasetRef]:
                return butler.ingest(*batch, transfer=mode, run=f"ingest_{mode}_{checksum}_{r}",
                                     id_mode="deterministic", checksum=checksum)  # fmt: skip

            return body

        def plain_copy(r: int, tries: list[Step]) -> None:
            out = root / f"plain_copy_{r}"
            out.mkdir()
            with timed("plain_copy_beside", n, tries):
                _copy_all(paths, out)
            with timed("staged_copy_beside", n, tries):
                _staged_copy_all(paths, data_ids, root / f"staged_copy_{r}")

        for mode in ("direct", "copy", "hardlink", "symlink"):
            _best(f"ingest_{mode}", n, repeat, files, ingest(mode), reads_back, steps,
                  plain_copy if mode == "copy" else None)  # fmt: skip
        _best("ingest_direct_checksum", n, repeat, files, ingest("direct", checksum=True), reads_back, steps)

        def reingest(_r: int, batch: list[FileDataset]) -> list[DatasetRef]:
            return butler.ingest(*batch, transfer="direct", run="ingest_direct_None_0", id_mode="deterministic",
                                 skip_existing=True)  # fmt: skip

        _best("reingest_skip", n, repeat, files, reingest, reads_back, steps)
    return steps


def run_baselines(root: Path, n: int) -> list[Step]:
    """Copy (read + write) and hard-link the same N files with the standard library."""
    steps: list[Step] = []
    paths, _ = _write_inputs(root / "inputs", n)
    copies, links = root / "copies", root / "links"
    copies.mkdir()
    links.mkdir()
    with timed("plain_copy", n, steps):
        _copy_all(paths, copies)
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
    parser.add_argument("--repeat", type=int, default=3, help="runs of each ingest step (best reported)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference butler")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ingest_") as tmp:
        ours = run_skybutler(Path(tmp) / "skybutler", args.n, args.repeat)
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
