"""The floor of issue 23's put ratio: bare `sqlite3` writing a put's rows, with and without three lineage edges.

Usage::

    python benchmarks/provenance_floor.py [--puts 3000]

A skybutler registry (the schema `benchmarks/provenance.py` puts into) is copied once per variant; each copy
then takes the rows of a plain put (``dataset``, tags, ``datastore_record``: one transaction each) and of a
put with three inputs (the same plus skybutler's edge statement), alternated put by put with the other
variants, so all carry the same machine load.  Variants: random IDs as uuid4 or as time-ordered UUIDv7
(`random_dataset_id`), and UUIDv7 without the edges' reverse index (what that index alone costs).  What a
variant's edges add over its plain transaction is the least any put with three inputs can add on SQLite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from skybutler import Butler
from skybutler.datasets import random_dataset_id
from skybutler.testing.sample import populate_sample

EDGES = (
    "INSERT INTO dataset_input (output_id, input_id, output_type, input_type, recorded) SELECT v.column1, d.id, "
    "v.column2, t.name, ? FROM (VALUES (?, 'meta', ?), (?, 'meta', ?), (?, 'meta', ?)) AS v LEFT JOIN dataset d "
    "ON d.id = v.column3 LEFT JOIN dataset_type t ON t.dataset_type_id = d.dataset_type_id"
)
PRAGMAS = ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON", "cache_size = -32768")


class Variant:
    """One copy of the registry and how its IDs are made."""

    def __init__(self, path: Path, make_id: Callable[[], uuid.UUID], tags: str, reverse_index: bool) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in PRAGMAS:
            self.conn.execute("PRAGMA " + pragma)
        if not reverse_index:
            self.conn.execute("DROP INDEX dataset_input_input")
        self.make_id = make_id
        self.tags = tags
        self.count = 100  # past visit 0, where the inputs are
        self.inputs = [self.put(False, visit=0, detector=k) for k in range(3)]

    def put(self, edges: bool, visit: int | None = None, detector: int | None = None) -> str:
        """The rows of one put, in one transaction; returns the new ID (hex, as the registry stores it)."""
        new = self.make_id().hex
        if visit is None or detector is None:
            visit, detector = divmod(self.count, 100)
            self.count += 1
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        now = time.time_ns()
        c.execute("INSERT INTO dataset (id, dataset_type_id, run_id, ingest_date) VALUES (?, 1, 1, ?)", (new, now))
        c.execute(
            f'INSERT INTO "{self.tags}" (dataset_type_id, collection_id, dataset_id, instrument, detector, visit) '
            "VALUES (1, 1, ?, 'Cam', ?, ?)",
            (new, detector, visit),
        )
        c.execute(
            "INSERT INTO datastore_record (dataset_id, component, datastore, path, formatter, storage_class, "
            "file_size, checksum) VALUES (?, '', '', ?, 'json', 'StructuredDataDict', 7, ?)",
            (new, f"bench/put/meta/Cam/{visit}/meta_Cam_{detector}_{visit}.json", "xxh3_128:" + "0" * 32),
        )
        if edges:
            a, b, d = self.inputs
            c.execute(EDGES, (now, new, a, new, b, new, d))
        c.execute("COMMIT")
        return new


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=3000, help="puts of each kind per variant")
    args = parser.parse_args()
    n = args.puts
    with tempfile.TemporaryDirectory() as tmp:
        butler = Butler(Butler.create(Path(tmp) / "repo"), run="bench/put")
        populate_sample(butler, n_visits=2 * n // 100 + 3, n_detectors=100)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        tags = butler.registry.dataset_types.resolve("meta")[0].tags.name
        butler.close()
        source = Path(tmp) / "repo" / "registry.sqlite3"
        variants: dict[str, Variant] = {}
        for name, make_id, reverse_index in (
            ("uuid4", uuid.uuid4, True),
            ("uuidv7", random_dataset_id, True),
            ("uuidv7, no reverse index", random_dataset_id, False),
        ):
            copy = Path(tmp) / f"{len(variants)}.sqlite3"
            shutil.copy(source, copy)
            variants[name] = Variant(copy, make_id, tags, reverse_index)
        order = [(name, edges) for name in variants for edges in (False, True)]
        cpu = dict.fromkeys(order, 0.0)
        for k in range(n):
            for key in order[k % len(order) :] + order[: k % len(order)]:
                start = time.process_time()
                variants[key[0]].put(key[1])
                cpu[key] += time.process_time() - start
        for name, variant in variants.items():
            plain, with_edges = cpu[name, False] * 1e6 / n, cpu[name, True] * 1e6 / n
            print(
                f"{name:26s} plain {plain:6.1f} µs, with 3 edges {with_edges:6.1f} µs: "
                f"+{with_edges - plain:5.1f} µs ({with_edges / plain:.3f}x)"
            )
            variant.conn.close()
    print(f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
