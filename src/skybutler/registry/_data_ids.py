"""Data ID completion: alternate keys → primary keys, implied values from records, and expansion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skybutler.dimensions import DataCoordinate, DataIdInput, DimensionRecord
from skybutler.errors import DataIdError

if TYPE_CHECKING:
    from skybutler.dimensions import DataIdValue, DimensionGroup, DimensionUniverse
    from skybutler.registry._dimensions import DimensionRecords

__all__ = ["DataIdResolver", "hint_text"]


class DataIdResolver:
    """Turn a `DataIdInput` into a full or expanded `DataCoordinate` using dimension records."""

    def __init__(self, universe: DimensionUniverse, records: DimensionRecords) -> None:
        self.universe = universe
        self._universe = universe
        self._records = records

    def complete(
        self,
        group: DimensionGroup,
        given: DataIdInput,
        *,
        expand: bool = False,
        steps: list[str] | None = None,
    ) -> DataCoordinate:
        """Return the full (or, with ``expand``, expanded) data ID of ``group`` for ``given``.

        ``steps``, when a list, receives one line per value or record the resolution added.

        Raises
        ------
        DataIdError
            A required key is missing, an alternate key or a record does not exist, or a given implied
            value contradicts the records.
        """
        values: dict[str, DataIdValue] = dict(given.values)
        self._resolve_alternates(group, given, values, steps)
        missing = [d for d in group.required if d not in values]
        if missing:
            raise DataIdError(
                f"The data ID {given.describe()} lacks {missing} (needed: {list(group.required)})."
                + self._hint(missing[0], values)
            )
        fetched: dict[str, DimensionRecord | None] = {}
        pending = [d for d in group.names if d in values]
        done: set[str] = set()
        while pending:
            name = pending.pop(0)
            if name in done:
                continue
            done.add(name)
            element = self._universe[name]
            if not element.implies and not expand:
                continue
            if element.is_skypix:
                fetched[name] = None
                continue
            record = self._fetch(name, values)
            fetched[name] = record
            for implied in element.implies:
                value = record.get(implied)
                if implied in values:
                    if value != values[implied]:
                        raise DataIdError(
                            f"The data ID says {implied}={values[implied]!r}, but {name} {values[name]!r} "
                            f"has {implied}={value!r}; leave {implied!r} out or correct it."
                        )
                elif implied in group:
                    values[implied] = value
                    if steps is not None:
                        steps.append(f"{implied}={value!r} from the {name} record {self._key_text(name, values)}")
                if implied in group and implied not in done:
                    pending.append(implied)
        full = DataCoordinate(group, tuple(values[n] for n in group.names))
        if not expand:
            return full
        for element_name in group.elements:
            if element_name not in fetched:
                element = self._universe[element_name]
                key = tuple(values[d] for d in element.required)
                fetched[element_name] = self._records.fetch_one(element_name, key)
                if steps is not None and fetched[element_name] is not None:
                    steps.append(f"record {element_name} {dict(zip(element.required, key, strict=True))}")
        return full.expanded(fetched)

    def unknown_record(self, data_id: DataCoordinate) -> str | None:
        """Say which required dimension of ``data_id`` has no record (parents first), or ``None``.

        One primary-key lookup per required dimension at most: cheap enough for not-found messages.
        """
        values = dict(data_id.required)
        for name in data_id.group.required:
            element = self._universe[name]
            if element.is_skypix:
                continue
            key = tuple(values[d] for d in element.required)
            if not self._records.exists(name, key):
                return f"No {name} record for {dict(zip(element.required, key, strict=True))}." + self._hint(
                    name, values
                )
        return None

    def _resolve_alternates(
        self,
        group: DimensionGroup,
        given: DataIdInput,
        values: dict[str, DataIdValue],
        steps: list[str] | None,
    ) -> None:
        for name in sorted(given.alternates, key=lambda n: self._universe[n].index):
            element = self._universe[name]
            where: dict[str, Any] = dict(given.alternates[name])
            for parent in element.parents:
                if parent in values:
                    where[parent] = values[parent]
            found = self._records.fetch(name, where, limit=2)
            if not found:
                raise DataIdError(f"No {name} record has {where}." + self._hint(name, values))
            if len(found) > 1:
                raise DataIdError(f"{where} matches more than one {name}; add {list(element.parents)} to the data ID.")
            record = found[0]
            for key_name, value in zip(element.required, record.key, strict=True):
                if key_name in values and values[key_name] != value:
                    raise DataIdError(
                        f"The data ID says {key_name}={values[key_name]!r}, but {name} {where} has "
                        f"{key_name}={value!r}."
                    )
                if key_name not in values:
                    values[key_name] = value
                    if steps is not None:
                        steps.append(f"{key_name}={value!r} from the {name} record matching {where}")

    def _fetch(self, name: str, values: dict[str, DataIdValue]) -> DimensionRecord:
        element = self._universe[name]
        key = tuple(values[d] for d in element.required)
        record = self._records.fetch_one(name, key)
        if record is None:
            raise DataIdError(
                f"No {name} record for {dict(zip(element.required, key, strict=True))}." + self._hint(name, values)
            )
        return record

    def _key_text(self, name: str, values: dict[str, DataIdValue]) -> str:
        element = self._universe[name]
        return str({d: values[d] for d in element.required})

    def _hint(self, name: str, values: dict[str, DataIdValue]) -> str:
        """List a few existing values of ``name`` under the known parents (cheap: one limited query)."""
        element = self._universe[name]
        if element.is_skypix or not element.is_dimension:
            return ""
        where = {p: values[p] for p in element.parents if p in values}
        return hint_text(name, where, self._records.some_keys(name, where, 11))


def hint_text(name: str, where: dict[str, DataIdValue], found: list[Any]) -> str:
    """The hint after "no such record": up to ten of the ``found`` values of ``name`` under ``where``."""
    scope = f" for {where}" if where else ""
    if not found:
        return f" There are no {name} records{scope}; insert them first."
    shown = ", ".join(repr(v) for v in found[:10])
    more = " and more" if len(found) > 10 else ""
    return f" Known {name} values{scope}: {shown}{more}."
