"""Writers killed with SIGKILL at random points of every write operation leave a repository reconcile repairs.

Each case creates a repository (SQLite or PostgreSQL registry; local or S3 storage) and, ``KILLS_PER_CASE``
times, runs a real child process doing put, put_many, ingest (copy or move), import, remove or certify until
it is killed -- from inside at a chosen storage or registry step, or by the parent after a random delay
(`skybutler.testing.crash`) -- then reconciles and checks every invariant
(`skybutler.testing.invariants.check_repository`): nothing registered is lost or reads another dataset's
bytes, no unknown, staging or outside artifact is left, the registry is consistent.  Certification touches
no storage, so it runs on local storage only.
"""

from __future__ import annotations

import os
import random
import zlib
from pathlib import Path
from typing import Any

import pytest

from skybutler.butler import Butler
from skybutler.testing.crash import OPERATIONS, Kill, crash_once, plan_kill, prepare_repository, run_name, sources_dir
from skybutler.testing.invariants import DATASET_TYPE, check_repository, check_sources, content_for

KILLS_PER_CASE = int(os.environ.get("SKYBUTLER_CRASH_KILLS", "2"))
"""Kills per (operation, registry, storage) case in CI (the budget); raise it locally to hunt longer."""
CRASH_SEED = int(os.environ.get("SKYBUTLER_CRASH_SEED", "17"))
"""Base seed of the crash plans; each case derives its own from it and its name, so a failure reproduces."""

CASES = [
    pytest.param(op, storage, id=f"{op}-{storage}", marks=[pytest.mark.s3] if storage == "s3" else [])
    for op in OPERATIONS
    for storage in ("local", "s3")
    if not (op == "certify" and storage == "s3")
]


@pytest.mark.parametrize(("op", "storage"), CASES, indirect=["storage"])
def test_killed_writers_leave_a_repository_reconcile_repairs(
    op: str, storage: dict[str, Any], registry_url: tuple[str, str | None], tmp_path: Path
) -> None:
    url, schema = registry_url
    root = prepare_repository(
        tmp_path / "repo",
        registry=None if url.startswith("sqlite") else url,
        schema=schema,
        datastore=storage,
    )
    case = f"{op}-{'sqlite' if schema is None else 'postgres'}-{'s3' if storage else 'local'}"
    rng = random.Random(CRASH_SEED * 1_000_003 + zlib.crc32(case.encode()))
    for round_ in range(KILLS_PER_CASE):
        kill = plan_kill(op, round_, rng)
        crash_once(root, tmp_path, kill)
        report = check_repository(root)
        if op.startswith("ingest"):
            lost = check_sources(root, sources_dir(tmp_path, op, round_), run_name(op, round_))
            assert lost == 0, f"{kill}: {lost} source file(s) gone without their dataset registered"
    if op == "certify":
        assert report.certifications > 0, "the certifiers should have left certifications behind"
    else:
        assert report.datasets > 0, "the writers should have left datasets behind"


def test_a_put_killed_before_its_rename_keeps_its_bytes_when_a_twin_run_takes_the_path(
    registry_url: tuple[str, str | None], tmp_path: Path
) -> None:
    """Issue 17 item 1, the crash case: runs ``r_0`` and ``r__0`` must never share a path.

    The writer dies just after the registry commit (its dataset insert), before it drops its staging name; a
    put into the twin run then renders its path.  After reconcile each dataset must read back its own object.
    """
    url, schema = registry_url
    registry = None if url.startswith("sqlite") else url
    root = prepare_repository(tmp_path / "repo", registry=registry, schema=schema)
    # the registration commits the dataset with its provenance in one transaction, so the writer dies at its
    # first step after that commit: dropping its staging name
    crash_once(root, tmp_path, Kill("put", 0, 1, at_call=1, after=False, step="unlink"))
    run = run_name("put", 0)
    twin = run.replace("_", "__")
    data_id = {"instrument": "Cam", "visit": 0, "detector": 0}
    with Butler(root, run=twin) as butler:
        staged = butler.find_dataset(DATASET_TYPE, data_id, collections=run)
        assert staged is not None, "the writer should have died after registering its dataset"
        butler.put(content_for(twin, visit=0, detector=0), DATASET_TYPE, data_id)
    check_repository(root)
