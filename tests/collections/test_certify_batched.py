"""A certify checks the overlaps of all its datasets in one statement and inserts them in one (issue 26 part 3)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.registry._statements import round_trips, statements

from skybutler.butler import DirectButler
from skybutler.datasets import DatasetRef
from skybutler.dimensions import Timespan, to_tai_ns

DAY = 86_400 * 10**9
S = to_tai_ns("2025-01-01T00:00:00 TAI")


def _setup(butler: DirectButler, n_detectors: int) -> None:
    """Instrument ``Big`` with ``n_detectors`` detectors, dataset type ``bias`` and CALIBRATION ``calib``."""
    insert = butler.registry.insert_dimension_records
    insert("instrument", [{"name": "Big", "detector_max": n_detectors, "visit_max": 10, "exposure_max": 10,
                           "class_name": "test.Big"}])  # fmt: skip
    insert("detector", [{"instrument": "Big", "id": d, "full_name": f"D{d}"} for d in range(n_detectors)])
    butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
    butler.collections.register("calib", "CALIBRATION")


def _biases(butler: DirectButler, n: int, run: str) -> list[DatasetRef]:
    items = [({"detector": d}, {"instrument": "Big", "detector": d}) for d in range(n)]
    return butler.put_many(items, "bias", run=run)


def _span(begin: int, end: int) -> Timespan:
    return Timespan(S + begin, S + end)


@contextmanager
def _wire(butler: DirectButler) -> Iterator[list[str]]:
    """PostgreSQL's round trips (`round_trips`); nothing on SQLite."""
    if butler.registry.db.dialect != "postgresql":
        yield []
        return
    with round_trips(butler.registry.db) as trips:
        yield trips


def _starts(sent: list[str], verb: str) -> list[str]:
    return [s for s in sent if s.lstrip().upper().startswith(verb)]


def test_certify_sends_as_many_statements_for_many_datasets_as_for_few(butler: DirectButler) -> None:
    _setup(butler, 60)
    few, many = _biases(butler, 3, "few"), _biases(butler, 60, "many")
    postgres = butler.registry.db.dialect == "postgresql"
    counts = []
    for refs, epoch in ((few, 0), (many, 1), (many, 2), (few, 3)):  # later epochs: overlaps checked, none found
        with statements(butler.registry.db) as sent, _wire(butler) as trips:
            butler.collections.certify("calib", refs, _span(epoch * DAY, (epoch + 1) * DAY))
        if postgres:  # (the insert goes with the COMMIT, past SQLAlchemy's events: counted on the wire)
            counts.append(len(trips))
            assert len(trips) == 2, trips
            assert trips[1].endswith("COMMIT"), trips
            assert trips[1] != "COMMIT", trips  # the insert went with it
        else:
            counts.append(len(sent))
            assert len(_starts(sent, "INSERT")) == 1, sent
    assert counts[1] == counts[0], counts  # 60 datasets: not one statement more than for 3
    # a replacing certify finds the overlapping rows of all 60 in one query, closes them in one update
    with statements(butler.registry.db) as sent, _wire(butler) as trips:
        butler.collections.certify("calib", many, _span(DAY // 2, 3 * DAY // 2), replace=True)
    assert len(_starts(sent, "UPDATE")) == 1, sent
    if postgres:  # BEGIN, lock and read; the update; the insert with the COMMIT
        assert len(trips) == counts[0] + 1, trips
        assert trips[-1].endswith("COMMIT"), trips
        assert trips[-1] != "COMMIT", trips
    else:
        assert len(_starts(sent, "INSERT")) == 1, sent
        assert counts[0] == len(sent) - 1, (counts, sent)  # the update is the only statement added

    def current(detector: int) -> list[tuple[int, int, str]]:
        rows = butler.collections.history("calib", "bias", {"instrument": "Big", "detector": detector})
        runs = {r.id: r.run for r in few + many}
        spans = [(r.valid.to_db(), runs[r.dataset_id]) for r in rows if r.recorded.end is None]
        return sorted((begin - S, end - S, run) for (begin, end), run in spans)

    # detector 1 had few's epoch 0: trimmed to its first half; many's epoch 1 trimmed to its second half
    assert current(1) == [(0, DAY // 2, "few"), (DAY // 2, 3 * DAY // 2, "many"), (3 * DAY // 2, 2 * DAY, "many"),
                          (2 * DAY, 3 * DAY, "many"), (3 * DAY, 4 * DAY, "few")]  # fmt: skip
    # detector 7 only ever had many's epochs
    assert current(7) == [(DAY // 2, 3 * DAY // 2, "many"), (3 * DAY // 2, 2 * DAY, "many"), (2 * DAY, 3 * DAY, "many")]
    found = butler.find_dataset("bias", {"instrument": "Big", "detector": 1}, collections="calib", at=S + DAY // 4)
    assert found is not None
    assert found.run == "few"


def test_certify_of_a_thousand_datasets_is_quick_on_sqlite(butler: DirectButler) -> None:
    _setup(butler, 1000)
    refs = _biases(butler, 1000, "thousand")
    butler.collections.certify("calib", refs, _span(0, DAY))  # the first call compiles the statements
    # this thread's CPU: SQLite runs in it, and the put's background checkpoint (another thread) is not certify's
    postgres = butler.registry.db.dialect == "postgresql"
    with statements(butler.registry.db) as sent, _wire(butler) as trips:
        start_cpu, start = time.thread_time(), time.perf_counter()
        butler.collections.certify("calib", refs, _span(DAY, 2 * DAY))
        cpu, wall = time.thread_time() - start_cpu, time.perf_counter() - start
    if postgres:  # BEGIN, the lock and the one read in one round trip (psycopg's own, past SQLAlchemy's events);
        # then the insert with the COMMIT in another
        assert len(trips) == 2, trips
        assert trips[0].count("SELECT") == 2, trips
        assert trips[1].endswith("COMMIT"), trips
        assert trips[1] != "COMMIT", trips
    else:
        assert (len(_starts(sent, "SELECT")), len(_starts(sent, "INSERT"))) == (1, 1), sent  # 1000: one read
    assert len(butler.collections.history("calib", "bias")) == 2000
    if butler.registry.db.dialect == "sqlite":  # issue 26: 1000 refs per call within 0.1 s
        assert cpu < 0.1, f"certify of 1000 datasets took {cpu:.3f} s CPU ({wall:.3f} s wall)"


def test_certify_reads_once_and_writes_once(butler: DirectButler) -> None:
    """One statement finds the overlaps, the latest transaction time and the registered IDs; one inserts."""
    _setup(butler, 10)
    refs = _biases(butler, 10, "ten")
    butler.collections.certify("calib", refs[:1], _span(0, DAY))  # the first call builds the statement
    with statements(butler.registry.db) as sent, _wire(butler) as trips:
        butler.collections.certify("calib", refs, _span(DAY, 2 * DAY))
    verbs = [s.split()[0].upper() for s in sent]
    if butler.registry.db.dialect == "postgresql":
        # BEGIN, the advisory lock that serializes certifiers of the collection (SQLite's BEGIN IMMEDIATE) and the
        # one read go in one round trip (was three); then the insert and COMMIT in one more (was two)
        assert len(trips) == 2, trips
        assert "pg_advisory_xact_lock" in trips[0], trips
        assert "UNION ALL" in trips[0].upper() or trips[0].count(";") == 2, trips  # (a prepared read shows its name)
        assert verbs == [], sent  # (all of it is psycopg's, past SQLAlchemy's events)
        assert trips[1].endswith("COMMIT"), trips
        assert trips[1] != "COMMIT", trips  # the insert went with it (its text, or its name once prepared)
    else:
        assert verbs == ["BEGIN", "SELECT", "INSERT", "COMMIT"], sent
        assert "UNION ALL" in sent[-3].upper(), sent  # the one read holds the overlaps, latest times and known IDs
    assert len(butler.collections.history("calib", "bias")) == 11
