"""Certify speed and statements: calls of 10 datasets, then of 1000, on SQLite or PostgreSQL (issue 26 part 3).

Usage::

    python benchmarks/certify.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Prints, per call size, the median and minimum CPU and wall milliseconds per call and the statements the last call
sent (BEGIN/COMMIT included; counted as tests/registry/_statements.py counts them).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests package, for the statement counter

from tests.registry._statements import statements

from skybutler import Butler, Timespan
from skybutler.dimensions import to_tai_ns

DAY = 86_400 * 10**9
START = to_tai_ns("2025-01-01T00:00:00 TAI")


def run(root: Path, postgres: str | None) -> None:
    options: dict[str, str] = (
        {} if postgres is None else {"registry": postgres, "schema": f"certify_{secrets.token_hex(4)}"}
    )
    Butler.create(root / "repo", **options)
    try:
        with Butler(root / "repo", writeable=True) as butler:
            insert = butler.registry.insert_dimension_records
            insert("instrument", [{"name": "Big", "detector_max": 1000, "visit_max": 10, "exposure_max": 10,
                                   "class_name": "bench.Big"}])  # fmt: skip
            insert("detector", [{"instrument": "Big", "id": d, "full_name": f"D{d}"} for d in range(1000)])
            butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
            butler.collections.register("calib", "CALIBRATION")
            items = [({"d": d}, {"instrument": "Big", "detector": d}) for d in range(1000)]
            refs = butler.put_many(items, "bias", run="r1")
            day = 0
            for size, calls in ((10, 40), (1000, 3)):
                cpu: list[float] = []
                wall: list[float] = []
                sent: list[str] = []
                for k in range(calls):
                    chunk = refs[(k * size) % 1000 : (k * size) % 1000 + size]
                    begin = START + day * DAY
                    day += 1
                    c0, w0 = time.process_time(), time.perf_counter()
                    with statements(butler.registry.db) as traced:
                        butler.collections.certify("calib", chunk, Timespan(begin, begin + DAY))
                    sent = traced
                    cpu.append(time.process_time() - c0)
                    wall.append(time.perf_counter() - w0)
                verbs = [s.split()[0].upper() for s in sent]
                name = "postgresql" if postgres else "sqlite"
                figures = f"CPU median {statistics.median(cpu) * 1e3:.2f} ms (min {min(cpu) * 1e3:.2f}), "
                figures += f"wall median {statistics.median(wall) * 1e3:.2f} ms (min {min(wall) * 1e3:.2f})"
                print(f"{name} {size} refs/call x{calls}: {figures}; statements {verbs}")
    finally:
        if postgres is not None:
            engine = sqlalchemy.create_engine(postgres.replace("postgresql://", "postgresql+psycopg://", 1))
            with engine.begin() as conn:
                conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{options["schema"]}" CASCADE'))
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", help="registry database URL instead of SQLite")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="certify_") as tmp:
        run(Path(tmp), args.postgres)
    return 0


if __name__ == "__main__":
    sys.exit(main())
