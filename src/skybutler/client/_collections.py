"""`RemoteCollections`: `Butler.collections` of a remote butler (register, chains, tags, certification)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from skybutler.butler import ButlerCollections
from skybutler.dimensions import DataCoordinate, Timespan
from skybutler.errors import PermissionDeniedError
from skybutler.registry import CollectionRecord, CollectionType
from skybutler.wire import (
    CertifyRequest,
    ChainRequest,
    CollectionModel,
    CollectionRequest,
    DecertifyRequest,
    HistoryRequest,
    QueryCollectionsRequest,
    TagRequest,
    ref_to_wire,
)

if TYPE_CHECKING:
    from skybutler.client._http import Session
    from skybutler.datasets import DatasetRef, DatasetType
    from skybutler.registry._calibrations import CalibrationChange, CertificationRow
    from skybutler.types import DataIdLike, Progress, TimeLike

__all__ = ["RemoteCollections"]


def _span(valid: Any) -> tuple[int | None, int | None]:
    """``[begin, end)`` in TAI ns from a `Timespan` or a pair of times (None: unbounded)."""
    from skybutler.dimensions import Timespan, to_tai_ns

    if isinstance(valid, Timespan):
        return valid.begin, valid.end
    begin, end = valid
    return (None if begin is None else to_tai_ns(begin)), (None if end is None else to_tai_ns(end))


class RemoteCollections(ButlerCollections):
    """Collection management through the server; each call checked there against the caller's grants."""

    def __init__(
        self, session: Session, writeable: Callable[[], bool], dataset_type: Callable[[str], DatasetType]
    ) -> None:
        self._session = session
        self._is_writeable = writeable
        self._dataset_type = dataset_type

    def _writeable(self) -> None:
        if not self._is_writeable():
            raise PermissionDeniedError("This butler is read-only; open it with writeable=True to change collections.")

    def register(self, name: str, type: CollectionType | str = "TAGGED", *, doc: str | None = None) -> bool:
        """Register a collection; whether it is new."""
        self._writeable()
        kind = type.name if isinstance(type, CollectionType) else str(type).upper()
        answer = self._session.call(
            "POST",
            "/collections/register",
            CollectionRequest(name=name, type=kind, doc=doc),
            what=f"register collection {name!r}",
        )
        return bool(answer["registered"])

    def get(self, name: str) -> CollectionRecord:
        """The collection ``name`` (its id is the server's)."""
        answer = self._session.call("POST", "/collections/get", json_body={"names": [name]}, idempotent=True)
        model = CollectionModel.model_validate(answer)
        return CollectionRecord(0, model.name, CollectionType[model.type], model.doc)

    def query(
        self,
        pattern: str | Iterable[str] = "*",
        *,
        types: CollectionType | str | Iterable[CollectionType | str] | None = None,
        flatten_chains: bool = False,
    ) -> list[CollectionRecord]:
        """Collections matching glob pattern(s) and types that the caller may read."""
        if isinstance(types, CollectionType | str):
            types = [types]
        kinds = None if types is None else [t.name if isinstance(t, CollectionType) else str(t).upper() for t in types]
        request = QueryCollectionsRequest(
            patterns=[pattern] if isinstance(pattern, str) else list(pattern),
            types=kinds,
            flatten_chains=flatten_chains,
        )
        answer = self._session.call("POST", "/collections/query", request, idempotent=True)
        return [CollectionRecord(0, m["name"], CollectionType[m["type"]], m.get("doc")) for m in answer]

    def remove(self, name: str) -> None:
        """Remove a TAGGED, CHAINED or CALIBRATION collection."""
        self._writeable()
        self._session.call("POST", "/collections/remove", json_body={"names": [name]}, what=f"remove {name!r}")

    def remove_runs(self, names: Iterable[str], *, progress: Progress | None = None, even_if_used: bool = False) -> int:
        """Remove RUN collections with their datasets; how many datasets went (a dataset another run records as an
        input is refused by the server unless ``even_if_used``)."""
        self._writeable()
        answer = self._session.call(
            "POST", "/collections/remove-runs", json_body={"names": list(names)}, params={"even_if_used": even_if_used}
        )
        return int(answer["removed"])

    def _chain(self, name: str, children: Sequence[str], mode: str) -> None:
        self._writeable()
        request = ChainRequest(name=name, children=list(children), mode=mode)  # type: ignore[arg-type]
        self._session.call("POST", "/collections/chain", request, what=f"chain {name!r}")

    def set_chain(self, name: str, children: Sequence[str]) -> None:
        """Define or redefine a CHAINED collection (created if missing)."""
        self._chain(name, children, "set")

    def extend_chain(self, name: str, children: Sequence[str]) -> None:
        """Append children to a chain."""
        self._chain(name, children, "extend")

    def remove_from_chain(self, name: str, children: Sequence[str]) -> None:
        """Remove children from a chain."""
        self._chain(name, children, "remove")

    def children(self, name: str) -> list[str]:
        """The ordered children of a chain."""
        answer = self._session.call("POST", "/collections/get", json_body={"names": [name]}, idempotent=True)
        return list(answer.get("children") or [])

    def flatten(self, names: str | Sequence[str]) -> list[str]:
        """The search path of ``names`` with chains expanded."""
        body = {"names": [names] if isinstance(names, str) else list(names)}
        return list(self._session.call("POST", "/collections/flatten", json_body=body, idempotent=True))

    def associate(self, name: str, refs: Iterable[DatasetRef]) -> None:
        """Tag datasets into a TAGGED collection."""
        self._writeable()
        self._session.call("POST", "/collections/associate", TagRequest(name=name, refs=[ref_to_wire(r) for r in refs]))

    def disassociate(self, name: str, refs: Iterable[DatasetRef]) -> int:
        """Untag datasets; how many were there."""
        self._writeable()
        request = TagRequest(name=name, refs=[ref_to_wire(r) for r in refs])
        return int(self._session.call("POST", "/collections/disassociate", request)["disassociated"])

    def certify(
        self, name: str, refs: Iterable[DatasetRef], valid: Timespan | tuple[Any, Any], *, replace: bool = False
    ) -> int:
        """Certify calibrations over ``valid`` = ``[begin, end)``; the transaction time."""
        self._writeable()
        begin, end = _span(valid)
        request = CertifyRequest(name=name, refs=[ref_to_wire(r) for r in refs], begin=begin, end=end, replace=replace)
        return int(
            self._session.call("POST", "/collections/certify", request, what=f"certify into {name!r}")["recorded"]
        )

    def decertify(
        self,
        name: str,
        dataset_type: str,
        valid: Timespan | tuple[Any, Any],
        *,
        data_ids: Iterable[DataIdLike] | None = None,
    ) -> int:
        """Withdraw certifications over ``valid``; how many rows were closed."""
        from skybutler.client._helpers import data_id_json

        self._writeable()
        begin, end = _span(valid)
        request = DecertifyRequest(
            name=name,
            dataset_type=dataset_type,
            begin=begin,
            end=end,
            data_ids=None if data_ids is None else [data_id_json(d, {}) for d in data_ids],
        )
        return int(
            self._session.call("POST", "/collections/decertify", request, what=f"decertify in {name!r}")["closed"]
        )

    # -- documentation and calibration history ----------------------------------------------------------------
    def set_doc(self, name: str, doc: str | None) -> None:
        """Set or clear a collection's documentation (write on it)."""
        self._writeable()
        self._session.call("POST", "/collections/set-doc", json_body={"name": name, "doc": doc}, what="set_doc")

    def history(self, name: str, dataset_type: str, data_id: DataIdLike | None = None) -> list[CertificationRow]:
        """Every certification row of a CALIBRATION collection (read on it), oldest first."""
        from skybutler.client._helpers import data_id_json
        from skybutler.registry._calibrations import CertificationRow

        request = HistoryRequest(name=name, dataset_type=dataset_type, data_id=data_id_json(data_id, {}) or None)
        answer = self._session.call("POST", "/collections/history", request, idempotent=True, what="history")
        return [
            CertificationRow(r["dataset_type"], self._coordinate(r["dataset_type"], r["data_id"]),
                             uuid.UUID(r["dataset_id"]), Timespan(*r["valid"]), Timespan(*r["recorded"]))
            for r in answer
        ]  # fmt: skip

    def diff(
        self, name: str, dataset_type: str, since: TimeLike, until: TimeLike | None = None
    ) -> list[CalibrationChange]:
        """What changed in a CALIBRATION collection between two transaction times (read on it)."""
        from skybutler.dimensions import to_tai_ns
        from skybutler.registry._calibrations import CalibrationChange

        request = HistoryRequest(name=name, dataset_type=dataset_type, since=to_tai_ns(since),
                                 until=None if until is None else to_tai_ns(until))  # fmt: skip
        answer = self._session.call("POST", "/collections/history", request, idempotent=True, what="diff")
        return [
            CalibrationChange(c["kind"], c["dataset_type"], self._coordinate(c["dataset_type"], c["data_id"]),
                              Timespan(*c["valid"]), c["before"] and uuid.UUID(c["before"]),
                              c["after"] and uuid.UUID(c["after"]))
            for c in answer
        ]  # fmt: skip

    def _coordinate(self, dataset_type: str, data_id: dict[str, Any]) -> DataCoordinate:
        dt = self._dataset_type(dataset_type)
        group = dt.dimensions
        return DataCoordinate.from_required(group, tuple(data_id[d] for d in group.required))
