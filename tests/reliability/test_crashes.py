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

from skybutler.testing.crash import OPERATIONS, crash_once, plan_kill, prepare_repository, run_name, sources_dir
from skybutler.testing.invariants import check_repository, check_sources

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
