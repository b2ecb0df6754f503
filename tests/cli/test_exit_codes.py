"""The exit-code audit (issue 19): every command, driven with hostile inputs, fails with exit 1 and one line
``error [code]: ...`` on stderr, never 70 (an internal error, a bug).

Hostile repositories: a missing path, a file, an empty folder, a folder whose butler.yaml is binary, or not
YAML, or YAML of the wrong kind.  Hostile input files, for the commands that read one: not UTF-8, empty,
binary.  Each command is given the arguments it needs besides these, so the hostile part is what fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.conftest import Run

from skybutler.cli._main import COMMANDS

#: Arguments after the repository, per command (``{file}``: the command's input file).
ARGS: dict[str, list[str]] = {
    "associate": ["tag", "meta", "--collections", "run1"],
    "cache": ["status"],
    "calibration-history": ["calib", "bias"],
    "certify-calibrations": ["calib/run1", "calib", "bias", "--begin", "2025-01-01", "--end", "2025-02-01"],
    "collection-chain": ["chain", "run1"],
    "config": [],
    "decertify": ["calib", "bias", "--begin", "2025-01-01", "--end", "2025-02-01", "--yes"],
    "disassociate": ["tag", "meta"],
    "export": ["{tmp}/out.zip"],
    "impact": ["--type", "meta", "-d", "instrument=Cam,visit=1,detector=1", "-c", "run1"],
    "import": ["{file}"],
    "ingest-files": ["{file}", "--dataset-type", "meta", "--run", "x"],
    "ingest-raws": ["{tmp}"],
    "insert-dimension-records": ["band", "{file}"],
    "invalidated": ["-c", "calib"],
    "lineage": ["0f290e1d-8e96-486f-aca4-dd5252dcb504"],
    "merge": ["{file}"],
    "logs": ["--type", "isr_log", "-d", "instrument=Cam,visit=1,detector=1", "-c", "run1"],
    "migrate": [],
    "missing": ["meta"],
    "plan": ["meta", "{tmp}/plan.manifest", "--output", "summary", "--run", "r"],
    "prune-datasets": ["meta", "--collections", "run1", "--yes"],
    "query-collections": [],
    "query-data-ids": ["visit"],
    "query-dataset-types": [],
    "query-datasets": [],
    "query-dimension-records": ["visit"],
    "reconcile": [],
    "register-dataset-type": ["t", "NumpyArray", "instrument"],
    "remove-collections": ["run1", "--yes"],
    "remove-dataset-type": ["meta", "--yes"],
    "remove-runs": ["run1", "--yes"],
    "retrieve-artifacts": ["{tmp}/out"],
    "run-info": ["run1"],
    "run-plan": ["{file}", "os:getcwd"],
    "serve": ["--port", "0"],
    "token": ["--user", "alice", "--grant", "read:*"],
    "verify": [],
}
#: Subcommands that come before the repository (``skybutler token create REPO ...``).
BEFORE_REPOSITORY: dict[str, list[str]] = {"token": ["create"]}
#: Commands whose first argument is not an existing repository (they make one), or that take none.
NOT_A_REPOSITORY = {"create", "demo", "completion", "transfer-datasets"}

HOSTILE_REPOSITORIES = ["missing", "a-file", "empty-folder", "binary-config", "broken-yaml", "list-yaml"]


def _hostile_repository(tmp_path: Path, kind: str) -> str:
    root = tmp_path / "hostile"
    if kind == "a-file":
        root.write_text("not a repository")
    elif kind != "missing":
        root.mkdir()
        config = root / "butler.yaml"
        if kind == "binary-config":
            config.write_bytes(b"\x00\xff\xfe binary")
        elif kind == "broken-yaml":
            config.write_text("registry: {db: [\n")
        elif kind == "list-yaml":
            config.write_text("- a\n- b\n")
    return str(root)


def _one_error_line(result: object, command: str) -> None:
    exit_code = getattr(result, "exit_code")  # noqa: B009
    stderr = getattr(result, "stderr")  # noqa: B009
    assert exit_code == 1, f"{command}: exit {exit_code}\n{stderr}"
    lines = stderr.splitlines()
    assert len(lines) == 1, f"{command}: {stderr}"
    assert lines[0].startswith("error ["), f"{command}: {stderr}"


def test_every_command_is_in_the_audit() -> None:
    assert set(COMMANDS) == set(ARGS) | NOT_A_REPOSITORY


@pytest.mark.parametrize("kind", HOSTILE_REPOSITORIES)
@pytest.mark.parametrize("command", sorted(ARGS))
def test_a_hostile_repository_is_one_error_line(run: Run, tmp_path: Path, command: str, kind: str) -> None:
    repo = _hostile_repository(tmp_path, kind)
    (tmp_path / "input.csv").write_text("name\nr\n")
    args = [a.format(tmp=tmp_path, file=tmp_path / "input.csv") for a in ARGS[command]]
    _one_error_line(run(command, *BEFORE_REPOSITORY.get(command, []), repo, *args), command)


@pytest.mark.parametrize("kind", HOSTILE_REPOSITORIES)
def test_transfer_between_hostile_repositories_is_one_error_line(
    run: Run, sample_repo: str, tmp_path: Path, kind: str
) -> None:
    hostile = _hostile_repository(tmp_path, kind)
    _one_error_line(run("transfer-datasets", hostile, sample_repo), "transfer-datasets from")
    _one_error_line(run("transfer-datasets", sample_repo, hostile), "transfer-datasets to")


@pytest.mark.parametrize(
    "content", [b"name\n\xffr\n", b"", b"\x00\x01\x02\xff\xfe\x89PNG\r\n"], ids=["latin1", "empty", "binary"]
)
@pytest.mark.parametrize("command", ["import", "ingest-files", "insert-dimension-records"])
def test_a_hostile_input_file_is_one_error_line(
    run: Run, sample_repo: str, tmp_path: Path, command: str, content: bytes
) -> None:
    for suffix in (".csv", ".yaml"):
        (tmp_path / f"input{suffix}").write_bytes(content)
    for suffix in (".csv", ".yaml"):
        args = [a.format(tmp=tmp_path, file=tmp_path / f"input{suffix}") for a in ARGS[command]]
        _one_error_line(run(command, sample_repo, *args), f"{command} {suffix}")


@pytest.mark.parametrize("where", ["{tmp}/a-file/repo", "", "{repo}/inner"])
@pytest.mark.parametrize("command", ["create", "demo"])
def test_a_repository_that_cannot_be_made_there_is_one_error_line(
    run: Run, sample_repo: str, tmp_path: Path, command: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "" is the current folder: the test runs in a folder of its own, whatever happens
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    _one_error_line(run(command, where.format(tmp=tmp_path, repo=sample_repo)), command)
