"""Provenance costs (issue 23): put with inputs, impact over a million edges, recording the environment.

Usage::

    python benchmarks/provenance.py [--puts 300] [--edges 1000000] [--postgres URL]

Targets: a put with three inputs costs at most 1.15x a plain put (SQLite); `impact` over a graph of
1 000 000 edges returning 1 000 datasets takes at most 50 ms (SQLite and PostgreSQL); a run's environment
costs at most 50 ms when the registry knows it and 500 ms when it is new, and nothing after.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from skybutler import Butler, _software
from skybutler.butler import _environment
from skybutler.registry._calibrations import tai_now
from skybutler.testing.sample import populate_sample
from w1_skybutler import _postgres_schema


def _repo(root: Path, postgres: tuple[str, str] | None) -> str:
    if postgres is None:
        return Butler.create(root)
    return Butler.create(root, registry=postgres[0], schema=postgres[1])


def bench_put(root: Path, n: int, rounds: int) -> tuple[float, float, float, float]:
    """Per put, plain and with three inputs, on one SQLite repository: median wall ms of alternating rounds of
    ``n`` puts, then CPU ms of ``n * rounds`` puts of each kind alternating put by put.

    Wall time follows the machine's load from one round to the next; CPU time of puts alternated one by one
    carries the same load on both sides, so their ratio is the steadier figure on a busy machine.
    """
    repo = _repo(root, None)
    butler = Butler(repo, run="bench/put")
    populate_sample(butler, n_visits=4 * n * rounds // 100 + 2, n_detectors=100)
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    inputs = [butler.put({"i": k}, "meta", instrument="Cam", visit=0, detector=k) for k in range(3)]
    plain: list[float] = []
    with_inputs: list[float] = []
    count = 100  # past visit 0
    for _ in range(rounds):
        for target, ins in ((plain, None), (with_inputs, inputs)):
            start = time.perf_counter()
            for _ in range(n):
                visit, detector = divmod(count, 100)
                butler.put({"k": count}, "meta", instrument="Cam", visit=visit, detector=detector, inputs=ins)
                count += 1
            target.append((time.perf_counter() - start) * 1000 / n)
    cpu = [0.0, 0.0]
    for k in range(2 * n * rounds):
        visit, detector = divmod(count, 100)
        ins = inputs if k % 2 else None
        start = time.process_time()
        butler.put({"k": count}, "meta", instrument="Cam", visit=visit, detector=detector, inputs=ins)
        cpu[k % 2] += time.process_time() - start
        count += 1
    butler.close()
    per = n * rounds
    return statistics.median(plain), statistics.median(with_inputs), cpu[0] * 1000 / per, cpu[1] * 1000 / per


def bench_impact(root: Path, n_edges: int, postgres: tuple[str, str] | None, repeat: int = 20) -> tuple[float, float]:
    """Best ms of `Registry.lineage.walk` and of `Butler.impact` (refs) from a dataset used by 1 000 others.

    The graph: the start dataset, 10 outputs using it, 100 using those, 889 using those (1 000 reached,
    all registered), and random background edges among other IDs up to ``n_edges`` in all.
    """
    repo = _repo(root, postgres)
    butler = Butler(repo, run="bench/impact")
    populate_sample(butler, n_visits=20, n_detectors=100)
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    registry = butler.registry
    start = butler.put({"s": 1}, "meta", instrument="Cam", visit=0, detector=0)
    layers = [[start.id]]
    items = []
    for size in (10, 100, 889):
        layer = []
        for j in range(size):
            k = len(items) + 1
            items.append(({"k": k}, {"instrument": "Cam", "visit": 1 + k // 100, "detector": k % 100}))
            layer.append(j)
        layers.append(layer)
    refs = butler.put_many(items, "meta")
    ids = [r.id for r in refs]
    edges: list[tuple[uuid.UUID, uuid.UUID, str, str, int]] = []
    now = tai_now()
    offset = 0
    previous = [start.id]
    for size in (10, 100, 889):
        layer = ids[offset : offset + size]
        offset += size
        for j, out in enumerate(layer):
            edges.append((out, previous[j % len(previous)], "meta", "meta", now))
        previous = layer
    # background: chains of other datasets, each also using one more (a realistic fan-in of two)
    background = [uuid.uuid4() for _ in range((n_edges - len(edges)) // 2 + 1)]
    for j in range(len(background) - 1):
        edges.append((background[j], background[j + 1], "x", "x", now))
        edges.append((background[j], uuid.uuid4(), "x", "x", now))
    edges = edges[:n_edges]
    table = registry.tables.provenance.edge
    columns = ("output_id", "input_id", "output_type", "input_type", "recorded")
    db = registry.db
    for chunk_start in range(0, len(edges), 200_000):
        with db.transaction() as conn:
            db.insert_many(conn, table, columns, edges[chunk_start : chunk_start + 200_000])
    del edges, background  # a million tuples held would make every garbage collection below slow
    gc.collect()
    if db.dialect != "sqlite":  # as autovacuum would have: statistics, and the visibility map for index-only scans
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'SET search_path TO "{postgres[1]}"' if postgres else "SELECT 1")
            conn.exec_driver_sql("VACUUM ANALYZE dataset_input")
    assert len(registry.lineage.walk([start.id], "down")) == 999
    walk_ms, impact_ms = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        registry.lineage.walk([start.id], "down")
        t1 = time.perf_counter()
        reached = butler.impact(start)
        t2 = time.perf_counter()
        walk_ms.append((t1 - t0) * 1000)
        impact_ms.append((t2 - t1) * 1000)
    assert len(reached) == 999
    assert all(n.ref is not None for n in reached)
    butler.close()
    return min(walk_ms), min(impact_ms)


def bench_environment(root: Path) -> tuple[float, float, float, int]:
    """ms to record the environment: new to the registry and the process, known to the registry, known here."""
    repo = _repo(root, None)
    first = Butler(repo, run="bench/env")
    _software._BY_FINGERPRINT.clear()
    t0 = time.perf_counter()
    _environment.environment_id(first.registry)
    new_ms = (time.perf_counter() - t0) * 1000
    n_packages = len(_environment.current_environment().packages)
    second = Butler(repo, run="bench/env2")  # a new process would see the same: registry knows, butler not
    _software._BY_FINGERPRINT.clear()
    t0 = time.perf_counter()
    _environment.environment_id(second.registry)
    known_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    _environment.environment_id(second.registry)
    cached_ms = (time.perf_counter() - t0) * 1000
    first.close()
    second.close()
    return new_ms, known_ms, cached_ms, n_packages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=300, help="puts per round and kind")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=None, help="also measure impact on this PostgreSQL URL")
    parser.add_argument("--impact-only", action="store_true", help="measure impact only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if not args.impact_only:
            plain, with_inputs, cpu_plain, cpu_inputs = bench_put(root / "put", args.puts, args.rounds)
            print(f"put plain        {plain:8.3f} ms/op")
            print(f"put 3 inputs     {with_inputs:8.3f} ms/op   ratio {with_inputs / plain:5.3f} (target <= 1.15)")
            ratio = cpu_inputs / cpu_plain
            print(f"put CPU          {cpu_plain:8.3f} / {cpu_inputs:.3f} ms/op, ratio {ratio:5.3f} (alternating puts)")
            print(f"load             {os.getloadavg()[0]:8.1f}")
            new_ms, known_ms, cached_ms, n_packages = bench_environment(root / "env")
            print(f"environment new  {new_ms:8.1f} ms ({n_packages} distributions; target <= 500)")
            print(f"environment known{known_ms:8.2f} ms (registry knows it; target <= 50)")
            print(f"environment again{cached_ms:8.3f} ms (this butler knows it)")
        walk, impact = bench_impact(root / "impact", args.edges, None)
        print(f"sqlite   walk {walk:7.1f} ms, impact with refs {impact:7.1f} ms ({args.edges} edges, 999 reached)")
        if args.postgres:
            with _postgres_schema(args.postgres) as schema:
                walk, impact = bench_impact(root / "impact_pg", args.edges, (args.postgres, schema))
            print(f"postgres walk {walk:7.1f} ms, impact with refs {impact:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
