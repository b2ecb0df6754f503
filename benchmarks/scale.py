"""Scale workload: how the everyday calls cost as a registry grows from 10k to 1M datasets.

Usage::

    python benchmarks/scale.py --sizes 10000 100000 1000000 [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
    python benchmarks/scale.py --sizes 10000000 --repo /data/scale10m   # resumable

Per size: a fresh repository with 10 dataset types over ``size / 10`` data IDs (instrument, visit, detector; 100
detectors), registered with the bulk registry insert (registry rows only: this measures the registry, and a
million files would measure the disk), plus 1000 datasets of an 11th type written with ``put_many`` so that a
``get`` reads a real file, and a calibration type certified over 10 epochs of 100 detectors.  Then, each timed over
repeated calls: a single find, a get, a where-query returning 1000 rows, a partial data-ID query (one visit: 100
data IDs) and a calibration lookup.  Prints one JSON line per size (with the disk used: the SQLite file, its
write-ahead log and the files; or the PostgreSQL schema's tables and indexes) and a table of ms per call by size.

``--repo DIR`` (one size) keeps the repository: a build that stops (killed, out of disk or time) carries on
where it stopped when the same command runs again, and a finished one is only measured again.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import check, peak_rss_kib
from skybutler import Butler, Timespan
from skybutler.dimensions import to_tai_ns
from skybutler.registry import NewDataset

N_DETECTORS = 100
N_TYPES = 10
N_FILES = 1000
N_EPOCHS = 10
RUN = "bulk"
CALIB = "calib"
EPOCH_START = to_tai_ns("2025-01-01T00:00:00 TAI")
ONE_DAY = 86_400 * 10**9
BATCH = 50_000
CALLS = ("find", "get", "where_1000", "partial", "calib_lookup")


def build(butler: Butler, size: int) -> float:
    """Fill the repository for ``size`` datasets, or carry on where an earlier build stopped; return seconds.

    Every stage is skipped when it is done, and the bulk insert of each dataset type starts after the rows it
    already has (data IDs come in a fixed order, and each batch commits whole or not at all), so a build that
    was stopped (killed, out of time) is resumed by running the same command with the same ``--repo``.
    """
    start = time.perf_counter()
    n_ids = size // N_TYPES
    n_visits = max(1, n_ids // N_DETECTORS)
    reg = butler.registry
    if not reg.fetch_dimension_records("instrument"):
        reg.insert_dimension_records("instrument", [{"name": "Cam", "visit_max": 10**7, "exposure_max": 10**7,
                                                     "detector_max": N_DETECTORS}])  # fmt: skip
        reg.insert_dimension_records("band", [{"name": "r"}])
        reg.insert_dimension_records("physical_filter", [{"instrument": "Cam", "name": "Cam-r", "band": "r"}])
        reg.insert_dimension_records("day_obs", [{"instrument": "Cam", "id": 20250101}])
        reg.insert_dimension_records(
            "detector", [{"instrument": "Cam", "id": d, "full_name": f"D{d:03d}"} for d in range(N_DETECTORS)]
        )
    have = {r.id for r in reg.fetch_dimension_records("visit")}
    reg.insert_dimension_records(
        "visit",
        [{"instrument": "Cam", "id": v, "name": f"v{v}", "physical_filter": "Cam-r", "day_obs": 20250101}
         for v in range(1, n_visits + 1) if v not in have],
    )  # fmt: skip
    dims = ["instrument", "visit", "detector"]
    run_id = butler.collections.get(RUN).id
    data_ids = [{"instrument": "Cam", "visit": v, "detector": d} for v in range(1, n_visits + 1)
                for d in range(N_DETECTORS)][:n_ids]  # fmt: skip
    for t in range(N_TYPES):
        butler.register_dataset_type(f"t{t}", dims, "StructuredDataDict")
        stored = reg.dataset_types.get(f"t{t}")
        done = _count(butler, f"t{t}")
        if done >= n_ids:
            continue
        order = stored.dataset_type.dimensions.required  # the registry's column order
        values = [tuple(data_id[d] for d in order) for data_id in data_ids[done:]]
        for i in range(0, len(values), BATCH):
            reg.datasets.insert(stored, run_id, [NewDataset(uuid.uuid4(), v, None) for v in values[i : i + BATCH]])
    butler.register_dataset_type("file", dims, "StructuredDataDict")
    if not _count(butler, "file"):
        butler.put_many([({"i": i}, data_ids[i]) for i in range(min(N_FILES, n_ids))], "file")
    butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
    butler.collections.register(CALIB, "CALIBRATION")
    runs = {c.name for c in butler.collections.query("bias/e*")}
    for epoch in range(N_EPOCHS):
        if f"bias/e{epoch}" in runs:  # a run is put, then certified: redo an epoch whose certify did not happen
            refs = list(butler.query_datasets("bias", collections=f"bias/e{epoch}"))
            if list(butler.query_datasets("bias", collections=CALIB, at=EPOCH_START + epoch * ONE_DAY)):
                continue
        else:
            refs = butler.put_many([({"e": epoch}, {"instrument": "Cam", "detector": d}) for d in range(N_DETECTORS)],
                                   "bias", run=f"bias/e{epoch}")  # fmt: skip
        begin = EPOCH_START + epoch * ONE_DAY
        butler.collections.certify(CALIB, refs, Timespan(begin, begin + ONE_DAY))
    return time.perf_counter() - start


def _count(butler: Butler, name: str) -> int:
    """Datasets of type ``name`` in the bulk run (0 for a new type)."""
    return butler.query_datasets(name, collections=RUN).count()


def disk_use(repo: Path, postgres: str | None, schema: str | None) -> dict[str, int]:
    """Bytes the repository takes: the SQLite file and its log, or the PostgreSQL schema's tables and indexes;
    and the datastore's files."""
    files = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file() and not p.name.startswith("registry."))
    if postgres is None:
        db = repo / "registry.sqlite3"
        wal = Path(str(db) + "-wal")
        return {"db_bytes": db.stat().st_size, "wal_bytes": wal.stat().st_size if wal.exists() else 0,
                "files_bytes": files}  # fmt: skip
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        total = conn.execute(
            sqlalchemy.text(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'r'"
            ),
            {"s": schema},
        ).scalar_one()
    engine.dispose()
    return {"db_bytes": int(total), "wal_bytes": 0, "files_bytes": files}


def per_call(fn: Callable[[int], Any], n: int) -> float:
    """Milliseconds per call of ``fn(i)`` over ``n`` calls, after one warm-up call."""
    fn(0)
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) * 1000 / n


def measure(butler: Butler, size: int, repeats: int) -> dict[str, float]:
    n_ids = size // N_TYPES
    n_visits = max(1, n_ids // N_DETECTORS)
    rng = random.Random(42)
    picks = [
        (rng.randrange(1, n_visits + 1), rng.randrange(N_DETECTORS), rng.randrange(N_TYPES)) for _ in range(repeats)
    ]
    nv = min(n_visits, 100)
    nd = min(N_DETECTORS, 1000 // nv)  # nv * nd = 1000 rows from 10k datasets up; fewer on smaller registries
    first_files = min(N_FILES, n_ids)

    def find(i: int) -> None:
        v, d, t = picks[i % repeats]
        ref = butler.find_dataset(f"t{t}", instrument="Cam", visit=v, detector=d, collections=RUN)
        check(ref is not None, f"find t{t} {v} {d}")

    def get(i: int) -> None:
        k = i % first_files
        got = butler.get("file", instrument="Cam", visit=1 + k // N_DETECTORS, detector=k % N_DETECTORS,
                         collections=RUN)  # fmt: skip
        check(got == {"i": k}, f"get file {k}: {got}")

    def where(i: int) -> None:
        where = f"instrument = 'Cam' AND visit <= {nv} AND detector < {nd}"
        refs = list(butler.query_datasets(f"t{i % N_TYPES}", collections=RUN, where=where))
        check(len(refs) == nv * nd, f"where: {len(refs)} rows, expected {nv * nd}")

    def partial(i: int) -> None:
        v = picks[i % repeats][0]
        ids = list(butler.query_data_ids(["visit", "detector"], datasets=f"t{i % N_TYPES}", collections=RUN,
                                         instrument="Cam", visit=v))  # fmt: skip
        check(len(ids) == min(N_DETECTORS, n_ids), f"partial visit {v}: {len(ids)}")

    def calib(i: int) -> None:
        epoch, d = i % N_EPOCHS, picks[i % repeats][1]
        ref = butler.find_dataset("bias", instrument="Cam", detector=d, collections=CALIB,
                                  at=EPOCH_START + epoch * ONE_DAY + ONE_DAY // 2)  # fmt: skip
        check(ref is not None and ref.run == f"bias/e{epoch}", f"calib {epoch} {d}: {ref}")

    return {
        "find": per_call(find, repeats),
        "get": per_call(get, repeats),
        "where_1000": per_call(where, max(5, repeats // 20)),
        "partial": per_call(partial, max(10, repeats // 5)),
        "calib_lookup": per_call(calib, repeats),
    }


def run_size(
    size: int, postgres: str | None, repeats: int, repo: Path | None = None, schema: str | None = None
) -> dict[str, Any]:
    """Build (or resume building) and measure one size: in ``repo`` (kept, resumable) or a temporary one."""
    if repo is not None:
        if not (repo / "butler.yaml").exists():
            Butler.create(repo, registry=postgres, schema=schema)
        return _build_and_measure(repo, size, postgres, schema, repeats)
    with tempfile.TemporaryDirectory(prefix="skybutler-scale-") as tmp:
        repo = Path(tmp) / "repo"
        schema = None if postgres is None else f"scale_{uuid.uuid4().hex[:10]}"
        Butler.create(repo, registry=postgres, schema=schema)
        try:
            return _build_and_measure(repo, size, postgres, schema, repeats)
        finally:
            if schema is not None:
                _drop_schema(postgres or "", schema)


def _build_and_measure(repo: Path, size: int, postgres: str | None, schema: str | None, repeats: int) -> dict[str, Any]:
    with Butler(repo, run=RUN) as butler:
        build_s = build(butler, size)
        ms = measure(butler, size, repeats)
    return {"size": size, "registry": "postgresql" if postgres else "sqlite", "build_s": round(build_s, 1),
            "peak_rss_kib": peak_rss_kib(), **disk_use(repo, postgres, schema),
            **{k: round(v, 3) for k, v in ms.items()}}  # fmt: skip


def _drop_schema(url: str, schema: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def table(results: list[dict[str, Any]]) -> str:
    head = "| datasets | registry | build s | " + " | ".join(f"{c} ms" for c in CALLS) + " |"
    rule = "|" + "---|" * (3 + len(CALLS))
    rows = [
        f"| {r['size']:,} | {r['registry']} | {r['build_s']} | " + " | ".join(f"{r[c]:.3f}" for c in CALLS) + " |"
        for r in results
    ]
    return "\n".join([head, rule, *rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--postgres", metavar="URL", help="registry database URL instead of SQLite")
    parser.add_argument("--repeats", type=int, default=200, help="calls per measurement (fewer for big queries)")
    parser.add_argument("--repo", type=Path, help="keep the repository here; run again to resume a stopped build")
    parser.add_argument("--schema", help="PostgreSQL schema of a kept --repo (default scale_<size>)")
    args = parser.parse_args(argv)
    if args.repo is not None and len(args.sizes) != 1:
        parser.error("--repo takes one size: a kept repository holds one build")
    results = []
    for size in args.sizes:
        schema = None
        if args.repo is not None and args.postgres is not None:
            schema = args.schema or f"scale_{size}"
        result = run_size(size, args.postgres, args.repeats, args.repo, schema)
        print(json.dumps(result), flush=True)
        results.append(result)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
