"""Real processes writing one repository at once: eight writers lose nothing; racers for one dataset, one wins.

Eight writer processes put (one by one and in batches) distinct datasets into one run and remove some of
their own, on SQLite and PostgreSQL: afterwards the registry holds exactly the datasets each kept, and every
one reads back as written.  Several processes putting the *same* dataset type, data ID and run at the same
moment (released by a barrier): exactly one gets a ref, every other one a `ConflictError` -- never a
`StorageError`, never a half-written state -- on both registries and on S3.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from skybutler.butler import Butler
from skybutler.errors import ConflictError
from skybutler.testing.crash import prepare_repository
from skybutler.testing.invariants import DATASET_TYPE, check_repository, content_for

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier

WRITERS = 8
VISITS = 40  # per writer: 20 single puts, 20 in batches of 5; a third removed
RACERS = 6
RACE_ROUNDS = 8
RUN = "concurrent"


def _writer(root: str, writer: int, barrier: Barrier, results: mp.Queue[tuple[int, Any]]) -> None:
    """Put visits 0-19 one by one and 20-39 in batches (detector = ``writer``), remove every third; report."""
    try:
        with Butler(root, run=RUN) as butler:
            barrier.wait(120)
            refs = []
            for visit in range(VISITS // 2):
                data_id = {"visit": visit, "detector": writer}
                obj = content_for(RUN, **data_id)
                refs.append(butler.put(obj, DATASET_TYPE, {"instrument": "Cam", **data_id}))
            for start in range(VISITS // 2, VISITS, 5):
                ids = [{"visit": v, "detector": writer} for v in range(start, start + 5)]
                refs += butler.put_many(
                    [(content_for(RUN, **d), {"instrument": "Cam", **d}) for d in ids], DATASET_TYPE
                )
            gone = [ref for ref in refs if ref.data_id["visit"] % 3 == 0]
            assert butler.remove(gone) == len(gone)
            results.put((writer, sorted(int(r.data_id["visit"]) for r in refs if r not in gone)))
    except BaseException as exc:  # report everything to the parent
        results.put((writer, f"{type(exc).__name__}: {exc}"))


def _run(target: Any, n: int, args: tuple[Any, ...]) -> dict[int, Any]:
    """Start ``n`` processes of ``target(*args, i, barrier, results)``; return each one's report."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(n)
    results: mp.Queue[tuple[int, Any]] = ctx.Queue()
    workers = [ctx.Process(target=target, args=(*args, i, barrier, results)) for i in range(n)]
    for w in workers:
        w.start()
    reports: dict[int, Any] = {}
    try:
        while len(reports) < n:
            i, report = results.get(timeout=300)
            reports[i] = report
    except queue.Empty:
        pytest.fail(f"only {sorted(reports)} of {n} processes reported")
    finally:
        for w in workers:
            w.join(60)
            if w.is_alive():
                w.kill()
    return reports


def _repository(tmp_path: Path, registry_url: tuple[str, str | None], datastore: dict[str, Any]) -> str:
    url, schema = registry_url
    registry = None if url.startswith("sqlite") else url
    return prepare_repository(tmp_path / "repo", registry=registry, schema=schema, datastore=datastore)


def test_eight_concurrent_writers_lose_nothing(registry_url: tuple[str, str | None], tmp_path: Path) -> None:
    root = _repository(tmp_path, registry_url, {})
    reports = _run(_writer, WRITERS, (root,))
    failures = {w: r for w, r in reports.items() if isinstance(r, str)}
    assert failures == {}
    with Butler(root, collections=RUN) as butler:
        found: dict[int, list[int]] = {}
        for ref in butler.query_datasets(DATASET_TYPE, collections=RUN):
            found.setdefault(int(ref.data_id["detector"]), []).append(int(ref.data_id["visit"]))
    assert {w: sorted(v) for w, v in found.items()} == reports
    assert sum(len(v) for v in reports.values()) == WRITERS * (VISITS - len(range(0, VISITS, 3)))
    report = check_repository(root, runs=[RUN])  # every one reads back as written; nothing left over
    assert report.datasets == sum(len(v) for v in reports.values())


def _racer(root: str, racer: int, barrier: Barrier, results: mp.Queue[tuple[int, Any]]) -> None:
    """Each round, put the round's one dataset together with every other racer; report what happened."""
    outcomes: list[str] = []
    try:
        with Butler(root, run=RUN) as butler:
            for round_ in range(RACE_ROUNDS):
                data_id = {"visit": round_, "detector": 0}
                barrier.wait(120)
                try:
                    obj = {**content_for(RUN, **data_id), "racer": racer}
                    ref = butler.put(obj, DATASET_TYPE, {"instrument": "Cam", **data_id})
                    outcomes.append(f"won {ref.id}")
                except ConflictError:
                    outcomes.append("conflict")
                except Exception as exc:  # anything else is the failure this test is for
                    outcomes.append(f"{type(exc).__name__}: {exc}")
        results.put((racer, outcomes))
    except BaseException as exc:
        barrier.abort()
        results.put((racer, f"{type(exc).__name__}: {exc}"))


@pytest.mark.parametrize("storage", ["local", pytest.param("s3", marks=pytest.mark.s3)], indirect=True)
def test_racing_puts_of_one_dataset_have_exactly_one_winner(
    storage: dict[str, Any], registry_url: tuple[str, str | None], tmp_path: Path
) -> None:
    root = _repository(tmp_path, registry_url, storage)
    reports = _run(_racer, RACERS, (root,))
    failures = {r: o for r, o in reports.items() if isinstance(o, str)}
    assert failures == {}
    with Butler(root, collections=RUN) as butler:
        for round_ in range(RACE_ROUNDS):
            outcomes = {racer: reports[racer][round_] for racer in reports}
            winners = [racer for racer, outcome in outcomes.items() if outcome.startswith("won")]
            assert len(winners) == 1, f"round {round_}: {outcomes}"
            others = {r: o for r, o in outcomes.items() if r != winners[0] and o != "conflict"}
            assert others == {}, f"round {round_}: losers must get ConflictError: {others}"
            ref = butler.find_dataset(DATASET_TYPE, instrument="Cam", visit=round_, detector=0)
            assert ref is not None
            assert outcomes[winners[0]] == f"won {ref.id}"
            assert butler.get(ref)["racer"] == winners[0], "the registered dataset holds the winner's object"
    check_repository(root, runs=[RUN])
