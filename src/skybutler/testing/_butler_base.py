"""What the parts of `ButlerTests` share: the sample data IDs, declared capabilities, and repository snapshots."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

if TYPE_CHECKING:
    from skybutler.butler import Butler

__all__ = ["CAPABILITIES", "DATA_ID", "DIMS", "ButlerTestBase", "snapshot"]

DIMS = ["instrument", "visit", "detector"]
DATA_ID = {"instrument": "Cam", "visit": 1, "detector": 2}

#: What an implementation may lack, each with what depends on it.  A subclass of `ButlerTests` names those it
#: lacks in ``unsupported`` (capability → why); the tests that need one are then skipped with that reason.
CAPABILITIES: Mapping[str, str] = {
    "ingest": "ingest of files given by local path (the butler must read the caller's files)",
    "export_import": "export to and import from a local file or archive",
    "transfer": "transfer_from another repository, either way (its files read from or staged in a file datastore)",
    "maintenance": "verify, reconcile and retrieve_artifacts on the repository's own storage",
    "astropy": "storage classes converted or read through astropy (an optional package)",
    "collection_history": "collections.history, collections.diff and collections.set_doc",
}


class ButlerTestBase:
    """Capabilities and helpers of the conformance suite (`ButlerTests` documents how to use it)."""

    unsupported: ClassVar[Mapping[str, str]] = {}
    """Capability → why this implementation lacks it (keys from `CAPABILITIES`); the default is none."""

    def reopen(self, butler: Butler, **options: Any) -> Butler:
        """Another butler on the same repository, made by the same implementation (``writeable=False`` etc.).

        The default calls the implementation's class with the root; override it where more is needed (a
        remote client's token).
        """
        return type(butler)(butler.root, **options)

    def snapshot(self, butler: Butler) -> dict[str, Any]:
        """`snapshot` of ``butler`` with what this implementation can show."""
        return snapshot(butler, history="collection_history" not in self.unsupported)

    def has(self, capability: str) -> bool:
        """Whether the implementation has ``capability`` (for a check inside a test that applies anyway)."""
        assert capability in CAPABILITIES, capability
        return capability not in self.unsupported

    def needs(self, capability: str) -> None:
        """Skip the running test, with the declared reason, when the implementation lacks ``capability``."""
        unknown = set(self.unsupported) - set(CAPABILITIES)
        assert not unknown, f"{type(self).__name__}.unsupported names unknown capabilities {sorted(unknown)}"
        assert capability in CAPABILITIES, capability
        if capability in self.unsupported:
            pytest.skip(f"{type(self).__name__} lacks {capability!r}: {self.unsupported[capability]}")
        if capability == "astropy":
            pytest.importorskip("astropy")


def snapshot(butler: Butler, *, history: bool = True) -> dict[str, Any]:
    """Everything the public interface shows of a repository, to compare before and after a refused call.

    Collections with their types and chain children, dataset types, every dataset (id, type, run, data ID) of
    every RUN, every tag and (with ``history``) certification row, and what `Butler.get` reads for each dataset.
    """
    records = {name: butler.collections.get(name) for name in butler.query_collections()}
    runs = [n for n, r in records.items() if r.type.name == "RUN"]
    types = butler.query_dataset_types()
    datasets = (
        sorted(butler.query_datasets("*", collections=runs, find_first=False), key=lambda r: str(r.id)) if runs else []
    )
    members: dict[str, Any] = {}
    for name, record in records.items():
        kind = record.type.name
        if kind == "CHAINED":
            members[name] = butler.collections.children(name)
        elif kind == "TAGGED":
            members[name] = sorted(str(r.id) for r in butler.query_datasets("*", collections=name, find_first=False))
        elif kind == "CALIBRATION" and history:
            members[name] = sorted(
                (str(row.dataset_id), str(row.valid), str(row.recorded))
                for dt in types
                if dt.is_calibration
                for row in butler.collections.history(name, dt.name)
            )
    return {
        "collections": {name: r.type.name for name, r in records.items()},
        "members": members,
        "dataset_types": [dt.describe() for dt in types],
        "datasets": [(str(r.id), r.dataset_type.name, r.run, dict(r.data_id)) for r in datasets],
        "contents": [_contents(butler.get(r)) for r in datasets],
    }


def _contents(obj: Any) -> Any:
    """A comparable form of what a get returned (arrays as lists)."""
    return obj.tolist() if hasattr(obj, "tolist") else obj
