"""No two datasets ever share an artifact: hostile names through real puts, racing writers, crashes, clean-ups.

Issue 17 items 1, 3 and 5: rendering is injective (runs ``a_b``/``a__b``, filters ``F``/``F_``, reserved and
over-long names), a put claims its final path before registering so racing or crashed writers never adopt or
overwrite each other's bytes, and removing empty directories never fails a concurrent put.  Every test runs on
SQLite and PostgreSQL; those about claims run on S3 (moto's server on loopback) too.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybutler.butler import DirectButler
from skybutler.config import DEFAULT_TEMPLATE
from skybutler.errors import CollectionError
from skybutler.testing.fixtures import datastore_repo
from skybutler.testing.sample import populate_sample

pytestmark = pytest.mark.slow

HOSTILE = [
    "a_b", "a__b", "a_", "F", "F_", "a/b", "a%5Fb", ".staging", "butler.yaml", "registry.sqlite3",
    "registry.sqlite3-wal", "registry.sqlite3-journal", "ü" * 43, "x" * 256, "y" * 250 + "_", "a.b", "~",
]  # fmt: skip
NAMES = st.one_of(st.sampled_from(HOSTILE), st.text(alphabet="ab_/%.ü~-", min_size=1, max_size=8))
FILTERS = NAMES.filter(lambda name: len(name) <= 32)  # physical_filter.name is at most 32 characters
#: Two dataset types whose own template renders one path for one data ID: only the claim keeps them apart.
TWIN = "{run}/twin/{instrument}_{visit}_{detector}"
TEMPLATES = {"default": DEFAULT_TEMPLATE, "ma": TWIN, "mb": TWIN}


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def repo(request: pytest.FixtureRequest, registry_url: tuple[str, str | None], tmp_path: Path) -> str:
    """A repository (SQLite or PostgreSQL registry; local or S3 files) where ``ma`` and ``mb`` collide."""
    root = datastore_repo(request, registry_url, tmp_path / "repo", request.param)
    _set_templates(root)
    with DirectButler(root, run="setup") as b:
        populate_sample(b, n_visits=400, n_detectors=2)
    with DirectButler(root, run="setup") as b:
        for name in ("meta", "ma", "mb"):
            b.register_dataset_type(name, ["instrument", "visit", "detector"], "StructuredDataDict")
        b.register_dataset_type("flat", ["instrument", "physical_filter"], "StructuredDataDict")
    return root


def _set_templates(root: str) -> None:
    """Write the twin templates into butler.yaml (the repository's configuration is read by every process)."""
    import yaml

    path = Path(root) / "butler.yaml"
    config = yaml.safe_load(path.read_text())
    config.setdefault("datastore", {})["templates"] = TEMPLATES
    path.write_text(yaml.safe_dump(config))


def _artifacts(butler: DirectButler) -> dict[str, Any]:
    """URI → object for every dataset of the repository, failing on two datasets sharing an artifact."""
    seen: dict[str, Any] = {}
    for ref in butler.query_datasets("*", collections="*", find_first=False):
        uri = butler.get_uri(ref)
        assert uri not in seen, f"{ref} shares {uri}"
        seen[uri] = butler.get(ref)
    return seen


def _check_clean(butler: DirectButler) -> None:
    report = butler.reconcile(grace_seconds=0)
    assert (report.problems, report.unknown, report.missing) == ([], [], [])
    verified = butler.verify()
    assert (verified.missing, verified.corrupt, verified.unknown) == ([], [], [])


# -- hostile names ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("repo", ["file"], indirect=True)
def test_hostile_names_never_share_an_artifact(repo: str) -> None:
    seen: set[tuple[str, str]] = set()
    runs: set[str] = set()

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(pairs=st.lists(st.tuples(NAMES, FILTERS), min_size=1, max_size=6, unique=True))
    def put_them(pairs: list[tuple[str, str]]) -> None:
        with DirectButler(repo, writeable=True) as b:
            for run, band_filter in pairs:
                if (run, band_filter) in seen:
                    continue
                try:
                    b.collections.register(run, "RUN")
                except CollectionError:  # a name the registry refuses: nothing registered, nothing to check
                    continue
                b.registry.insert_dimension_records(
                    "physical_filter", [{"instrument": "Cam", "name": band_filter, "band": "r"}], skip_existing=True
                )
                b.put({"run": run, "f": band_filter}, "flat", instrument="Cam", physical_filter=band_filter, run=run)
                if run not in runs:
                    b.put({"run": run}, "meta", instrument="Cam", visit=1, detector=1, run=run)
                    runs.add(run)
                seen.add((run, band_filter))

    put_them()
    with DirectButler(repo, writeable=True) as b:
        objects = list(_artifacts(b).values())
        for run, band_filter in seen:
            assert {"run": run, "f": band_filter} in objects
            assert {"run": run} in objects
        _check_clean(b)


# -- racing writers, crashes -----------------------------------------------------------------------------------
def _racer(root: str, name: str, trials: int, barrier: Any, errors: Any) -> None:
    try:
        with DirectButler(root, run="race") as b:
            for t in range(trials):
                barrier.wait(60)
                b.put({"who": name, "t": t}, name, instrument="Cam", visit=t, detector=0)
    except BaseException as exc:  # report everything to the parent
        errors.put(f"{name}: {type(exc).__name__}: {exc}")


def test_racing_writers_of_one_path_each_keep_their_own_bytes(repo: str) -> None:
    trials = 15
    ctx = mp.get_context("spawn")
    barrier, errors = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(repo, name, trials, barrier, errors)) for name in ("ma", "mb")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    with DirectButler(repo, writeable=True) as b:
        for name in ("ma", "mb"):
            for t in range(trials):
                assert b.get(name, instrument="Cam", visit=t, detector=0, collections="race") == {"who": name, "t": t}
        assert len(_artifacts(b)) == 2 * trials
        _check_clean(b)


def _dies_after_commit(root: str) -> None:
    from skybutler.datastore import _file_datastore

    def die(self: object, staged: object) -> None:  # the process dies after the registry commit, before promote
        os._exit(137)

    _file_datastore.FileDatastore.promote_many = die  # type: ignore[method-assign]
    with DirectButler(root, run="crash") as b:
        b.put({"who": "first"}, "ma", instrument="Cam", visit=1, detector=1)


def test_a_crash_between_commit_and_promote_never_lets_another_put_take_the_file(repo: str) -> None:
    p = mp.get_context("spawn").Process(target=_dies_after_commit, args=(repo,))
    p.start()
    p.join(120)
    assert p.exitcode == 137
    with DirectButler(repo, run="crash") as b:
        b.put({"who": "second"}, "mb", instrument="Cam", visit=1, detector=1)
    with DirectButler(repo, writeable=True) as b:
        _check_clean(b)
        assert b.get("ma", instrument="Cam", visit=1, detector=1, collections="crash") == {"who": "first"}
        assert b.get("mb", instrument="Cam", visit=1, detector=1, collections="crash") == {"who": "second"}
        assert len(_artifacts(b)) == 2


# -- clean-ups racing puts (item 5) ---------------------------------------------------------------------------
def _cycler(root: str, worker: int, seconds: float, errors: Any) -> None:
    """Put then remove, over and over, in the directories the other worker uses too."""
    try:
        deadline = time.monotonic() + seconds
        with DirectButler(root, run="cycle") as b:
            n = 0
            while time.monotonic() < deadline:
                ref = b.put({"n": n}, "meta", instrument="Cam", visit=2 * (n % 100) + worker, detector=1)
                b.remove([ref])
                n += 1
    except BaseException as exc:  # report everything to the parent
        errors.put(f"worker {worker}: {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("repo", ["file"], indirect=True)
def test_removing_empty_directories_never_fails_a_concurrent_put(repo: str) -> None:
    ctx = mp.get_context("spawn")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_cycler, args=(repo, w, 15.0, errors)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    with DirectButler(repo, writeable=True) as b:
        _check_clean(b)
        assert (Path(repo) / ".staging").is_dir()
