"""``skybutler demo``: the first command a new user runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from skybutler.butler import DirectButler
from skybutler.cli._main import cli


def test_demo_creates_a_repository_and_round_trips(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", str(root)])
    assert result.exit_code == 0, result.output
    assert "Created a repository" in result.output
    assert "Got meta {'visit': 3, 'detector': 1" in result.output
    assert "(64, 64) float64" in result.output
    assert "read back from FITS" in result.output  # the README's first command shows a FITS round trip
    assert result.output.rstrip().endswith(".fits")
    with DirectButler(root, collections="demo/run1") as butler:
        assert butler.registry.datasets.count() == 16
        assert butler.get("meta", instrument="Cam", visit=0, detector=0)["visit"] == 0


def test_demo_twice_reuses_the_repository(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    CliRunner().invoke(cli, ["demo", str(root)])
    result = CliRunner().invoke(cli, ["demo", str(root)])
    assert result.exit_code == 0, result.output
    assert "Using the existing repository" in result.output


def test_demo_as_a_process(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "skybutler.cli", "demo", str(root)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (root / "butler.yaml").exists()


def test_errors_are_one_line_with_the_error_exit_code(tmp_path: Path) -> None:
    (tmp_path / "butler.yaml").write_text("registry: {bogus: 1}\n")
    done = subprocess.run(
        [sys.executable, "-m", "skybutler.cli", "demo", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error [config]:")
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
