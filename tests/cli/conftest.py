"""Fixtures for the command-line tests: a sample repository, and running the CLI in process or as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from skybutler.butler import Butler
from skybutler.cli._main import cli
from skybutler.testing.sample import populate_sample

SRC = str(Path(__file__).parents[2] / "src")

Run = Callable[..., Result]


def fill(root: str) -> None:
    """Sample instrument (4 visits x 2 detectors); 'meta' in run1 for every data ID, 'image' for visits 0-1;
    a calibration type 'bias' per detector in calib/run1."""
    with Butler(root, run="run1") as butler:
        populate_sample(butler, n_visits=4, n_detectors=2)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        butler.register_dataset_type("image", ["instrument", "visit", "detector"], "NumpyArray")
        butler.register_dataset_type("bias", ["instrument", "detector"], "NumpyArray", is_calibration=True)
        for visit in range(4):
            for detector in range(2):
                data_id = {"instrument": "Cam", "visit": visit, "detector": detector}
                butler.put({"visit": visit, "detector": detector}, "meta", data_id)
                if visit < 2:
                    butler.put(np.zeros(4), "image", data_id)
        for detector in range(2):
            butler.put(np.ones(4), "bias", instrument="Cam", detector=detector, run="calib/run1")


@pytest.fixture
def sample_repo(tmp_path: Path) -> str:
    """A SQLite repository with the sample data of `fill`."""
    root = Butler.create(tmp_path / "repo")
    fill(root)
    return root


@pytest.fixture
def any_repo(repo: str) -> str:
    """The sample data in a repository on each registry back-end (SQLite and PostgreSQL)."""
    fill(repo)
    return repo


@pytest.fixture
def run() -> Run:
    """Invoke the CLI in process; stdout and stderr are kept apart (``result.stdout``, ``result.stderr``)."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


def run_process(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m skybutler.cli ARGS`` as a real process on this source tree (no terminal: no progress)."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "skybutler.cli", *args], capture_output=True, text=True, env=env, input=input,
        check=False, timeout=120,
    )  # fmt: skip
