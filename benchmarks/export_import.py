"""Export and import of many datasets, registry only (no file copying): issue 7's ≥ 10 000 datasets/s targets.

Usage::

    python benchmarks/export_import.py --n 20000 [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Builds a repository with ``n`` datasets of one type (``n / 100`` visits x 100 detectors) registered without
files, then times ``butler.export`` of all of them to YAML, and ``butler.import_`` of that file into a new,
empty repository (the dimension records come along in the file).  Where ``lsst-daf-butler`` is installed
the reference butler does the same in the same run (it cannot export datasets without files, so its datasets
are small files ingested with ``transfer="direct"``, and no bytes are copied either), and the ratios are
printed.  Beside skybutler's wall times, the CPU time of this (client) process: on PostgreSQL the server's
work is not in it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _common import has_reference

N_DETECTORS = 100


def _records(n_visits: int) -> dict[str, list[dict[str, Any]]]:
    return {
        "instrument": [{"name": "Cam", "visit_max": 10**6, "detector_max": N_DETECTORS}],
        "physical_filter": [{"instrument": "Cam", "name": "Cam-r", "band": "r"}],
        "day_obs": [{"instrument": "Cam", "id": 20250101}],
        "detector": [{"instrument": "Cam", "id": d, "full_name": f"S{d:03d}"} for d in range(N_DETECTORS)],
        "visit": [
            {"instrument": "Cam", "id": v, "name": f"v{v}", "physical_filter": "Cam-r", "day_obs": 20250101}
            for v in range(n_visits)
        ],
    }


def skybutler(n: int, work: Path, postgres: str | None) -> dict[str, float]:
    """Seconds for export and import of ``n`` datasets on skybutler."""
    from skybutler import Butler
    from skybutler.registry import NewDataset
    from skybutler.testing.fixtures import fresh_schema

    with ExitStack() as stack:

        def create(root: Path) -> Butler:
            schema = stack.enter_context(fresh_schema(postgres)) if postgres else None
            Butler.create(root, registry=postgres, schema=schema)
            return stack.enter_context(Butler(root, writeable=True))

        source = create(work / "sky_src")
        source.registry.insert_dimension_records("band", [{"name": "r"}])
        for element, rows in _records(n // N_DETECTORS).items():
            source.registry.insert_dimension_records(element, rows)
        source.register_dataset_type("meta", ["visit", "detector"], "StructuredDataDict")
        source.registry.register_run("run1")
        stored = source.registry.dataset_types.get("meta")
        run = source.registry.collections.get("run1")
        new = [NewDataset(uuid.uuid4(), ("Cam", i % N_DETECTORS, i // N_DETECTORS), None) for i in range(n)]
        source.registry.datasets.insert(stored, run.id, new)
        out = {}
        t, cpu = time.perf_counter(), time.process_time()
        report = source.export(work / "sky.yaml", collections="run1")
        out["export"], out["export_cpu"] = time.perf_counter() - t, time.process_time() - cpu
        assert report.datasets == n, report
        dest = create(work / "sky_dst")
        t, cpu = time.perf_counter(), time.process_time()
        imported = dest.import_(work / "sky.yaml")
        out["import"], out["import_cpu"] = time.perf_counter() - t, time.process_time() - cpu
        assert imported.datasets == n, imported
    return out


def reference(n: int, work: Path) -> dict[str, float]:
    """Seconds for export and import of ``n`` datasets on the reference butler (SQLite).

    The reference cannot export datasets without files, so each has a small file, ingested with
    ``transfer="direct"`` (registered where it is); the export and import then move no bytes either.
    """
    from lsst.daf.butler import Butler, DatasetRef, DatasetType, FileDataset

    Butler.makeRepo(str(work / "ref_src"))
    source = Butler.from_config(str(work / "ref_src"), writeable=True)
    reg = source.registry
    for element, rows in _records(n // N_DETECTORS).items():
        reg.insertDimensionData(element, *rows)
    vdr = [{"instrument": "Cam", "visit": i // N_DETECTORS, "detector": i % N_DETECTORS} for i in range(n)]
    reg.insertDimensionData("visit_detector_region", *vdr)  # its export needs every record of the data IDs
    meta = DatasetType("meta", ["visit", "detector"], "StructuredDataDict", universe=source.dimensions)
    reg.registerDatasetType(meta)
    reg.registerRun("run1")
    files = work / "ref_files"
    files.mkdir()
    datasets = []
    for i, data_id in enumerate(vdr):
        path = files / f"{i}.json"
        path.write_text("{}")
        datasets.append(FileDataset(str(path), DatasetRef(meta, reg.expandDataId(data_id), run="run1")))
    source.ingest(*datasets, transfer="direct")
    out = {}
    t = time.perf_counter()  # like ours: query the run's datasets (with their records), then write
    refs = list(reg.queryDatasets("meta", collections="run1").expanded())
    with source.export(filename=str(work / "ref.yaml")) as export:
        export.saveDatasets(refs)
    out["export"] = time.perf_counter() - t
    Butler.makeRepo(str(work / "ref_dst"))
    dest = Butler.from_config(str(work / "ref_dst"), writeable=True)
    t = time.perf_counter()
    dest.import_(filename=str(work / "ref.yaml"), transfer="direct")
    out["import"] = time.perf_counter() - t
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="datasets (a multiple of 100)")
    parser.add_argument("--postgres", help="PostgreSQL URL for skybutler's registries (default: SQLite)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference butler")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="skybutler-exim-"))
    try:
        ours = skybutler(args.n, work, args.postgres)
        theirs = None
        if not args.no_reference and has_reference():
            try:
                theirs = reference(args.n, work)
            except Exception as exc:  # report, do not hide, a reference failure
                print(f"reference butler failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        backend = "PostgreSQL" if args.postgres else "SQLite"
        print(f"{args.n} datasets, registry only, skybutler on {backend}")
        for step in ("export", "import"):
            line = f"{step:7s} skybutler {ours[step]:7.2f} s = {args.n / ours[step]:9.0f} datasets/s"
            line += f" (client CPU {ours[step + '_cpu']:5.2f} s)"
            if theirs is not None:
                line += f" | reference {theirs[step]:7.2f} s = {args.n / theirs[step]:8.0f}/s"
                line += f" | {theirs[step] / ours[step]:5.1f}x faster"
            print(line)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
