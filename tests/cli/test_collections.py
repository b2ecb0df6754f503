"""Collection commands: query (table, tree, flatten), chains, tagging, and removal with dry runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from tests.cli.conftest import Run, run_process

from skybutler.butler import Butler


def _json(run: Run, *args: str) -> Any:
    result = run(*args, "-f", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _files(root: str) -> set[str]:
    return {str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file() and "registry" not in p.name}


def test_chains_in_every_mode(run: Run, sample_repo: str) -> None:
    assert run("collection-chain", sample_repo, "all", "run1").stdout == "all: run1\n"
    assert run("collection-chain", sample_repo, "all", "calib/run1", "--mode", "prepend").stdout == (
        "all: calib/run1, run1\n"
    )
    assert run("collection-chain", sample_repo, "top", "all", "--doc", "Everything").stdout == "top: all\n"
    assert run("collection-chain", sample_repo, "all", "calib/run1", "--mode", "remove").stdout == "all: run1\n"
    assert run("collection-chain", sample_repo, "all", "calib/run1", "--mode", "extend").stdout == (
        "all: run1, calib/run1\n"
    )
    cycle = run("collection-chain", sample_repo, "all", "top")
    assert cycle.exit_code != 0
    assert cycle.stderr.startswith("error [")
    rows = _json(run, "query-collections", sample_repo)
    assert rows == [
        {"name": "all", "type": "CHAINED", "children": "run1, calib/run1", "doc": None},
        {"name": "calib/run1", "type": "RUN", "children": None, "doc": None},
        {"name": "run1", "type": "RUN", "children": None, "doc": None},
        {"name": "top", "type": "CHAINED", "children": "all", "doc": "Everything"},
    ]
    tree = _json(run, "query-collections", sample_repo, "top", "--chains", "tree")
    assert tree == [{"name": "top", "type": "CHAINED", "children": [
        {"name": "all", "type": "CHAINED", "children": [
            {"name": "run1", "type": "RUN"}, {"name": "calib/run1", "type": "RUN"}]}]}]  # fmt: skip
    drawn = run("query-collections", sample_repo, "top", "--chains", "tree").stdout
    assert drawn == "top CHAINED\n└── all CHAINED\n    ├── run1 RUN\n    └── calib/run1 RUN\n"
    flat = _json(run, "query-collections", sample_repo, "top", "--chains", "flatten")
    assert flat == [{"name": "run1", "type": "RUN"}, {"name": "calib/run1", "type": "RUN"}]
    runs = _json(run, "query-collections", sample_repo, "--type", "run")
    assert [r["name"] for r in runs] == ["calib/run1", "run1"]


def test_associate_and_disassociate(run: Run, sample_repo: str) -> None:
    result = run("associate", sample_repo, "best", "meta", "-c", "run1", "--where", "visit < 2")
    assert result.stdout == "Created TAGGED collection best.\nTagged 4 dataset(s) into best.\n"
    tagged = _json(run, "query-datasets", sample_repo, "-c", "best")
    assert sorted((r["visit"], r["detector"]) for r in tagged) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    dry = run("disassociate", sample_repo, "best", "--where", "detector = 1", "--dry-run")
    assert dry.stdout.startswith("Would untag 2 dataset(s) from best:\n")
    assert len(_json(run, "query-datasets", sample_repo, "-c", "best")) == 4
    done = run("disassociate", sample_repo, "best", "--where", "detector = 1", "--yes")
    assert done.stdout.endswith("Untagged 2 dataset(s) from best.\n")
    assert len(_json(run, "query-datasets", sample_repo, "-c", "best")) == 2


def test_remove_collections_dry_run_then_for_real(run: Run, sample_repo: str) -> None:
    run("collection-chain", sample_repo, "chain1", "run1")
    run("associate", sample_repo, "tag1", "meta", "-c", "run1")
    dry = run("remove-collections", sample_repo, "chain*", "tag*", "--dry-run")
    assert dry.stdout == (
        "Would remove 2 collection(s):\n  chain1 (CHAINED)\n  tag1 (TAGGED)\nDry run: nothing was changed.\n"
    )
    assert len(_json(run, "query-collections", sample_repo)) == 4
    wrong = run("remove-collections", sample_repo, "run1", "--yes")
    assert wrong.exit_code == 1
    assert "use `skybutler remove-runs`" in wrong.stderr
    assert run("remove-collections", sample_repo, "chain*", "tag*", "--yes").exit_code == 0
    assert [r["name"] for r in _json(run, "query-collections", sample_repo)] == ["calib/run1", "run1"]


def test_remove_runs_dry_run_changes_nothing(run: Run, any_repo: str) -> None:
    before = _files(any_repo)
    dry = run("remove-runs", any_repo, "*", "--dry-run")
    assert dry.stdout == (
        "Would remove 2 run(s) and 14 dataset(s):\n  calib/run1: 2 dataset(s)\n  run1: 12 dataset(s)\n"
        "Dry run: nothing was changed.\n"
    )
    declined = run("remove-runs", any_repo, "run1", input="n\n")
    assert declined.exit_code == 1
    assert _files(any_repo) == before
    with Butler(any_repo) as butler:
        assert butler.query_datasets("*", collections=["run1", "calib/run1"]).count() == 14


def test_remove_runs_removes_datasets_and_files(run: Run, any_repo: str) -> None:
    chained = run("collection-chain", any_repo, "all", "run1")
    assert chained.exit_code == 0
    for extra in ("--yes", "--dry-run"):  # the dry run says so too, rather than list what would be removed
        refused = run("remove-runs", any_repo, "run1", extra)
        assert refused.exit_code == 1, extra
        assert "remove it from those chains first" in refused.stderr, extra
        assert "Would remove" not in refused.stdout, extra
    run("collection-chain", any_repo, "all", "run1", "--mode", "remove")
    result = run("remove-runs", any_repo, "run1", input="y\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("Removed 1 run(s) and 12 dataset(s).\n")
    assert not any(f.startswith("run1/") for f in _files(any_repo))
    assert [r["name"] for r in _json(run, "query-collections", any_repo, "--type", "RUN")] == ["calib/run1"]


def test_collection_commands_as_processes(sample_repo: str) -> None:
    assert run_process("collection-chain", sample_repo, "all", "run1,calib/run1").stdout == "all: run1, calib/run1\n"
    listed = json.loads(run_process("query-collections", sample_repo, "all", "--chains", "tree", "-f", "json").stdout)
    assert [c["name"] for c in listed[0]["children"]] == ["run1", "calib/run1"]
    assert run_process("collection-chain", sample_repo, "all", "calib/run1", "--mode", "remove").returncode == 0
    done = run_process("remove-runs", sample_repo, "calib/run1")  # no terminal, no --yes: aborts
    assert done.returncode == 1
    assert done.stderr.strip().endswith("Aborted!")


def test_remove_runs_draws_its_progress_on_a_terminal(
    run: Run, sample_repo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skybutler.cli import _progress

    monkeypatch.setattr(_progress, "stderr_is_terminal", lambda: True)  # the runner's stderr is a buffer
    seen: list[bool] = []
    real = _progress.progress_wanted

    def spy(ctx: click.Context) -> bool:
        seen.append(real(ctx))
        return seen[-1]

    monkeypatch.setattr(_progress, "progress_wanted", spy)
    result = run("--no-progress", "remove-runs", sample_repo, "calib/run1", "--yes")
    assert result.exit_code == 0, result.output
    assert seen == [False]  # asked not to
    result = run("remove-runs", sample_repo, "run1", "--yes")
    assert result.exit_code == 0, result.output
    assert seen == [False, True]
    assert "remove-runs" in result.stderr
    assert "1/1" in result.stderr


def test_names_are_printed_as_typed_not_as_markup(run: Run, sample_repo: str) -> None:
    assert run("collection-chain", sample_repo, "u/[bold]x[/bold]", "run1").exit_code == 0
    assert "u/[bold]x[/bold]" in run("query-collections", sample_repo).stdout
    tree = run("query-collections", sample_repo, "u/*", "--chains", "tree").stdout
    assert tree.startswith("u/[bold]x[/bold] CHAINED")


def test_a_refused_command_leaves_no_new_collection_behind(run: Run, sample_repo: str) -> None:
    # each command creates its target collection when missing; a refusal must not leave it there, empty
    with Butler(sample_repo, run="run2") as butler:  # a second 'meta' for one data ID: a TAGGED collection refuses
        butler.put({"again": True}, "meta", instrument="Cam", visit=0, detector=0)
    refusals = [
        ("collection-chain", sample_repo, "new-chain", "run1,no-such-run"),
        ("collection-chain", sample_repo, "new-chain", "new-chain"),
        ("associate", sample_repo, "new-tag", "meta", "--where", "visit = 0 AND detector = 0"),
        ("certify-calibrations", sample_repo, "calib/run1", "new-calib", "bias", "--begin", "2025-02-01",
         "--end", "2025-01-01"),
        ("certify-calibrations", sample_repo, "run1", "new-calib", "meta"),
    ]  # fmt: skip
    for args in refusals:
        result = run(*args)
        assert result.exit_code == 1, args
        assert result.stderr.startswith("error ["), args
        assert "Created" not in result.stdout, args
    names = [r["name"] for r in _json(run, "query-collections", sample_repo)]
    assert names == ["calib/run1", "run1", "run2"]


def test_doc_alone_documents_a_chain_without_emptying_it(run: Run, sample_repo: str) -> None:
    assert run("collection-chain", sample_repo, "chain", "run1,calib/run1").stdout == "chain: run1, calib/run1\n"
    documented = run("collection-chain", sample_repo, "chain", "--doc", "the defaults")
    assert documented.stdout == "chain: run1, calib/run1\n"
    assert [(r["name"], r["doc"]) for r in _json(run, "query-collections", sample_repo, "chain")] == [
        ("chain", "the defaults")
    ]


def test_extend_and_prepend_create_a_missing_chain(run: Run, sample_repo: str) -> None:
    # the help says PARENT is "created when missing", in every mode that adds children
    assert run("collection-chain", sample_repo, "a", "run1", "--mode", "extend").stdout == "a: run1\n"
    assert run("collection-chain", sample_repo, "b", "run1", "--mode", "prepend").stdout == "b: run1\n"
    missing = run("collection-chain", sample_repo, "c", "run1", "--mode", "remove")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error [collection]: No collection named 'c'")


def test_remove_collections_is_all_or_nothing_and_takes_chains_with_their_children(run: Run, sample_repo: str) -> None:
    run("associate", sample_repo, "tag1", "meta", "-c", "run1")
    run("associate", sample_repo, "tag2", "meta", "-c", "run1")
    run("collection-chain", sample_repo, "outer", "tag2")
    # tag2 is still listed by 'outer', which is not being removed: refuse before removing tag1 (dry run too)
    for extra in ("--dry-run", "--yes"):
        refused = run("remove-collections", sample_repo, "tag1", "tag2", extra)
        assert refused.exit_code == 1, extra
        assert refused.stderr.startswith("error [collection]: Collection 'tag2' is a child of ['outer']"), extra
    assert [r["name"] for r in _json(run, "query-collections", sample_repo, "--type", "TAGGED")] == ["tag1", "tag2"]
    # a chain and its child in one call: the chain goes first, whatever order they were named in
    done = run("remove-collections", sample_repo, "tag2", "outer", "--yes")
    assert done.exit_code == 0, done.output
    assert done.stdout == "Removed 2 collection(s).\n"
    assert [r["name"] for r in _json(run, "query-collections", sample_repo)] == ["calib/run1", "run1", "tag1"]


def test_disassociate_from_a_collection_that_is_not_tagged_is_refused_before_the_list(
    run: Run, sample_repo: str
) -> None:
    # the dry run listed every dataset of the run as "Would untag", which the real run then refused
    for extra in ("--dry-run", "--yes"):
        result = run("disassociate", sample_repo, "run1", "meta", extra)
        assert result.exit_code == 1, extra
        assert result.stderr.startswith("error [collection]: Cannot untag datasets from 'run1'"), extra
        assert "untag" not in result.stdout, extra
