"""The scale-out commands: plan, run-plan, merge."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run

from skybutler.butler import Butler
from skybutler.testing.scaleout import populate_scaleout


def test_plan_run_and_merge_from_the_command_line(run: Run, tmp_path: Path) -> None:
    root = Butler.create(tmp_path / "repo")
    with Butler(root, run="w1/in") as butler:
        populate_scaleout(butler, n_visits=3, n_detectors=2)
    manifest = str(tmp_path / "w1.manifest")
    planned = run("plan", root, "meta", manifest, "--output", "summary:instrument,visit,detector", "--run", "w1/out",
                  "--input", "bias", "--collections", "w1/inputs", "--where", "visit < 2")  # fmt: skip
    assert planned.exit_code == 0, planned.output
    assert planned.stdout.startswith("Planned 4 task(s) writing into 'w1/out'")
    ran = run("run-plan", root, manifest, "skybutler.testing.scaleout:summarize", "--engine", "local", "--format",
              "json")  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert '"what": "registered",\n    "count": 4' in ran.stdout
    again = run("merge", root, manifest, "--format", "json")  # the records were consumed: nothing to add
    assert again.exit_code == 0
    assert '"what": "registered",\n    "count": 0' in again.stdout
    with Butler(root) as butler:
        assert len(list(butler.query_datasets("summary", collections="w1/out"))) == 4


def test_run_plan_names_a_function_it_cannot_import(run: Run, tmp_path: Path) -> None:
    root = Butler.create(tmp_path / "repo")
    with Butler(root, run="w1/in") as butler:
        populate_scaleout(butler, n_visits=1, n_detectors=1)
    manifest = str(tmp_path / "w1.manifest")
    run("plan", root, "meta", manifest, "-o", "summary", "--run", "w1/out", "-c", "w1/in")
    result = run("run-plan", root, manifest, "no_such_module:f")
    assert result.exit_code == 1
    assert "Cannot import no_such_module:f" in result.stderr
