"""TAGGED and CALIBRATION associations carried by a repository-to-repository transfer.

The selection mirrors export: the caller names source collections (names or globs; a CHAINED one stands
for everything below it), and of those, the TAGGED and CALIBRATION ones pass on their associations *of the
transferred datasets*: tags, and current certifications with their validity ranges.  The chains themselves
are not re-created (export/import does that).

Everything is checked before the transfer writes anything: a destination collection of another type, a
TAGGED collection there holding another dataset of the same type and data ID, or a certification there
overlapping one to carry for the same data ID, is a `ConflictError` and the destination is left as it was.
What the destination already has (the same tag, the same dataset certified over the same range) is kept,
so re-running a transfer changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skybutler.errors import CollectionError, ConflictError
from skybutler.registry import CollectionType
from skybutler.registry._collection_ops import associate, certify
from skybutler.transfer._export import with_children

if TYPE_CHECKING:
    from skybutler.datasets import DatasetRef
    from skybutler.dimensions import Timespan
    from skybutler.registry import CollectionRecord, Registry
    from skybutler.types import CollectionsLike

__all__ = ["Associations", "apply_associations", "check_associations", "find_associations"]


@dataclass
class Associations:
    """What a transfer carries besides the datasets: tags and certifications, per destination collection."""

    docs: dict[str, str | None] = field(default_factory=dict)
    """Collection name → its documentation in the source (given to collections the transfer creates)."""
    tagged: dict[str, list[DatasetRef]] = field(default_factory=dict)
    certified: dict[str, dict[Timespan, list[DatasetRef]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.tagged or self.certified)


def find_associations(registry: Registry, refs: Iterable[DatasetRef], collections: CollectionsLike) -> Associations:
    """The associations of ``refs`` in the source's collections ``collections`` (see the module docstring)."""
    names = [collections] if isinstance(collections, str) else list(collections)
    by_id = {r.id: r for r in refs}
    types = [registry.dataset_types.get(n) for n in sorted({r.dataset_type.name for r in by_id.values()})]
    out = Associations()
    for record in with_children(registry, _named(registry, names)):
        if record.type is CollectionType.TAGGED:
            tagged = [by_id[i] for s in types for i in registry.datasets.tagged_ids(s, record.id) if i in by_id]
            if tagged:
                out.tagged[record.name] = tagged
                out.docs[record.name] = record.doc
        elif record.type is CollectionType.CALIBRATION:
            spans: dict[Timespan, list[DatasetRef]] = {}
            for stored in types:
                if stored.calibs is not None:
                    for row in registry.calibrations.history(stored, record.id):
                        if row.recorded.end is None and row.dataset_id in by_id:
                            spans.setdefault(row.valid, []).append(by_id[row.dataset_id])
            if spans:
                out.certified[record.name] = spans
                out.docs[record.name] = record.doc
    return out


def check_associations(registry: Registry, plan: Associations) -> None:
    """Refuse, before anything is written, associations the destination ``registry`` could not take.

    Raises
    ------
    ConflictError
        A collection is of another type in the destination, a TAGGED one holds another dataset of the same
        type and data ID, or a CALIBRATION one has a current certification of the same data ID overlapping
        a range to carry (with another dataset, or the same one over another range).
    """
    for name, refs in plan.tagged.items():
        record = _existing(registry, name, CollectionType.TAGGED)
        if record is None:
            continue
        for ref in refs:
            stored = registry.dataset_types.find(ref.dataset_type.name)
            found = None if stored is None else registry.datasets.find(stored, [record.id], ref.data_id.required_values)
            if found is not None and found.id != ref.id:
                raise ConflictError(
                    f"Cannot tag {ref.dataset_type.name} {ref.data_id} ({ref.id}) into {name!r} here: it holds "
                    f"{found.id} for that data ID already. Disassociate it, or transfer without collections=."
                )
    for name, spans in plan.certified.items():
        record = _existing(registry, name, CollectionType.CALIBRATION)
        if record is None:
            continue
        for span, refs in spans.items():
            for ref in refs:
                for row in _current(registry, record, ref):
                    if (row.dataset_id, row.valid) != (ref.id, span) and row.valid.overlaps(span):
                        raise ConflictError(
                            f"Cannot certify {ref.dataset_type.name} {ref.data_id} ({ref.id}) over {span} in "
                            f"{name!r} here: {row.dataset_id} is certified over {row.valid} already. Decertify "
                            "that range, or transfer without collections=."
                        )


def apply_associations(registry: Registry, plan: Associations) -> tuple[int, int]:
    """Create the collections, tag and certify (one transaction); return the numbers of tags and certifications.

    What the destination has already is kept as it is, so a re-run adds nothing.
    """
    tags = certifications = 0
    with registry.db.transaction():
        for name, refs in plan.tagged.items():
            registry.collections.register(name, CollectionType.TAGGED, plan.docs.get(name))
            associate(registry, name, refs)
            tags += len(refs)
        for name, spans in plan.certified.items():
            record = registry.collections.register(name, CollectionType.CALIBRATION, plan.docs.get(name))[0]
            for span, refs in spans.items():
                new = [r for r in refs if not any(row.valid == span for row in _current(registry, record, r))]
                if new:
                    certify(registry, name, new, span)
                    certifications += len(new)
    return tags, certifications


def _named(registry: Registry, names: list[str]) -> list[CollectionRecord]:
    """The source collections matching ``names``; a plain name (no glob) that matches none is an error."""
    for name in names:
        if not any(c in name for c in "*?[") and registry.collections.find(name) is None:
            raise CollectionError(f"No collection {name!r} in the source repository to carry associations from.")
    return registry.collections.query(names)


def _existing(registry: Registry, name: str, kind: CollectionType) -> CollectionRecord | None:
    record = registry.collections.find(name)
    if record is not None and record.type is not kind:
        raise ConflictError(
            f"Cannot carry {kind.name} associations into {name!r}: it is a {record.type.name} collection here. "
            "Rename one of them, or transfer without collections=."
        )
    return record


def _current(registry: Registry, record: CollectionRecord, ref: DatasetRef) -> list[Any]:
    """The current certification rows of ``ref``'s data ID in ``record`` (none if its type is not here yet)."""
    stored = registry.dataset_types.find(ref.dataset_type.name)
    if stored is None or stored.calibs is None:
        return []
    rows = registry.calibrations.history(stored, record.id, ref.data_id.required_values)
    return [row for row in rows if row.recorded.end is None]
