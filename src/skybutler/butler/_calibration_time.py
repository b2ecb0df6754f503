"""Valid and transaction times of calibration lookups: from an exposure or visit, and as_of checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from skybutler.dimensions import DataCoordinate, tai_ns_to_iso, to_tai_ns
from skybutler.errors import DataIdError, DatasetNotFoundError
from skybutler.registry._calibrations import tai_now

if TYPE_CHECKING:
    from skybutler.datasets import DatasetType
    from skybutler.registry import CollectionRecord, Registry, StoredDatasetType
    from skybutler.types import DataIdLike, TimeLike

__all__ = ["OBSERVATION_DIMENSIONS", "calibration_miss", "check_as_of", "observation_time"]

#: Dimensions whose records' timespans give a calibration lookup its valid time.
OBSERVATION_DIMENSIONS = ("exposure", "visit")


def check_as_of(as_of: TimeLike) -> int:
    """``as_of`` in TAI ns; a time in the future is refused, so that repeated reads give the same answer."""
    value = to_tai_ns(as_of)
    now = tai_now()
    if value > now:
        raise DataIdError(
            f"as_of={tai_ns_to_iso(value)} TAI is in the future (now is {tai_ns_to_iso(now)} TAI); a lookup "
            "as of a time still to come could change answer later. Leave as_of out for 'now'."
        )
    return value


def observation_time(
    registry: Registry,
    dataset_type: DatasetType,
    data_id: DataIdLike | None,
    kwargs: Mapping[str, Any],
    *,
    at: int | None = None,
) -> tuple[DataIdLike | None, Mapping[str, Any], int | None]:
    """Take an exposure or visit out of a calibration lookup's data ID and return its mid-time (TAI ns).

    A bias has dimensions (instrument, detector); a pipeline asks for it with the exposure it calibrates.
    The exposure is not part of the bias's data ID, but its record's timespan says when the bias must be
    valid: the middle of the exposure is used.  Returns the data ID and keyword arguments without the
    observation key, and the time (None when neither holds one).  An explicit ``at`` wins, and then the
    record need not have a timespan.
    """
    group = dataset_type.dimensions
    merged: dict[str, Any] = dict(data_id) if data_id is not None else {}
    merged.update(kwargs)
    for name in OBSERVATION_DIMENSIONS:
        if name in group or name not in merged:
            continue
        instrument = merged.get("instrument")
        if instrument is None:
            raise DataIdError(f"An {name} in a calibration lookup needs the instrument too.")
        record = registry.records.fetch_one(name, (instrument, merged[name]))
        if record is None:
            raise DataIdError(f"No {name} {merged[name]!r} of instrument {instrument!r}; cannot tell its time.")
        span = record.timespan
        if at is None:
            if span is None or span.begin is None or span.end is None:
                raise DataIdError(f"{name} {merged[name]!r} has no timespan; pass at= to the lookup instead.")
            at = span.begin + (span.end - span.begin) // 2
        # Keys a DataCoordinate brought along (the exposure's implied physical_filter, band, ...) are dropped as
        # `Registry.resolve_data_id` drops them from a larger coordinate; keys the caller typed are kept (and checked).
        extra = set(data_id) - set(kwargs) if isinstance(data_id, DataCoordinate) else set()
        rest = {k: v for k, v in merged.items() if k in group or (k not in OBSERVATION_DIMENSIONS and k not in extra)}
        rest.update(_implied_by(registry, record, group, rest))
        return rest, {}, at
    if isinstance(data_id, DataCoordinate):
        return data_id, kwargs, None
    return data_id, kwargs, None


def _implied_by(registry: Registry, record: Any, group: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """Required dimensions of ``group`` the caller left out that the observation's record implies.

    A flat of (instrument, detector, physical_filter) looked up with an exposure or visit takes its filter
    from that record, and a (detector, band) one its band through the filter's record: the observation says
    which filter it was taken with, as a pipeline expects.  Values the caller gave are never replaced.
    """
    needed = {d for d in group.required if d not in given}
    found: dict[str, Any] = {}
    todo = [record]
    while todo and needed - found.keys():
        current = todo.pop()
        for name in current.element.implies:
            value = current.get(name)
            if value is None or name in found or name in given:
                continue
            found[name] = value
            element = registry.universe[name]
            if element.implies and not element.is_skypix:
                known = {**given, **found}
                if all(d in known for d in element.required):
                    implied = registry.records.fetch_one(name, tuple(known[d] for d in element.required))
                    if implied is not None:
                        todo.append(implied)
    return {name: value for name, value in found.items() if name in needed}


def _utc(tai_ns: int | None, open_end: str) -> str:
    """A bound for people: UTC, to the second when it is whole (as certify's dates usually are)."""
    if tai_ns is None:
        return open_end
    text = tai_ns_to_iso(tai_ns, "utc")
    return text[:19] if text.endswith(".000000000") else text


def calibration_miss(
    registry: Registry,
    stored: StoredDatasetType,
    data_id: DataCoordinate,
    leaves: list[CollectionRecord],
    at: int,
    as_of: int | None,
) -> DatasetNotFoundError | None:
    """The error for a calibration lookup that missed although the dataset is certified in a collection searched:
    where, for which valid ranges, and that none covers ``at`` (as known ``as_of``).  None when nothing searched
    certifies it (the registry's general explanation applies then).

    It said "It exists in ['calib/run1']; add one of them to collections=", pointing at the RUN, when the
    answer is that no certification in the CALIBRATION collection searched covers the time asked.
    """
    known_at = tai_now() if as_of is None else as_of
    found: list[str] = []
    ranged = False
    for leaf in leaves:
        if leaf.type.name != "CALIBRATION":
            continue
        rows = registry.calibrations.history(stored, leaf.id, data_id.required_values)
        believed = [
            r for r in rows
            if r.recorded.begin is not None and r.recorded.begin <= known_at
            and (r.recorded.end is None or r.recorded.end > known_at)
        ]  # fmt: skip
        if believed:
            ranges = ", ".join(f"[{_utc(r.valid.begin, '-∞')}, {_utc(r.valid.end, '+∞')})" for r in believed)
            found.append(f"in {leaf.name!r} for {ranges} (UTC)")
            ranged = True
        elif rows and as_of is not None:  # certified there, but not in what was known then
            first = min(r.recorded.begin for r in rows if r.recorded.begin is not None)
            found.append(f"in {leaf.name!r} only by rows recorded at other times (the first at {_utc(first, '')})")
    if not found:
        return None
    when = f" as of {_utc(as_of, 'now')} UTC" if as_of is not None else ""
    return DatasetNotFoundError(
        f"No {stored.dataset_type.name!r} with data ID {data_id} is certified for {_utc(at, '')} UTC{when}: it is "
        f"certified {'; '.join(found)}, and "
        + ("none of these ranges covers that time" if ranged else "nothing there was in force then")
        + ". Certify one for that time, or ask at= a time inside a range."
    )
