"""Maintenance of a remote butler's repository: `verify` and `reconcile`, run by the server (``admin``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from skybutler.errors import PermissionDeniedError
from skybutler.wire import RefsRequest, ref_to_wire

if TYPE_CHECKING:
    from skybutler.butler import VerifyReport
    from skybutler.client._http import Session
    from skybutler.datasets import DatasetRef
    from skybutler.datastore import ReconcileReport
    from skybutler.types import CollectionsLike, Progress

__all__ = ["RemoteMaintenance"]


class RemoteMaintenance:
    """`RemoteButler`'s `verify` and `reconcile` (a mixin): server-side admin operations, not client walks."""

    _session: Session
    writeable: bool

    if TYPE_CHECKING:  # provided by RemoteButler

        def query_datasets(self, dataset_types: Any, **kwargs: Any) -> Any: ...

    def verify(
        self,
        refs: Iterable[DatasetRef] | None = None,
        *,
        collections: CollectionsLike | None = None,
        progress: Progress | None = None,
    ) -> VerifyReport:
        """As `Butler.verify`, run by the server (admin): of ``refs``, of ``collections``, or of everything."""
        from skybutler.butler import VerifyReport

        if refs is None and collections is not None:
            refs = self.query_datasets("*", collections=collections, find_first=False)
        body = None if refs is None else RefsRequest(refs=[ref_to_wire(r) for r in refs], artifacts=False)
        answer = self._session.call("POST", "/admin/verify", body, what="verify")
        return VerifyReport(
            ok=answer["ok"],
            missing=[(uuid.UUID(i), u) for i, u in answer["missing"]],
            corrupt=[(uuid.UUID(i), u, w) for i, u, w in answer["corrupt"]],
            unknown=list(answer["unknown"]),
        )

    def reconcile(self, *, grace_seconds: float = 600.0, remove_unknown: bool = False) -> ReconcileReport:
        """As `Butler.reconcile`, run by the server (admin)."""
        from skybutler.datastore import ReconcileReport

        if not self.writeable:
            raise PermissionDeniedError("reconcile changes the repository; open it with writeable=True.")
        answer = self._session.call(
            "POST",
            "/admin/reconcile",
            what="reconcile",
            params={"grace_seconds": grace_seconds, "remove_unknown": remove_unknown},
        )
        return ReconcileReport(**answer)
