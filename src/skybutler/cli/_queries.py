"""Query commands: datasets, data IDs, dimension records, and the completeness matrix (``missing``)."""

from __future__ import annotations

from typing import Any

import click

from skybutler.cli._options import (
    collections_option,
    data_id_option,
    dataset_type_argument,
    find_refs,
    limit_option,
    merged_data_id,
    open_butler,
    order_by_option,
    repo_argument,
    resolve_collections,
    split_names,
    where_option,
)
from skybutler.cli._output import emit, format_option, iso_utc

__all__ = ["missing", "query_data_ids", "query_datasets", "query_dimension_records"]


def _explain(results: Any, fmt: str) -> None:
    """After an empty table, say why it is empty (on stderr for the script formats, which print just [])."""
    for reason in results.explain_no_results() if results is not None else ["No RUN collections to search."]:
        click.echo(f"  {reason}", err=fmt != "table")


@click.command()
@repo_argument
@dataset_type_argument("dataset_types", nargs=-1, required=False)
@collections_option
@where_option
@data_id_option
@click.option("--find-all", is_flag=True, help="Every match along the search path, not only the first per data ID.")
@click.option("--at", metavar="TIME", help="Search CALIBRATION collections for what was valid then (ISO, UTC).")
@order_by_option
@limit_option
@click.option("--show-uri", is_flag=True, help="Add each dataset's file URI.")
@format_option
@click.pass_context
def query_datasets(
    ctx: click.Context, repo: str, dataset_types: tuple[str, ...], collections: tuple[str, ...], where: str,
    data_id: tuple[str, ...], find_all: bool, at: str | None, order_by: tuple[str, ...], limit: int | None,
    show_uri: bool, fmt: str,
) -> None:  # fmt: skip
    """List datasets.

    List datasets of DATASET_TYPES (names or globs; default: all) in the collections.

    Without --collections every RUN collection is searched.  With them, only the first dataset along the
    search path is shown for each data ID, unless --find-all.
    """
    butler = open_butler(ctx, repo)
    refs, results = find_refs(
        butler, dataset_types, collections, where=where, data_id=data_id, find_first=not find_all,
        limit=limit, order_by=order_by, at=at,
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    for ref in refs:
        row: dict[str, Any] = {"dataset_type": ref.dataset_type.name, "run": ref.run, "id": ref.id}
        row.update(ref.data_id.required)
        if show_uri:
            row["uri"] = butler.get_uri(ref)
        rows.append(row)
    if fmt != "table":
        emit(rows, fmt)
    elif not rows:
        click.echo("No datasets found.")
    if not rows:  # every empty result says why: under the table's line, or on stderr after a script format's []
        _explain(results, fmt)
        searched = butler.collections.flatten(resolve_collections(butler, collections))
        calibrations = any(dt.is_calibration for dt in butler.query_dataset_types(dataset_types))
        if at is None and calibrations and any(butler.collections.get(c).type.name == "CALIBRATION" for c in searched):
            click.echo("  CALIBRATION collections are searched only with --at TIME (see calibration-history).",
                       err=fmt != "table")  # fmt: skip
    if fmt != "table" or not rows:
        return
    by_type: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_type.setdefault(row["dataset_type"], []).append(row)
    for name, group in by_type.items():
        emit([{k: v for k, v in r.items() if k != "dataset_type"} for r in group], fmt, title=name)


@click.command()
@repo_argument
@click.argument("dimensions", nargs=-1, required=True)
@click.option("--datasets", multiple=True, metavar="DATASET_TYPES",
              help="Only data IDs with datasets of these types in --collections (default: every RUN).")  # fmt: skip
@collections_option
@where_option
@data_id_option
@order_by_option
@limit_option
@format_option
@click.pass_context
def query_data_ids(
    ctx: click.Context, repo: str, dimensions: tuple[str, ...], datasets: tuple[str, ...],
    collections: tuple[str, ...], where: str, data_id: tuple[str, ...], order_by: tuple[str, ...],
    limit: int | None, fmt: str,
) -> None:  # fmt: skip
    """List data IDs that satisfy constraints.

    List data IDs of DIMENSIONS (e.g. visit detector) that satisfy the constraints.
    """
    butler = open_butler(ctx, repo)
    names = resolve_collections(butler, collections)
    if not names and datasets:  # as query-datasets and missing: without --collections, every RUN
        names = butler.query_collections(types=["RUN"])
        if not names:
            emit([], fmt, empty="No data IDs found.")
            _explain(None, fmt)
            return
    results = butler.query_data_ids(
        split_names(dimensions), where=where, data_id=merged_data_id(data_id),
        datasets=split_names(datasets) or None, collections=names or None, order_by=list(order_by) or None,
        limit=limit,
    )  # fmt: skip
    rows = [dict(coord) for coord in results]
    emit(rows, fmt, empty="No data IDs found.")
    if not rows:
        _explain(results, fmt)


@click.command()
@repo_argument
@click.argument("element")
@where_option
@data_id_option
@order_by_option
@limit_option
@format_option
@click.pass_context
def query_dimension_records(
    ctx: click.Context, repo: str, element: str, where: str, data_id: tuple[str, ...], order_by: tuple[str, ...],
    limit: int | None, fmt: str,
) -> None:  # fmt: skip
    """List dimension records.

    List the records of dimension ELEMENT (instrument, detector, visit, ...) that satisfy the constraints.
    """
    butler = open_butler(ctx, repo)
    records = butler.query_dimension_records(
        element, where=where, data_id=merged_data_id(data_id), order_by=list(order_by) or None, limit=limit
    )
    from skybutler.dimensions import Timespan
    from skybutler.dimensions._regions import describe_region, encode_region

    rows = []
    for record in records:
        row: dict[str, Any] = {}
        for key, value in record.to_dict().items():
            if isinstance(value, Timespan):  # two columns, as insert-dimension-records reads them from CSV
                row[f"{key}_begin"], row[f"{key}_end"] = iso_utc(value.begin), iso_utc(value.end)
            elif key == "region" and value is not None:  # a short form in tables; elsewhere sphgeom's hex
                row[key] = describe_region(value) if fmt == "table" else encode_region(value).hex()
            elif isinstance(value, bytes) and fmt == "table":  # kilobytes of hex: just say it is there
                row[key] = f"<{len(value)} bytes>"
            else:
                row[key] = value
        rows.append(row)
    emit(rows, fmt, title=element, empty=f"No {element} records found.")
    if not rows:
        for reason in _why_no_records(butler, element, where, merged_data_id(data_id)):
            click.echo(f"  {reason}", err=fmt != "table")


def _why_no_records(butler: Any, element: str, where: str, data_id: dict[str, Any] | None) -> list[str]:
    """Why a record query found nothing: the query system's explanation for the element's data IDs, else a
    plain statement of the constraints (an element that is not a dimension has no data ID query)."""
    if not where and not data_id:
        return [f"The repository has no {element} records; add them with `skybutler insert-dimension-records`."]
    if element in {d.name for d in butler.universe.dimensions}:
        reasons = list(butler.query_data_ids([element], where=where, data_id=data_id).explain_no_results())
        if reasons:
            return reasons
    return [f"No {element} record satisfies the constraints (--where / --data-id)."]


@click.command()
@repo_argument
@dataset_type_argument("dataset_types", nargs=-1)
@click.option("--dimensions", "-D", multiple=True, metavar="DIMS",
              help="Rows of the matrix (e.g. visit,detector); default: the dataset types' dimensions.")  # fmt: skip
@collections_option
@where_option
@data_id_option
@click.option("--only-missing", is_flag=True, help="Show only the rows that lack something.")
@format_option
@click.pass_context
def missing(
    ctx: click.Context, repo: str, dataset_types: tuple[str, ...], dimensions: tuple[str, ...],
    collections: tuple[str, ...], where: str, data_id: tuple[str, ...], only_missing: bool, fmt: str,
) -> None:  # fmt: skip
    """Show which dataset types exist for each data ID.

    The completeness matrix: for each data ID, how many datasets of each of DATASET_TYPES (names or globs) the
    collections hold (without --collections: every RUN).  The dimensions must include those of every type.
    """
    from skybutler.errors import DatasetTypeError

    butler = open_butler(ctx, repo)
    types: list[str] = []
    for name in split_names(dataset_types):  # globs expand here; a plain unknown name is an error from missing()
        matched = [dt.name for dt in butler.query_dataset_types(name)] if set("*?[") & set(name) else [name]
        if not matched:  # as resolve_collections does for a collection glob: a matrix of nothing is a mistake
            raise DatasetTypeError(f"No dataset type matches {name!r}; see `skybutler query-dataset-types`.")
        types += [m for m in matched if m not in types]
    dims = split_names(dimensions)
    if not dims:
        dims = sorted({d for dt in butler.query_dataset_types(types) for d in dt.dimensions.required})
    names = resolve_collections(butler, collections) or butler.query_collections(types=["RUN"])
    table = butler.missing(types, dims, where=where, collections=names, data_id=merged_data_id(data_id))
    rows = []
    for row in table.rows:
        if only_missing and row.complete:
            continue
        out: dict[str, Any] = dict(row.data_id.required)
        for name, count in row.counts.items():  # a table marks the gaps; the script formats give the counts
            out[name] = ("MISSING" if count == 0 else str(count)) if fmt == "table" else count
        rows.append(out)
    emit(rows, fmt, title="Completeness", empty="Nothing missing." if only_missing else "No data IDs match.")
    if fmt == "table" and table.rows:
        click.echo(f"{len(table.incomplete())} of {len(table.rows)} data ID(s) lack at least one dataset type.")
