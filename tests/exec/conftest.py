"""A W1-shaped plan of 500 tasks on a fresh repository, on SQLite + files or PostgreSQL + S3."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybutler.butler import DirectButler
from skybutler.testing.fixtures import POSTGRES_URL, datastore_config, fresh_schema, require_postgres
from skybutler.testing.scaleout import populate_scaleout
from skybutler.workers import Manifest

N_VISITS = 50
N_DETECTORS = 10


def make_w1_plan(
    root: Path, *, postgres: bool, s3: tuple[str, str] | None, schema: str | None
) -> tuple[DirectButler, Manifest]:
    """A repository with W1's 500 ``meta`` datasets and a saved plan of one task per dataset."""
    config = {"datastore": datastore_config("s3", s3[0], s3[1])} if s3 else {}
    DirectButler.create(root / "repo", registry=POSTGRES_URL if postgres else None, schema=schema, config=config)
    butler = DirectButler(root / "repo", run="w1/in", collections="w1/inputs")
    populate_scaleout(butler, n_visits=N_VISITS, n_detectors=N_DETECTORS)
    plan = butler.plan_work("meta", outputs={"summary": ["instrument", "visit", "detector"]}, run="w1/out",
                            inputs=["bias"])  # fmt: skip
    plan.save(root / "w1.manifest")
    return butler, plan


@pytest.fixture
def w1_files(tmp_path: Path) -> tuple[DirectButler, Manifest]:
    """SQLite + files."""
    return make_w1_plan(tmp_path, postgres=False, s3=None, schema=None)


@pytest.fixture
def w1_postgres_s3(tmp_path: Path, s3_endpoint: str, s3_root: str) -> object:
    """PostgreSQL (a fresh schema) + S3 (moto's server on loopback)."""
    require_postgres()
    with fresh_schema(POSTGRES_URL) as schema:
        yield make_w1_plan(tmp_path, postgres=True, s3=(s3_root, s3_endpoint), schema=schema)
