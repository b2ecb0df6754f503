"""The butler: the one object science code talks to.

It puts and gets Python objects by dataset type, data ID and collection, and keeps the registry and the
datastore in step. The direct implementation (``_butler.Butler``) works on the database and storage itself;
its helpers (collections, calibration times, writes, maintenance, repository files) live beside it and are
private to this folder.
"""

from skybutler.butler._butler import Butler
from skybutler.butler._deferred import DeferredDatasetHandle
from skybutler.butler._provenance import Invalidation, LineageNode, RunDiff

__all__ = ["Butler", "DeferredDatasetHandle", "Invalidation", "LineageNode", "RunDiff"]
