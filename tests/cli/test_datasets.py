"""prune-datasets (dry run, confirmation, removal) and retrieve-artifacts."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run, run_process

from skybutler.butler import Butler


def _count(root: str, dataset_type: str) -> int:
    with Butler(root) as butler:
        return butler.query_datasets(dataset_type, collections="run1").count()


def _files(root: str) -> set[Path]:
    return {p for p in Path(root).rglob("*") if p.is_file() and "registry" not in p.name}


def test_prune_dry_run_changes_nothing(run: Run, any_repo: str) -> None:
    before = _files(any_repo)
    dry = run("prune-datasets", any_repo, "meta", "--where", "visit = 3", "--dry-run")
    assert dry.exit_code == 0
    lines = dry.stdout.splitlines()
    assert lines[0] == "Would remove 2 dataset(s) and their files:"
    assert lines[1].startswith("  meta {'instrument': 'Cam', 'detector': 0, 'visit': 3} in run1 (")
    assert _files(any_repo) == before
    assert _count(any_repo, "meta") == 8
    declined = run("prune-datasets", any_repo, "meta", "--where", "visit = 3", input="n\n")
    assert declined.exit_code == 1
    assert _count(any_repo, "meta") == 8


def test_prune_removes_datasets_and_files(run: Run, any_repo: str) -> None:
    before = _files(any_repo)
    result = run("prune-datasets", any_repo, "meta", "image", "-c", "run1", "--where", "visit = 0", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("Removed 4 dataset(s).\n")
    assert len(before - _files(any_repo)) == 4
    assert _count(any_repo, "meta") == 6
    nothing = run("prune-datasets", any_repo, "meta", "--where", "visit = 0", "--yes")
    assert nothing.stdout == "Nothing matches: nothing was changed.\n"


def test_the_list_to_confirm_goes_with_the_question(run: Run, sample_repo: str) -> None:
    # `prune-datasets ... > log`: the list must reach the terminal with the question, not vanish into the file
    result = run("prune-datasets", sample_repo, "meta", "--where", "visit = 3", input="y\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Removed 2 dataset(s).\n"
    lines = result.stderr.splitlines()
    assert lines[0] == "About to remove 2 dataset(s) and their files:"
    assert lines[1].startswith("  meta {'instrument': 'Cam', 'detector': 0, 'visit': 3} in run1 (")
    assert lines[3].startswith("Remove 2 dataset(s) and their files? [y/N]")


def test_retrieve_artifacts(run: Run, sample_repo: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("retrieve-artifacts", sample_repo, str(out), "image", "-c", "run1", "--where", "detector = 1")
    assert result.exit_code == 0, result.output
    copied = sorted(Path(line) for line in result.stdout.splitlines())
    assert len(copied) == 2
    assert all(p.is_file() and p.suffix == ".npy" for p in copied)
    assert copied[0].relative_to(out).parts[:2] == ("run1", "image")
    original = Path(sample_repo) / copied[0].relative_to(out)
    assert copied[0].read_bytes() == original.read_bytes()
    copied[0].write_bytes(b"changed")
    again = run("retrieve-artifacts", sample_repo, str(out), "image", "-c", "run1", "--where", "detector = 1")
    assert again.exit_code == 1
    assert "nothing was copied" in again.stderr
    assert copied[0].read_bytes() == b"changed"
    forced = run("retrieve-artifacts", sample_repo, str(out), "image", "-c", "run1", "--where", "detector = 1",
                 "--overwrite")  # fmt: skip
    assert forced.exit_code == 0
    assert copied[0].read_bytes() == original.read_bytes()


def test_dataset_commands_as_processes(sample_repo: str, tmp_path: Path) -> None:
    done = run_process("retrieve-artifacts", sample_repo, str(tmp_path / "out"), "meta", "-c", "run1")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 8
    assert done.stderr == f"Copied 8 file(s) into {tmp_path / 'out'}.\n"
    assert run_process("prune-datasets", sample_repo, "meta", "--where", "visit = 1").returncode == 1
    assert run_process("prune-datasets", sample_repo, "meta", "--where", "visit = 1", "-y").returncode == 0
    assert _count(sample_repo, "meta") == 6
