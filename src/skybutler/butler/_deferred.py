"""`DeferredDatasetHandle`: a dataset found now and read later."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skybutler.butler import Butler
    from skybutler.datasets import DatasetRef

__all__ = ["DeferredDatasetHandle"]


class DeferredDatasetHandle:
    """A dataset found now and read later, on `get` (``butler.get_deferred``)."""

    def __init__(self, butler: Butler, ref: DatasetRef, parameters: Mapping[str, Any] | None) -> None:
        self.butler = butler
        self.ref = ref
        self.parameters = parameters

    def get(self, *, parameters: Mapping[str, Any] | None = None) -> Any:
        """Read the dataset (``parameters`` override those given when the handle was made)."""
        return self.butler.get(self.ref, parameters=parameters or self.parameters)

    def __repr__(self) -> str:
        return f"DeferredDatasetHandle({self.ref!r})"
