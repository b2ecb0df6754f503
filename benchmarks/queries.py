"""Repeated queries on the W1 repository (W1 steps 5-6), warm: wall and CPU time per query, best of several passes.

Usage::

    python benchmarks/queries.py [--n 2000] [--passes 7] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

The repository has W1's records and N ``meta`` datasets in ``run1``, registered with the bulk registry insert (no
files: queries read the registry only).  A pass is W1's 100 where-queries (``instrument = 'Cam' AND visit > k AND
detector = 3``, k spread over the visits) or its 100 partial data-ID queries (detector fixed → visits).  The first
pass is reported on its own (it parses, imports the parser and compiles); the best of the following passes is
"warm".  Wall and CPU time are both given: on a loaded machine wall time includes waiting for a core.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from _common import N_DETECTORS, N_QUERIES, check
from skybutler import Butler
from skybutler.registry import NewDataset

RUN = "run1"
FILTERS = (("Cam-r", "r"), ("Cam-g", "g"))


def build(root: Path, n: int, postgres: str | None) -> Butler:
    """A repository with W1's dimension records and ``n`` registered ``meta`` datasets."""
    repo = root / "repo"
    if postgres is None:
        Butler.create(repo)
    else:
        Butler.create(repo, registry=postgres, schema=f"qbench_{uuid.uuid4().hex[:10]}")
    butler = Butler(repo, run=RUN)
    reg = butler.registry
    n_visits = n // N_DETECTORS
    reg.insert_dimension_records("instrument", [{"name": "Cam", "visit_max": 10**6, "exposure_max": 10**6,
                                                 "detector_max": N_DETECTORS}])  # fmt: skip
    reg.insert_dimension_records("band", [{"name": b} for _, b in FILTERS])
    reg.insert_dimension_records("physical_filter", [{"instrument": "Cam", "name": f, "band": b} for f, b in FILTERS])
    reg.insert_dimension_records("day_obs", [{"instrument": "Cam", "id": 20250101}])
    reg.insert_dimension_records(
        "detector", [{"instrument": "Cam", "id": d, "full_name": f"D{d:02d}"} for d in range(N_DETECTORS)]
    )
    visits = [
        {"instrument": "Cam", "id": v, "name": f"v{v}", "day_obs": 20250101, "physical_filter": FILTERS[(v - 1) % 2][0]}
        for v in range(1, n_visits + 1)
    ]
    reg.insert_dimension_records("visit", visits)
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    stored = reg.dataset_types.get("meta")
    run_id = butler.collections.get(RUN).id
    order = stored.dataset_type.dimensions.required
    rows = [
        {"instrument": "Cam", "visit": v, "detector": d} for v in range(1, n_visits + 1) for d in range(N_DETECTORS)
    ]
    reg.datasets.insert(stored, run_id, [NewDataset(uuid.uuid4(), tuple(r[k] for k in order), None) for r in rows])
    return butler


def passes(butler: Butler, n: int) -> dict[str, Callable[[], None]]:
    n_visits = n // N_DETECTORS
    ks = [i * n_visits // N_QUERIES for i in range(N_QUERIES)]

    def where() -> None:
        for k in ks:
            text = f"instrument = 'Cam' AND visit > {k} AND detector = 3"
            refs = list(butler.query_datasets("meta", collections=RUN, where=text))
            check(len(refs) == n_visits - k, f"where visit > {k}: {len(refs)} datasets")

    def partial() -> None:
        for i in range(N_QUERIES):
            found = list(butler.query_data_ids(["visit", "detector"], datasets="meta", collections=RUN,
                                               instrument="Cam", detector=i % N_DETECTORS))  # fmt: skip
            check(len(found) == n_visits, f"detector {i % N_DETECTORS}: {len(found)} data IDs")

    return {"query_where": where, "query_partial": partial}


def measure(fn: Callable[[], None], n_passes: int) -> dict[str, float]:
    """ms per query: the first pass, then the best wall and best CPU time of the others."""
    out: dict[str, float] = {}
    best_wall = best_cpu = float("inf")
    for i in range(n_passes + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if i == 0:
            out["first_wall_ms"] = wall * 1000 / N_QUERIES
            continue
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    out["warm_wall_ms"] = best_wall * 1000 / N_QUERIES
    out["warm_cpu_ms"] = best_cpu * 1000 / N_QUERIES
    return {k: round(v, 3) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of datasets (a multiple of 10)")
    parser.add_argument("--passes", type=int, default=7, help="warm passes of 100 queries each")
    parser.add_argument("--postgres", metavar="URL", help="registry database URL instead of SQLite")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="skybutler-queries-") as tmp, build(Path(tmp), args.n, args.postgres) as b:
        try:
            for name, fn in passes(b, args.n).items():
                result = {"step": name, "n": args.n, "registry": "postgresql" if args.postgres else "sqlite"}
                print(json.dumps({**result, **measure(fn, args.passes)}), flush=True)
        finally:
            if args.postgres is not None:
                from scale import _drop_schema

                _drop_schema(args.postgres, b.registry.db.schema or "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
