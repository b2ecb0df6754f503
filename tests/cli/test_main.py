"""The command group: help, errors and exit codes, shell completion, plug-in subcommands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.shell_completion import ShellComplete
from tests.cli.conftest import SRC, Run, run_process

from skybutler.cli._main import COMMANDS, EXIT_INTERNAL, EXIT_USAGE, cli, commands, main
from skybutler.errors import DataIdError


def test_help_lists_every_built_in_command(run: Run) -> None:
    result = run("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.stdout
    assert set(commands.names()) >= set(COMMANDS)


def test_every_command_has_help_with_a_one_line_summary(run: Run) -> None:
    for name in COMMANDS:
        result = run(name, "--help")
        assert result.exit_code == 0, (name, result.output)
        assert result.stdout.startswith("Usage: ")
        assert "..." not in cli.get_command(None, name).get_short_help_str(limit=60), name  # type: ignore[arg-type,union-attr]


def test_help_names_only_the_exit_statuses_the_cli_uses(run: Run) -> None:
    # certify-calibrations' help promised "exit 4" for an overlap, which exits 1 like every reported error
    for name in COMMANDS:
        text = " ".join(run(name, "--help").stdout.split())
        assert set(re.findall(r"\bexit (?:status )?(\d+)", text)) <= {"0", "1", "2", "70"}, name


def test_usage_errors_exit_2_with_click_usage(run: Run, sample_repo: str) -> None:
    assert click.UsageError.exit_code == EXIT_USAGE == 2
    result = run("no-such-command")
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.stderr
    result = run("query-datasets")
    assert result.exit_code == 2
    assert "Missing argument 'REPO'" in result.stderr
    bad_value = run("query-datasets", sample_repo, "meta", "--limit", "0")  # click checks the option's range
    assert bad_value.exit_code == 2
    assert "Invalid value for '--limit'" in bad_value.stderr
    malformed = run("query-datasets", sample_repo, "meta", "-d", "visit")  # checked in the command: still usage
    assert malformed.exit_code == 2
    assert "expected KEY=VALUE" in malformed.stderr


def test_user_errors_are_one_line_with_the_error_code(run: Run, sample_repo: str) -> None:
    result = run("query-datasets", sample_repo, "nope")
    assert result.exit_code == 1  # every SkyButlerError: its one line, exit 1
    assert result.stdout == ""
    assert result.stderr.startswith("error [dataset-type]: Dataset type 'nope' is not registered.")
    assert len(result.stderr.strip().splitlines()) == 1
    result = run("query-datasets", sample_repo, "-c", "nowhere")
    assert result.exit_code == 1
    assert result.stderr.startswith("error [collection]:")


def test_a_where_syntax_error_shows_its_caret(run: Run, sample_repo: str) -> None:
    result = run("query-datasets", sample_repo, "meta", "--where", "visit >")
    assert result.exit_code == 1
    first, expression, caret = result.stderr.splitlines()
    assert first.startswith("error [query-syntax]:")
    assert expression.strip() == "visit >"
    assert caret.strip() == "^"


def test_as_a_process_errors_have_no_traceback_unless_debug(tmp_path: Path) -> None:
    done = run_process("query-datasets", str(tmp_path / "missing"))
    assert done.returncode == 1
    assert done.stderr.startswith("error [config]: No repository at")
    assert "Traceback" not in done.stderr
    debug = run_process("--debug", "query-datasets", str(tmp_path / "missing"))
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert "ConfigError" in debug.stderr


def test_unexpected_errors_are_one_line_too(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> None:
        raise RuntimeError("something broke\nover two lines")

    monkeypatch.setitem(commands._loaded, "boom", click.Command("boom", callback=boom))
    result = run("boom")
    assert result.exit_code == EXIT_INTERNAL == 70  # a bug: not to be mistaken for a user's error (1)
    assert result.stderr.startswith("internal error: RuntimeError: something broke | over two lines")
    assert result.stderr.strip().endswith("(rerun with --debug for the traceback)")
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_keeps_the_exit_code(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def boom() -> None:
        raise RuntimeError("something broke")

    def user_error() -> None:
        raise DataIdError("Unknown data ID key 'vist'.")

    monkeypatch.setitem(commands._loaded, "boom", click.Command("boom", callback=boom))
    monkeypatch.setitem(commands._loaded, "user-error", click.Command("user-error", callback=user_error))
    for name, code, error in [("boom", 70, "RuntimeError: something broke"), ("user-error", 1, "DataIdError")]:
        with pytest.raises(SystemExit) as info:
            main(["--debug", name])
        assert info.value.code == code
        stderr = capsys.readouterr().err
        assert stderr.startswith("Traceback (most recent call last):")
        assert error in stderr


def test_version(run: Run) -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("skybutler ")


# -- shell completion --------------------------------------------------------------------------------------------
def _complete(args: list[str], incomplete: str) -> list[str]:
    completion = ShellComplete(cli, {}, "skybutler", "_SKYBUTLER_COMPLETE")
    return [item.value for item in completion.get_completions(args, incomplete)]


def test_completion_of_commands() -> None:
    assert _complete([], "query-data") == ["query-data-ids", "query-dataset-types", "query-datasets"]


def test_completion_of_collection_and_dataset_type_names(sample_repo: str) -> None:
    assert _complete(["query-datasets", sample_repo, "-c"], "cal") == ["calib/run1"]
    assert _complete(["query-datasets", sample_repo, "-c"], "run1,cal") == ["run1,calib/run1"]
    assert _complete(["query-datasets", sample_repo], "me") == ["meta"]
    assert _complete(["remove-runs", sample_repo], "") == ["calib/run1", "run1"]
    assert _complete(["query-datasets", "/no/such/repo"], "me") == []  # quietly nothing


def test_completion_script(run: Run) -> None:
    result = run("completion", "bash")
    assert result.exit_code == 0
    assert "_SKYBUTLER_COMPLETE=bash_complete" in result.stdout


def test_completion_through_the_shell_protocol(sample_repo: str) -> None:
    env = {"_SKYBUTLER_COMPLETE": "bash_complete", "COMP_WORDS": f"skybutler query-datasets {sample_repo} im",
           "COMP_CWORD": "3"}  # fmt: skip
    os.environ.update(env)
    try:
        done = run_process()
    finally:
        for key in env:
            os.environ.pop(key)
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["plain,image"]


# -- plug-ins ----------------------------------------------------------------------------------------------------
def _plugin(tmp_path: Path, value: str) -> Path:
    (tmp_path / "skybutler_hello.py").write_text(
        textwrap.dedent('''
            import click

            @click.command()
            @click.argument("name")
            def hello(name):
                """Say hello (a plug-in subcommand)."""
                click.echo(f"hello {name}")

            not_a_command = 42
            ''')
    )
    (tmp_path / "skybutler_hello_raises.py").write_text("raise RuntimeError('no configuration')\n")
    info = tmp_path / "skybutler_hello-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: skybutler-hello\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[skybutler.cli]\n{value}\n")
    return tmp_path


@pytest.mark.parametrize("disabled", [False, True])
def test_plugin_subcommands_come_from_entry_points(tmp_path: Path, disabled: bool) -> None:
    path = _plugin(tmp_path, "hello = skybutler_hello:hello")
    os.environ["PYTHONPATH"] = str(path) + os.pathsep + os.environ.get("PYTHONPATH", "")
    os.environ["SKYBUTLER_DISABLE_PLUGINS"] = "1" if disabled else "0"
    try:
        listed = run_process("--help")
        done = run_process("hello", "world")
    finally:
        os.environ["PYTHONPATH"] = os.environ["PYTHONPATH"].split(os.pathsep, 1)[1]
        del os.environ["SKYBUTLER_DISABLE_PLUGINS"]
    if disabled:
        assert "hello" not in listed.stdout
        assert done.returncode == 2
        return
    assert "Say hello (a plug-in subcommand)." in listed.stdout
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello world\n"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("skybutler_hello:not_a_command", "entry point 'hello' is a int, not a click command"),
        ("skybutler_hello:missing", "could not be loaded: The cli plug-in 'hello' points at"),
        ("skybutler_nowhere:hello", "needs the package 'skybutler_nowhere'"),
        ("skybutler_hello_raises:hello", "could not be loaded: RuntimeError: no configuration"),
    ],
)
def test_a_broken_plugin_is_listed_and_says_why_when_run(tmp_path: Path, value: str, reason: str) -> None:
    path = _plugin(tmp_path, f"hello = {value}")
    os.environ["PYTHONPATH"] = str(path) + os.pathsep + os.environ.get("PYTHONPATH", "")
    try:
        listed = run_process("--help")
        done = run_process("hello", "world")
    finally:
        os.environ["PYTHONPATH"] = os.environ["PYTHONPATH"].split(os.pathsep, 1)[1]
    assert listed.returncode == 0, listed.stderr  # the rest of the CLI still works
    assert "hello" in listed.stdout
    assert "(broken plug-in: run it to see why)" in listed.stdout
    assert done.returncode == 1
    assert reason in done.stderr


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "yaml"])
def test_a_closed_stdout_ends_quietly_with_status_0_in_every_format(sample_repo: str, fmt: str) -> None:
    # `skybutler query-datasets demo | head -1` exited 1 for a table (rich's own handling) and 0 for the others
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "skybutler.cli", "query-datasets", sample_repo, "-f", fmt],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # the reader is gone before the first byte: every write meets a closed pipe
    with process.stderr:
        stderr = process.stderr.read()
    assert process.wait(timeout=120) == 0
    assert stderr == b""


def test_the_collector_runs_less_during_start_up_and_skips_exit(
    sample_repo: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gc

    from skybutler.cli import _main

    defaults = gc.get_threshold()
    frozen = gc.get_freeze_count()
    _main.started()  # outside main() (click's test runner): nothing changes
    assert (gc.get_threshold(), gc.get_freeze_count()) == (defaults, frozen)
    seen: list[tuple[int, ...]] = []

    class Probe(click.Command):
        def invoke(self, ctx: click.Context) -> None:
            seen.append(gc.get_threshold())  # before the repository is opened

    monkeypatch.setitem(commands._loaded, "probe", Probe("probe"))
    with pytest.raises(SystemExit):
        main(["probe"])
    assert seen == [_main.START_GC_THRESHOLDS]
    assert gc.get_threshold() == defaults  # no repository opened: the defaults are back when the command ends
    assert gc.get_freeze_count() > frozen  # and what exists is frozen: the exit's collection skips it
    gc.unfreeze()
    with pytest.raises(SystemExit) as info:
        main(["query-datasets", sample_repo, "meta", "-c", "run1", "-f", "json"])
    assert info.value.code == 0
    assert '"run": "run1"' in capsys.readouterr().out
    assert gc.get_threshold() == defaults
