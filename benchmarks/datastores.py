"""W1's small dict (``meta``) put and got through each kind of datastore: files, memory, and a chain of both.

Usage::

    python benchmarks/datastores.py [--n 2000] [--repeat 5] [--json]

Each kind gets a fresh repository (SQLite registry in a temporary directory); ``--n`` puts of W1's ~12-key
dict, one call each, then ``--n`` gets, one call each.  Reported per operation: the best wall time of
``--repeat`` rounds and the CPU time of that round (``time.process_time``), since other jobs share the
machine and wall figures are noisy.  Kinds: ``file`` (JSON files), ``memory`` (objects, deep-copied on put
and get), ``memory-shared`` (``copy_objects: false``: no copies) and ``chained`` (memory in front of files,
a put writes both, a get reads memory).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import N_DETECTORS, meta_payload
from skybutler import Butler
from skybutler.testing.sample import populate_sample

KINDS: dict[str, dict[str, Any]] = {
    "file": {},
    "memory": {"type": "memory"},
    "memory-shared": {"type": "memory", "copy_objects": False},
    "chained": {"type": "chained", "children": [{"name": "scratch", "type": "memory"}, {"name": "files"}]},
}


def _round(kind: str, n: int, root: Path) -> dict[str, float]:
    """One fresh repository: n puts then n gets; wall and CPU seconds of each phase."""
    repo = Butler.create(root / "repo", config={"datastore": KINDS[kind]})
    with Butler(repo, run="run1") as butler:
        populate_sample(butler, n_visits=n // N_DETECTORS + 1, n_detectors=N_DETECTORS)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        data_ids = [{"instrument": "Cam", "visit": i // N_DETECTORS, "detector": i % N_DETECTORS} for i in range(n)]
        payloads = [meta_payload(i) for i in range(n)]
        out: dict[str, float] = {}
        wall, cpu = time.perf_counter(), time.process_time()
        for payload, data_id in zip(payloads, data_ids, strict=True):
            butler.put(payload, "meta", data_id)
        out["put_wall"], out["put_cpu"] = time.perf_counter() - wall, time.process_time() - cpu
        wall, cpu = time.perf_counter(), time.process_time()
        for i, data_id in enumerate(data_ids):
            got = butler.get("meta", data_id)
            if got["index"] != i:
                raise AssertionError(f"get {i} returned dataset {got['index']}")
        out["get_wall"], out["get_cpu"] = time.perf_counter() - wall, time.process_time() - cpu
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every kind ``--repeat`` times; print a table (and one JSON line with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures: dict[str, float] = {}
    for kind in KINDS:
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="skybutler-datastores-") as tmp:
                found = _round(kind, args.n, Path(tmp))
            for phase in ("put", "get"):
                if found[f"{phase}_wall"] < best.get(f"{phase}_wall", float("inf")):
                    best[f"{phase}_wall"], best[f"{phase}_cpu"] = found[f"{phase}_wall"], found[f"{phase}_cpu"]
        for key, seconds in best.items():
            figures[f"{kind}_{key}_ms"] = seconds * 1000 / args.n
    print(f"W1 meta dict, n = {args.n}, best of {args.repeat} (ms per call; CPU of the best round)")
    print(f"{'datastore':<15}{'put':>8}{'put CPU':>10}{'get':>8}{'get CPU':>10}")
    for kind in KINDS:
        row = [figures[f"{kind}_{k}_ms"] for k in ("put_wall", "put_cpu", "get_wall", "get_cpu")]
        print(f"{kind:<15}{row[0]:>8.3f}{row[1]:>10.3f}{row[2]:>8.3f}{row[3]:>10.3f}")
    if args.json:
        print(json.dumps({"n": args.n, "repeat": args.repeat, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
