"""The ``skybutler`` click group: commands found by name, loaded on use, and one-line errors.

Start-up is a budget (``skybutler --help`` in 0.15 s as a whole process): this module imports click and our
errors only.  Each command lives in a module of its command group (``_repo``, ``_queries``, ...) that imports
the library inside the command's body, so ``--help`` never loads SQLAlchemy, the registry or rich.

Adding a command group (the transfer commands, ``verify``, ``cache``): a module ``_<group>.py`` of click
commands built from the shared pieces (``_options``: repository argument, dataset selection, ``--yes`` and
``--dry-run``, completion; ``_output``: ``--format`` and `emit`; ``_progress``: ``with progress_bar(ctx) as
progress:`` around the bulk call, passing ``progress=progress``), one line per command in `COMMANDS`, and
``python docs/gen_cli.py``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from skybutler.errors import SkyButlerError
from skybutler.plugins import PluginRegistry

__all__ = [
    "COMMANDS",
    "EXIT_ERROR",
    "EXIT_INTERNAL",
    "EXIT_USAGE",
    "START_GC_THRESHOLDS",
    "InternalError",
    "ReportedError",
    "cli",
    "commands",
    "main",
    "started",
]

EXIT_ERROR = 1
"""A `SkyButlerError` (bad input, not found, conflict, ...), a declined confirmation, or a closed pipe."""
EXIT_USAGE = 2
"""The command line itself is wrong: unknown command or option, missing or malformed argument (click's)."""
EXIT_INTERNAL = 70
"""An unexpected exception, that is a bug (``EX_SOFTWARE`` of sysexits.h): distinct from a user's error."""

#: Built-in subcommands: name -> "module:attribute" of the click command (imported when the command is used).
COMMANDS = {
    "associate": "skybutler.cli._collections:associate",
    "cache": "skybutler.cli._verify:cache",
    "calibration-history": "skybutler.cli._calibrations:calibration_history",
    "certify-calibrations": "skybutler.cli._calibrations:certify_calibrations",
    "collection-chain": "skybutler.cli._collections:collection_chain",
    "completion": "skybutler.cli._repo:completion",
    "config": "skybutler.cli._repo:config",
    "create": "skybutler.cli._repo:create",
    "decertify": "skybutler.cli._calibrations:decertify",
    "demo": "skybutler.cli._repo:demo",
    "disassociate": "skybutler.cli._collections:disassociate",
    "export": "skybutler.cli._transfer:export",
    "impact": "skybutler.cli._provenance:impact",
    "import": "skybutler.cli._transfer:import_",
    "ingest-files": "skybutler.cli._ingest:ingest_files",
    "ingest-raws": "skybutler.cli._ingest:ingest_raws",
    "insert-dimension-records": "skybutler.cli._records:insert_dimension_records",
    "invalidated": "skybutler.cli._provenance:invalidated",
    "lineage": "skybutler.cli._provenance:lineage",
    "logs": "skybutler.cli._provenance:logs",
    "merge": "skybutler.cli._scaleout:merge",
    "migrate": "skybutler.cli._repo:migrate",
    "missing": "skybutler.cli._queries:missing",
    "plan": "skybutler.cli._scaleout:plan",
    "prune-datasets": "skybutler.cli._datasets:prune_datasets",
    "query-collections": "skybutler.cli._collections:query_collections",
    "query-data-ids": "skybutler.cli._queries:query_data_ids",
    "query-dataset-types": "skybutler.cli._dataset_types:query_dataset_types",
    "query-datasets": "skybutler.cli._queries:query_datasets",
    "query-dimension-records": "skybutler.cli._queries:query_dimension_records",
    "reconcile": "skybutler.cli._repo:reconcile",
    "register-dataset-type": "skybutler.cli._dataset_types:register_dataset_type",
    "remove-collections": "skybutler.cli._collections:remove_collections",
    "remove-dataset-type": "skybutler.cli._dataset_types:remove_dataset_type",
    "remove-runs": "skybutler.cli._collections:remove_runs",
    "retrieve-artifacts": "skybutler.cli._datasets:retrieve_artifacts",
    "run-info": "skybutler.cli._provenance:run_info",
    "run-plan": "skybutler.cli._scaleout:run_plan",
    "serve": "skybutler.server._cli:serve",
    "token": "skybutler.cli._tokens:token",
    "transfer-datasets": "skybutler.cli._transfer:transfer_datasets",
    "verify": "skybutler.cli._verify:verify",
}

commands: PluginRegistry[click.Command] = PluginRegistry("cli", COMMANDS)
"""Subcommands by name: the built-ins above, and other packages' through the ``skybutler.cli`` entry points."""


class ReportedError(click.ClickException):
    """A `SkyButlerError` as the CLI reports it: ``error [code]: message`` on stderr, the error's exit code."""

    def __init__(self, error: SkyButlerError, command: click.Command | None = None) -> None:
        from skybutler.cli._advice import for_the_command_line

        super().__init__(for_the_command_line(str(error), command))
        self.error = error
        # click declares exit_code a class variable (8.5); this error's own code shadows it on the instance
        setattr(self, "exit_code", error.exit_code)  # noqa: B010

    def format_message(self) -> str:
        return f"[{self.error.code}]: {self.message}"  # one line (a where-syntax error adds its caret)

    def show(self, file: Any = None) -> None:
        click.echo(f"error {self.format_message()}", err=True)


class InternalError(click.ClickException):
    """An unexpected exception (a bug, or a library error we do not wrap yet), on one line unless --debug."""

    exit_code = EXIT_INTERNAL

    def show(self, file: Any = None) -> None:
        click.echo(f"internal error: {self.message} (rerun with --debug for the traceback)", err=True)


class _Commands(click.Group):
    """A group whose commands come from `commands`, imported only when listed in help or run.

    It also turns errors into one line on stderr with their exit code (the full traceback with ``--debug``),
    here rather than in `main`, so click's test runner sees exactly what the shell sees.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return commands.names()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        try:
            found: object = commands.get(cmd_name)  # an entry point may name anything
        except SkyButlerError as exc:
            if cmd_name in commands.names():  # a plug-in that is there but broken: say so, do not hide it
                return _broken(cmd_name, f"The subcommand {cmd_name!r} could not be loaded: {exc}")
            return None
        except Exception as exc:  # a plug-in's module failed on import; our own commands' failures are bugs
            if cmd_name in COMMANDS:
                raise
            return _broken(cmd_name, f"The subcommand {cmd_name!r} could not be loaded: {type(exc).__name__}: {exc}")
        if not isinstance(found, click.Command):
            kind = type(found).__name__
            return _broken(cmd_name, f"The skybutler.cli entry point {cmd_name!r} is a {kind}, not a click command.")
        return found

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # `... | head`: the reader has what it wanted; not an error, whatever the format
            _silence_stdout()
            raise click.exceptions.Exit(0) from None
        except SkyButlerError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            name = ctx.invoked_subcommand
            raise ReportedError(exc, None if name is None else self.get_command(ctx, name)) from exc
        except Exception as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            message = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise InternalError(f"{type(exc).__name__}: {message}") from exc


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.option(
    "--no-progress", is_flag=True, envvar="SKYBUTLER_NO_PROGRESS", help="No progress bars (never shown off a terminal)."
)
@click.version_option(package_name="skybutler", prog_name="skybutler", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, debug: bool, no_progress: bool) -> None:
    """skybutler: store and find astronomical datasets.

    Every command takes the repository (a directory or URI) as its first argument.  Query commands print a
    table, or --format json/csv/yaml for scripts.  Commands that delete ask first (--yes skips the question);
    those that remove datasets or collections take --dry-run, and reconcile without --remove-unknown lists the
    unknown files it would delete.  Exit status: 0 ok; 1 an error, told in one line on stderr ("error [code]: ...");
    2 a usage error (unknown option, missing argument); 70 an internal error (a bug: rerun with --debug).
    """
    ctx.obj = {"debug": debug, "progress": not no_progress}


def _broken(name: str, reason: str) -> click.Command:
    """Stands in for a plug-in that cannot be used: listed in help as broken, and says why when run."""

    def fail(**_: object) -> None:
        raise click.ClickException(reason)

    return click.Command(
        name, callback=fail, short_help="(broken plug-in: run it to see why)", help=reason,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )  # fmt: skip


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail on the closed pipe again."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no file descriptor (click's test runner): nothing to flush
        pass


#: The cyclic garbage collector's thresholds while a command starts: start-up makes ~100 000 objects that live
#: as long as the process (modules, classes, SQLAlchemy tables), and Python's default (700, 10, 10) walks them
#: in ~130 collections, 45-50 ms of CPU of a ``query-datasets`` process; with these, 1 to 9 collections (~15 ms).
START_GC_THRESHOLDS = (10_000, 20, 20)
_gc_state: dict[str, tuple[int, ...]] = {}


def started() -> None:
    """The command has opened its repository: what exists now lives on (`gc.freeze`); usual collections again.

    Does nothing outside `main` (a command invoked by click's test runner, or twice).
    """
    import gc

    defaults = _gc_state.pop("defaults", None)
    if isinstance(defaults, tuple):
        gc.freeze()
        gc.set_threshold(*defaults)


def _start_gc() -> None:
    import gc

    _gc_state["defaults"] = gc.get_threshold()
    gc.set_threshold(*START_GC_THRESHOLDS)


def _end_gc() -> None:
    """The command is done and the process about to end: spare it the collector's walk over every object at exit.

    Python's finalization runs a full collection (~35 ms of CPU after a query command) over objects that are
    all about to go; frozen objects are left out of it.  Reference counting still frees what it frees, and
    atexit handlers and `weakref.finalize` still run.  (A test that calls `main` in its own process thaws them
    after: tests/conftest.py.)
    """
    import gc

    defaults = _gc_state.pop("defaults", None)
    if isinstance(defaults, tuple):  # no repository opened
        gc.set_threshold(*defaults)
    gc.freeze()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (the ``skybutler`` command): exit 0 on success, else 1, 2 or 70 (see `cli`).

    With ``--debug`` an error propagates out of click with its traceback; it is printed here and the process
    exits with the code it would have had without ``--debug``.  A process of its own, it keeps what it
    would otherwise recompute in every call (the validated configuration, parsed ``--where`` shapes, and
    skybutler's compiled modules where Python writes no bytecode: `skybutler._bytecode`) in the per-user cache
    folder (`skybutler._disk_cache`).
    """
    from skybutler import _bytecode, _disk_cache

    _disk_cache.enable()
    _bytecode.install()  # before the command's modules are imported
    _start_gc()
    try:
        try:
            cli.main(args=sys.argv[1:] if argv is None else argv, prog_name="skybutler")
        finally:  # what is still buffered (a JSON or CSV result) meets a closed pipe here, not at exit
            _end_gc()
            sys.stdout.flush()
    except BrokenPipeError:  # `skybutler query-datasets ... | head`: the reader left; no traceback, no error line
        _silence_stdout()
        sys.exit(0)
    except Exception as exc:  # only with --debug: without it every error is a ClickException, handled by click
        import traceback

        traceback.print_exc()
        sys.exit(exc.exit_code if isinstance(exc, SkyButlerError) else EXIT_INTERNAL)
