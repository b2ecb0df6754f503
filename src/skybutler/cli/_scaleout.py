"""Scale-out commands: ``plan`` (a manifest from a query), ``run-plan`` (on an engine), ``merge`` (register)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import click

from skybutler.cli._options import collections_option, open_butler, repo_argument, resolve_collections, where_option
from skybutler.cli._output import emit, format_option
from skybutler.cli._progress import progress_bar
from skybutler.errors import ConfigError

if TYPE_CHECKING:
    from skybutler.workers import MergeReport

__all__ = ["merge", "plan", "run_plan"]


def _outputs(values: tuple[str, ...]) -> dict[str, list[str]]:
    """``NAME`` (a registered type) or ``NAME:DIM,DIM`` (its dimensions, checked against the registered ones)."""
    outputs = {}
    for value in values:
        name, _, dims = value.partition(":")
        outputs[name] = [d for d in dims.split(",") if d]
    return outputs


@click.command()
@repo_argument
@click.argument("dataset_type")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--output", "-o", "outputs", multiple=True, required=True, metavar="NAME[:DIMS]",
              help="An output type each task writes (repeatable): summary, src:instrument,visit,detector.")  # fmt: skip
@click.option("--run", required=True, help="RUN collection the outputs are registered in.")
@click.option("--input", "-i", "inputs", multiple=True, metavar="NAME",
              help="Another input of each task (repeatable), found by the task's data ID.")  # fmt: skip
@collections_option
@where_option
@click.option("--expires", type=click.FloatRange(min=1), default=7 * 86400.0, show_default=True,
              help="Seconds the workers' unmerged outputs are kept from reconcile.")  # fmt: skip
def plan(repo: str, dataset_type: str, manifest: str, outputs: tuple[str, ...], run: str,
         inputs: tuple[str, ...], collections: tuple[str, ...], where: str, expires: float) -> None:  # fmt: skip
    """Plan work for database-free workers.

    Plan one task per DATASET_TYPE dataset of REPO matching --where, resolve every input now, predict every
    output, and save the plan to MANIFEST for `run-plan` (or your own workers) and `merge`.
    """
    butler = open_butler(click.get_current_context(), repo, writeable=True)
    names = resolve_collections(butler, collections) if collections else None
    work = butler.plan_work(dataset_type, where, outputs=_outputs(outputs), run=run, collections=names,
                            inputs=inputs, expires_in=expires)  # fmt: skip
    work.save(manifest)
    click.echo(f"Planned {len(work)} task(s) writing into {run!r}: {manifest}")


def _report(report: MergeReport, fmt: str) -> None:
    rows: list[dict[str, Any]] = [
        {"what": "registered", "count": report.registered},
        {"what": "already registered", "count": report.already},
        {"what": "tasks merged", "count": len(report.tasks)},
        {"what": "tasks refused", "count": len(report.refused)},
    ]
    emit(rows, fmt)
    for task, reason in sorted(report.refused.items()):
        click.echo(f"task {task} refused: {reason}", err=True)
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)


@click.command()
@repo_argument
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@format_option
def merge(repo: str, manifest: str, fmt: str) -> None:
    """Register what workers wrote.

    Register in REPO every output that the workers of MANIFEST wrote and recorded, after checking sizes and
    checksums; merging again adds nothing.  Refused tasks are listed on stderr (run them again, then merge).
    """
    ctx = click.get_current_context()
    butler = open_butler(ctx, repo, writeable=True)
    with progress_bar(ctx) as progress:
        report = butler.merge(manifest, progress=progress)
    _report(report, fmt)
    if report.refused:
        ctx.exit(1)


def _function(spec: str) -> Any:
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ConfigError(f"FUNCTION must be module:function, e.g. mypackage.tasks:measure; got {spec!r}.")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"Cannot import {spec}: {exc}. Workers import it too: it must be on their path.") from None


@click.command("run-plan")
@repo_argument
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.argument("function")
@click.option("--engine", type=click.Choice(["local", "dask", "parsl"]), default="local", show_default=True,
              help="What runs the tasks: a local process pool, Dask distributed, or Parsl.")  # fmt: skip
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes (local engine, a local Dask cluster, the local Parsl executor).")  # fmt: skip
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="Runs of a failed task beyond the first; if it still fails, it is reported.")  # fmt: skip
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask: the scheduler to use (default: a local cluster of --workers processes).")  # fmt: skip
@click.option("--merge-every", type=click.IntRange(min=1), default=None, metavar="N",
              help="Merge each time N tasks have finished (default: once, at the end).")  # fmt: skip
@click.option("--no-merge", is_flag=True, help="Only run the tasks; `skybutler merge` registers their outputs later.")
@click.option("--stall-seconds", type=click.FloatRange(min=0, min_open=True), default=3600, show_default=True,
              help="Parsl: give up unfinished tasks when none has finished for this long.")  # fmt: skip
@format_option
def run_plan(repo: str, manifest: str, function: str, engine: str, workers: int, retries: int,
             scheduler: str | None, merge_every: int | None, no_merge: bool, stall_seconds: float,
             fmt: str) -> None:  # fmt: skip
    """Run a plan's tasks on an engine.

    Run FUNCTION (module:function, taking one task's WorkerButler) on every task of MANIFEST with --engine,
    then merge the outputs into REPO.  Failed tasks are listed on stderr; run the command again to retry them.
    """
    ctx = click.get_current_context()
    butler = None if no_merge else open_butler(ctx, repo, writeable=True)
    task_function = _function(function)
    from skybutler import exec as engines

    with progress_bar(ctx) as progress:
        common: dict[str, Any] = {
            "butler": butler,
            "retries": retries,
            "merge_every": merge_every,
            "progress": progress,
        }
        if engine == "local":
            summary = engines.run_local(manifest, task_function, max_workers=workers, **common)
        elif engine == "parsl":
            config = engines.local_parsl_config(workers=workers, retries=retries)
            summary = engines.run_parsl(manifest, task_function, config=config, stall_seconds=stall_seconds, **common)
        else:
            import distributed

            if scheduler is not None:
                client = distributed.Client(scheduler)  # type: ignore[no-untyped-call]
                cluster = None
            else:
                cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=workers, threads_per_worker=1, dashboard_address=":0"
                )
                client = distributed.Client(cluster)  # type: ignore[no-untyped-call]
            try:
                summary = engines.run_dask(manifest, task_function, client=client, **common)
            finally:
                client.close()  # type: ignore[no-untyped-call]
                if cluster is not None:
                    cluster.close()
    click.echo(str(summary), err=True)
    for task, error in sorted(summary.failed.items()):
        click.echo(f"task {task} failed: {error}", err=True)
    if summary.merge is not None:
        _report(summary.merge, fmt)
    if not summary.ok:
        ctx.exit(1)
