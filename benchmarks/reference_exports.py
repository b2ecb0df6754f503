"""Import speed of the reference butler's own exports, and of a generated large one (issue 21's targets).

Usage::

    python benchmarks/reference_exports.py [--n 100000] [--repeat 3] [--no-reference]

Times ``butler.import_`` on SQLite (a fresh repository each time; the best of ``--repeat`` runs, wall and CPU)
of:

* ``hsc-rc2-subset-v0.yaml`` (universe 0, plain YAML timestamps; target ≤ 1 s);
* ``ci_hsc-subset.yaml`` (51 kB, 33 ``ExposureF`` datasets) after its skymap file (untimed; target ≤ 100 ms);
* an export of ``--n`` datasets (``n / 100`` visits x 100 detectors, registry only) written by skybutler from a
  repository built for it (target ≤ 2 s for 100 000).

Where ``lsst-daf-butler`` is installed, the reference imports the two shipped files in the same run (registry
only, ``without_datastore=True``) and the ratios are printed.  The shipped files are the copies in
``tests/transfer/data/registry_data`` (see PROVENANCE.md there).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import has_reference

DATA = Path(__file__).parents[1] / "tests" / "transfer" / "data" / "registry_data"
N_DETECTORS = 100


def best(repeat: int, run: Callable[[Path], float]) -> float:
    """The fastest of ``repeat`` runs of ``run`` (each in a fresh folder), in seconds."""
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as work:
            times.append(run(Path(work)))
    return min(times)


def ours(
    files: list[str], timed: str, *, directory: Path | None = None, cpu: list[float] | None = None
) -> Callable[[Path], float]:
    """Import ``files`` in order into a new SQLite repository; return the seconds of the ``timed`` one.

    The CPU seconds of the timed import (``time.process_time``: every thread) are appended to ``cpu``.
    """

    def run(work: Path) -> float:
        from skybutler import Butler

        Butler.create(work / "repo")
        with Butler(work / "repo", writeable=True) as butler:
            seconds = 0.0
            for name in files:
                path = directory / name if directory else DATA / name
                started, cpu_started = time.perf_counter(), time.process_time()
                butler.import_(path)
                if name == timed:
                    seconds = time.perf_counter() - started
                    if cpu is not None:
                        cpu.append(time.process_time() - cpu_started)
        return seconds

    return run


def reference(files: list[str], timed: str) -> Callable[[Path], float]:
    """The same with the reference butler (registry only)."""

    def run(work: Path) -> float:
        from lsst.daf.butler import Butler as ReferenceButler

        ReferenceButler.makeRepo(str(work / "ref"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            butler = ReferenceButler.from_config(str(work / "ref"), writeable=True)
            seconds = 0.0
            for name in files:
                started = time.perf_counter()
                butler.import_(filename=str(DATA / name), without_datastore=True)
                if name == timed:
                    seconds = time.perf_counter() - started
            butler.close()
        return seconds

    return run


def generated_export(n: int, folder: Path) -> Path:
    """An export of ``n`` registry-only datasets written by skybutler (records included)."""
    from skybutler import Butler
    from skybutler.registry import NewDataset

    n_visits = max(1, n // N_DETECTORS)
    Butler.create(folder / "source")
    with Butler(folder / "source", writeable=True) as butler:
        records: dict[str, list[dict[str, Any]]] = {
            "instrument": [{"name": "Cam", "visit_max": 10**7, "detector_max": N_DETECTORS}],
            "physical_filter": [{"instrument": "Cam", "name": "Cam-r", "band": "r"}],
            "day_obs": [{"instrument": "Cam", "id": 20250101}],
            "detector": [{"instrument": "Cam", "id": d, "full_name": f"S{d:03d}"} for d in range(N_DETECTORS)],
            "visit": [{"instrument": "Cam", "id": v, "name": f"v{v}", "physical_filter": "Cam-r", "day_obs": 20250101}
                      for v in range(n_visits)],
        }  # fmt: skip
        butler.registry.insert_dimension_records("band", [{"name": "r"}])
        for element, rows in records.items():
            butler.registry.insert_dimension_records(element, rows)
        butler.register_dataset_type("calexp", ["visit", "detector"], "ExposureF")
        butler.registry.register_run("big/run")
        stored = butler.registry.dataset_types.get("calexp")
        run = butler.registry.collections.get("big/run")
        new = [NewDataset(uuid.uuid4(), ("Cam", i % N_DETECTORS, i // N_DETECTORS), None) for i in range(n)]
        butler.registry.datasets.insert(stored, run.id, new)
        path = folder / "big.yaml"
        butler.export(path, collections="big/run")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="datasets in the generated export")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-reference", action="store_true", help="skip the reference butler")
    args = parser.parse_args()
    cases = {
        "hsc-rc2-subset-v0": (["hsc-rc2-subset-v0.yaml"], "hsc-rc2-subset-v0.yaml", 1.0),
        "ci_hsc-subset": (["ci_hsc-subset-skymap.yaml", "ci_hsc-subset.yaml"], "ci_hsc-subset.yaml", 0.1),
    }
    results: dict[str, Any] = {}
    with_reference = has_reference() and not args.no_reference
    for name, (files, timed, target) in cases.items():
        cpu: list[float] = []
        sky = best(args.repeat, ours(files, timed, cpu=cpu))
        ref = best(args.repeat, reference(files, timed)) if with_reference else None
        results[name] = {"skybutler_s": round(sky, 4), "skybutler_cpu_s": round(min(cpu), 4),
                         "reference_s": None if ref is None else round(ref, 4), "target_s": target}  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        path = generated_export(args.n, Path(work))
        cpu = []
        sky = best(args.repeat, ours([path.name], path.name, directory=path.parent, cpu=cpu))
        results[f"generated-{args.n}"] = {
            "skybutler_s": round(sky, 4), "skybutler_cpu_s": round(min(cpu), 4), "bytes": path.stat().st_size,
            "target_s": 2.0 * args.n / 100_000,
        }  # fmt: skip
    print("| import (SQLite) | skybutler s | skybutler CPU s | reference s | ratio | target s |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        ref = r.get("reference_s")
        ratio = f"{ref / r['skybutler_s']:.1f}x" if ref else "-"
        print(
            f"| {name} | {r['skybutler_s']:.4f} | {r['skybutler_cpu_s']:.4f} | {ref if ref is not None else '-'} "
            f"| {ratio} | {r['target_s']:g} |"
        )
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")
    print(json.dumps({"system": "skybutler", "n": args.n, "results": results}))


if __name__ == "__main__":
    main()
