"""What a caller may see: readable collections, chain trees without the hidden members, and counts.

A collection the caller may not read is never named on a page.  Where one is left out, a page may say how many
were (a count at most), as the API's query notes do.  Repository-wide counts are computed with one grouped
query per table and kept for `COUNTS_TTL` seconds, so the home page of a repository with millions of datasets
does not scan the dataset table on every visit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from skybutler.dimensions import TIMESPAN_MAX
from skybutler.registry import CollectionType

if TYPE_CHECKING:
    from skybutler.butler import DirectButler
    from skybutler.registry import CollectionRecord
    from skybutler.server._auth import Caller

__all__ = [
    "COUNTS_TTL", "COUNT_CAP", "ChainNode", "chain_tree", "counts_by_type", "readable", "repository_counts", "run_size",
    "scrub",
]  # fmt: skip

COUNTS_TTL = 30.0
"""Seconds a repository's counts are reused before they are computed again."""

MAX_TREE_DEPTH = 12


def readable(butler: DirectButler, caller: Caller) -> tuple[list[CollectionRecord], int]:
    """The collections the caller may read (by name), and how many others there are."""
    records = butler.registry.collections.all()
    kept = [r for r in records if caller.may("read", r.name)]
    return sorted(kept, key=lambda r: r.name), len(records) - len(kept)


def scrub(butler: DirectButler, caller: Caller, messages: list[str]) -> list[str]:
    """``messages`` without any that names a collection the caller may not read (a registry's explanation
    may say where else a dataset is)."""
    hidden = [r.name for r in butler.registry.collections.all() if not caller.may("read", r.name)]
    return [m for m in messages if not any(name in m for name in hidden)]


@dataclass
class ChainNode:
    """A collection in a chain's tree: its readable children, and how many children are hidden."""

    name: str
    type: str
    children: list[ChainNode] = field(default_factory=list)
    hidden: int = 0


def chain_tree(butler: DirectButler, caller: Caller, name: str, _depth: int = 0) -> ChainNode:
    """The tree of a readable collection: a chain's readable members, recursively (hidden ones only counted)."""
    record = butler.registry.collections.get(name)
    node = ChainNode(record.name, record.type.name)
    if record.type is CollectionType.CHAINED and _depth < MAX_TREE_DEPTH:
        for child in butler.registry.collections.children(name):
            if caller.may("read", child):
                node.children.append(chain_tree(butler, caller, child, _depth + 1))
            else:
                node.hidden += 1
    return node


@dataclass(frozen=True)
class RepositoryCounts:
    """Counts of a repository as one caller may see them."""

    dataset_types: int
    datasets: int
    """Datasets in the RUNs the caller may read."""
    dimension_records: int
    computed: float


_lock = threading.Lock()
_cache: dict[tuple[str, int | None], RepositoryCounts] = {}


def repository_counts(butler: DirectButler, readable_runs: list[int] | None) -> RepositoryCounts:
    """Counts of dataset types, of the datasets in ``readable_runs`` (None: every run) and of dimension records,
    reused for `COUNTS_TTL` seconds.

    Every run readable: one ``count(*)`` of the dataset table.  Otherwise the readable runs' index ranges are
    counted, so a caller who reads little costs little.
    """
    key = (butler.root, None if readable_runs is None else hash(tuple(sorted(readable_runs))))
    with _lock:
        cached = _cache.get(key)
    if cached is not None and time.monotonic() - cached.computed < COUNTS_TTL:
        return cached
    registry = butler.registry
    d = registry.tables.dataset
    with registry.db.transaction(write=False) as conn:
        if readable_runs is None:
            n_datasets = int(conn.execute(sa.select(sa.func.count()).select_from(d)).scalar_one())
        else:
            n_datasets = 0
            for start in range(0, len(readable_runs), 500):
                chunk = readable_runs[start : start + 500]
                stmt = sa.select(sa.func.count()).select_from(d).where(d.c.run_id.in_(chunk))
                n_datasets += int(conn.execute(stmt).scalar_one())
        n_types = int(conn.execute(sa.select(sa.func.count()).select_from(registry.tables.dataset_type)).scalar_one())
        n_records = 0
        for name in registry.dimension_tables:
            table = registry.dimension_tables[name]
            n_records += int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    counts = RepositoryCounts(n_types, n_datasets, n_records, time.monotonic())
    with _lock:
        _cache[key] = counts
    return counts


def run_size(butler: DirectButler, run_id: int) -> int:
    """How many datasets a RUN holds, up to `COUNT_CAP` + 1 (one index range)."""
    d = butler.registry.tables.dataset
    rows = sa.select(sa.literal(1)).select_from(d).where(d.c.run_id == run_id).limit(COUNT_CAP + 1).subquery()
    with butler.registry.db.transaction(write=False) as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(rows)).scalar_one())


COUNT_CAP = 10_000
"""Counts of one dataset type in one collection stop here (shown as "10000+"): each is then an index range of at
most this many entries, so a collection page costs the same for a run of a thousand datasets or of a million."""


def counts_by_type(butler: DirectButler, record: CollectionRecord) -> dict[str, int]:
    """How many datasets of each type a RUN, TAGGED or CALIBRATION (current certifications) collection holds,
    each up to `COUNT_CAP` + 1 (more than the cap reads as "at least")."""
    registry = butler.registry
    out: dict[str, int] = {}
    d = registry.tables.dataset
    with registry.db.transaction(write=False) as conn:
        for stored in registry.dataset_types.all():
            if record.type is CollectionType.RUN:
                where = [d.c.run_id == record.id, d.c.dataset_type_id == stored.id]
                rows = sa.select(sa.literal(1)).select_from(d).where(*where)
            elif record.type is CollectionType.CALIBRATION:
                if stored.calibs is None:
                    continue
                c = stored.calibs.c
                where = [c.dataset_type_id == stored.id, c.collection_id == record.id, c.recorded_end == TIMESPAN_MAX]
                rows = sa.select(sa.literal(1)).select_from(stored.calibs).where(*where)
            else:
                t = stored.tags.c
                rows = sa.select(sa.literal(1)).where(t.dataset_type_id == stored.id, t.collection_id == record.id)
            capped = rows.limit(COUNT_CAP + 1).subquery()
            n = int(conn.execute(sa.select(sa.func.count()).select_from(capped)).scalar_one())
            if n:
                out[stored.dataset_type.name] = n
    return dict(sorted(out.items()))
