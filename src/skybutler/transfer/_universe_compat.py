"""Bring dimension records and dataset types written under an older reference universe (0-7) up to ours.

The reference butler's default universe (namespace ``daf_butler``) changed in these ways that matter to an
import (learned from its ``configs/old_dimensions`` files and its import code; the other steps only widened
string columns, added nullable fields or added new elements, which need nothing):

* before version 1, some files carried a ``visit.seeing`` field that was dropped, and visits could lack a
  ``day_obs``;
* before version 2, a visit *implied* one ``visit_system`` (a field of its record), and ``visit_definition``
  rows were keyed by ``(exposure, visit_system)``; since then visits belong to visit systems through
  ``visit_system_membership`` rows, and ``visit_definition`` is keyed by ``(exposure, visit)``;
* before version 6, ``group`` and ``day_obs`` were plain exposure/visit fields (``group_name``, ``group_id``,
  ``day_obs``); since then they are dimensions with their own records, implied by exposure and visit.

`Upgrader` applies the steps the file's version needs, but only those our universe calls for (a step checks
that the target has the element or relation it produces), and notes what it had to invent.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from skybutler.dimensions import to_tai_ns

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionUniverse

__all__ = ["Upgrader"]

REFERENCE_NAMESPACE = "daf_butler"


class Upgrader:
    """Upgrade the records of one export file from its universe version to the repository's.

    Parameters
    ----------
    universe
        The repository's universe (the target).
    namespace, version
        The ``universe_namespace`` and ``universe_version`` of the file.
    """

    def __init__(self, universe: DimensionUniverse, namespace: str, version: int) -> None:
        self.universe = universe
        self.version = version
        self.active = namespace == REFERENCE_NAMESPACE and universe.namespace == REFERENCE_NAMESPACE
        self.extra: dict[str, list[dict[str, Any]]] = {}
        """Records the upgrade creates (group, day_obs, visit_system_membership), by element."""
        self.notes: list[str] = []
        self._day_obs_seen: set[tuple[Any, Any]] = set()
        self._groups_seen: set[tuple[Any, Any]] = set()

    @property
    def needed(self) -> bool:
        """Whether any step applies (same namespace and an older version)."""
        return self.active and self.version < self.universe.version

    def _has(self, element: str, field: str | None = None, *, implied: bool = False) -> bool:
        if element not in self.universe:
            return False
        if field is None:
            return True
        e = self.universe[element]
        return field in e.implies if implied else field in e.field_index

    # -- records ------------------------------------------------------------------------------------------
    def records(self, element: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return the records of ``element`` as the repository's universe defines them (edits in place)."""
        if not self.needed:
            return records
        if element == "visit":
            self._visit(records)
        elif element == "visit_definition" and self.version < 2:
            records = self._visit_definition(records)
        elif element == "exposure" and self.version < 6:
            self._exposure(records)
        return records

    def _visit(self, records: list[dict[str, Any]]) -> None:
        membership = self.version < 2 and self._has("visit_system_membership")
        for record in records:
            if self.version < 1 and not self._has("visit", "seeing"):
                record.pop("seeing", None)
            if membership and "visit_system" in record:
                system = record.pop("visit_system")
                if system is not None:
                    self.extra.setdefault("visit_system_membership", []).append(
                        {"instrument": record.get("instrument"), "visit_system": system, "visit": record.get("id")}
                    )
            if self.version < 1 and record.get("day_obs") is None and self._has("visit", "day_obs"):
                begin = record.get("datetime_begin")
                if begin is not None:
                    # Any form the file holds: integer TAI ns, a YAML timestamp (UTC), ISO text, as the
                    # reference derives it (its start on the TAI scale; no instrument day offset, which needs
                    # the instrument's Python class).
                    record["day_obs"] = int(_tai_date(to_tai_ns(begin)))
                    self._note("visit.day_obs was missing (universe 0): taken from the TAI date of its start")
            if self.version < 6 and self._has("visit", "day_obs", implied=True):
                self._day_obs(record)

    def _visit_definition(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._has("visit_definition", "visit_system"):
            return records
        out: list[dict[str, Any]] = []
        seen: set[tuple[Any, ...]] = set()
        for record in records:
            record.pop("visit_system", None)
            key = (record.get("instrument"), record.get("exposure"), record.get("visit"))
            if key not in seen:  # one row per visit system before; one per (exposure, visit) now
                seen.add(key)
                out.append(record)
        return out

    def _exposure(self, records: list[dict[str, Any]]) -> None:
        group = self._has("exposure", "group", implied=True) and self._has("group")
        day_obs = self._has("exposure", "day_obs", implied=True)
        for record in records:
            if group and "group_name" in record:
                record["group"] = record.pop("group_name")
                record.pop("group_id", None)
                key = (record.get("instrument"), record["group"])
                if record["group"] is not None and key not in self._groups_seen:
                    self._groups_seen.add(key)
                    self.extra.setdefault("group", []).append({"instrument": key[0], "name": key[1]})
            if day_obs:
                self._day_obs(record)

    def _day_obs(self, record: dict[str, Any]) -> None:
        key = (record.get("instrument"), record.get("day_obs"))
        if key[1] is None or key in self._day_obs_seen or not self._has("day_obs"):
            return
        self._day_obs_seen.add(key)
        self.extra.setdefault("day_obs", []).append({"instrument": key[0], "id": key[1]})
        self._note(
            "day_obs records were created from exposure/visit fields (universe < 6) without timespans: "
            "the day boundary of an instrument is not in the file"
        )

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # -- dataset types --------------------------------------------------------------------------------------
    def dimensions(self, names: list[str]) -> list[str]:
        """The dimensions of a dataset type as the repository's universe has them."""
        old = self.needed and self.version < 2 and "visit" in names and "visit_system" in names
        if old and "visit_system" not in self.universe["visit"].implies:
            return [n for n in names if n != "visit_system"]
        return names


def _tai_date(ns: int) -> str:
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=ns // 1000)
    return moment.strftime("%Y%m%d")
