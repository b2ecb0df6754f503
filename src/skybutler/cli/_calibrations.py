"""Calibration commands: certify, decertify and the bitemporal history of a CALIBRATION collection."""

from __future__ import annotations

from typing import Any

import click

from skybutler.cli._options import (
    complete_collections,
    creating_collection,
    data_id_option,
    dataset_type_argument,
    find_refs,
    open_butler,
    parse_data_id,
    repo_argument,
    where_option,
    yes_dry_run_options,
)
from skybutler.cli._output import emit, format_option, iso_utc

__all__ = ["calibration_history", "certify_calibrations", "decertify"]

_TIME_HELP = "ISO time, UTC (e.g. 2025-01-01T12:00); omit for unbounded."


def _when(text: str | None) -> Any:
    return None if text is None or text.lower() in ("", "none", "inf", "-inf") else text


def _span(valid: Any) -> str:
    return f"[{iso_utc(valid.begin) or '-inf'}, {iso_utc(valid.end) or '+inf'})"


@click.command()
@repo_argument
@click.argument("input_collection", shell_complete=complete_collections)
@click.argument("calib_collection", shell_complete=complete_collections)
@dataset_type_argument()
@click.option("--begin", "begin", metavar="TIME", help="Start of validity (inclusive). " + _TIME_HELP)
@click.option("--end", "end", metavar="TIME", help="End of validity (exclusive). " + _TIME_HELP)
@where_option
@data_id_option
@click.option("--replace", is_flag=True, help="Supersede overlapping certifications instead of refusing.")
@click.pass_context
def certify_calibrations(
    ctx: click.Context, repo: str, input_collection: str, calib_collection: str, dataset_type: str,
    begin: str | None, end: str | None, where: str, data_id: tuple[str, ...], replace: bool,
) -> None:  # fmt: skip
    """Certify calibrations over a validity range.

    Certify DATASET_TYPE datasets found in INPUT_COLLECTION into CALIB_COLLECTION, valid over [--begin, --end).

    CALIB_COLLECTION is created when missing.  An overlap with a current certification of the same data ID is
    refused (exit 1, error [conflict]) unless --replace.
    """
    butler = open_butler(ctx, repo, writeable=True)
    refs = find_refs(butler, [dataset_type], [input_collection], where=where, data_id=data_id)[0]
    if not refs:
        click.echo(f"No {dataset_type} datasets in {input_collection} match; nothing certified.")
        return
    with creating_collection(butler, calib_collection, "CALIBRATION") as created:
        butler.collections.certify(calib_collection, refs, (_when(begin), _when(end)), replace=replace)
    if created:
        click.echo(f"Created CALIBRATION collection {calib_collection}.")
    span = f"[{begin or '-inf'}, {end or '+inf'})"
    click.echo(f"Certified {len(refs)} {dataset_type} dataset(s) into {calib_collection}, valid {span}.")


@click.command()
@repo_argument
@click.argument("calib_collection", shell_complete=complete_collections)
@dataset_type_argument()
@click.option("--begin", metavar="TIME", help="Start of the range withdrawn. " + _TIME_HELP)
@click.option("--end", metavar="TIME", help="End of the range withdrawn. " + _TIME_HELP)
@click.option("--data-id", "-d", "data_ids", multiple=True, metavar="KEY=VALUE,...",
              help="Only this data ID (repeatable); default: every data ID.")  # fmt: skip
@yes_dry_run_options
@click.pass_context
def decertify(
    ctx: click.Context, repo: str, calib_collection: str, dataset_type: str, begin: str | None, end: str | None,
    data_ids: tuple[str, ...], yes: bool, dry_run: bool,
) -> None:  # fmt: skip
    """Withdraw certifications over a time range.

    Withdraw DATASET_TYPE certifications in CALIB_COLLECTION over [--begin, --end).

    The history keeps every withdrawn row (see calibration-history); parts of a certification outside the range
    stay valid.
    """
    from skybutler.cli._options import confirm
    from skybutler.dimensions import Timespan

    butler = open_butler(ctx, repo, writeable=True)
    ids = [parse_data_id(d) for d in data_ids] or None
    span = (_when(begin), _when(end))
    withdrawn = Timespan.from_times(*span)
    wanted: list[dict[str, str] | None] = list(ids) if ids else [None]
    rows = [
        row
        for data_id in wanted
        for row in butler.collections.history(calib_collection, dataset_type, data_id)
        if row.recorded.end is None and row.valid.overlaps(withdrawn)
    ]
    lines = [f"{dict(r.data_id.required)} {r.dataset_id} valid {_span(r.valid)} UTC" for r in rows]
    if confirm(lines, f"decertify {len(rows)} certification(s)", yes=yes, dry_run=dry_run):
        closed = butler.collections.decertify(calib_collection, dataset_type, span, data_ids=ids)
        click.echo(f"Closed {closed} certification row(s) in {calib_collection}.")


@click.command()
@repo_argument
@click.argument("calib_collection", shell_complete=complete_collections)
@dataset_type_argument()
@data_id_option
@click.option("--current", is_flag=True, help="Only rows still in force (not superseded or withdrawn).")
@format_option
@click.pass_context
def calibration_history(
    ctx: click.Context, repo: str, calib_collection: str, dataset_type: str, data_id: tuple[str, ...],
    current: bool, fmt: str,
) -> None:  # fmt: skip
    """Show the certification history of a calibration.

    Every certification of DATASET_TYPE in CALIB_COLLECTION: valid range and when it was recorded (UTC).
    """
    from skybutler.cli._options import merged_data_id

    butler = open_butler(ctx, repo)
    wanted = merged_data_id(data_id) or None
    rows = []
    for row in butler.collections.history(calib_collection, dataset_type, wanted):
        if current and row.recorded.end is not None:
            continue
        rows.append({
            **row.data_id.required,
            "dataset_id": row.dataset_id,
            "valid_begin": iso_utc(row.valid.begin) or "-inf",
            "valid_end": iso_utc(row.valid.end) or "+inf",
            "recorded_begin": iso_utc(row.recorded.begin),
            "recorded_end": iso_utc(row.recorded.end) or "current",
        })  # fmt: skip
    emit(rows, fmt, title=f"{dataset_type} in {calib_collection}", empty="No certifications.")
