"""The grants a non-admin import needs are checked in a fixed number of statements, however big the file.

`_import_check` runs on the server before an import changes anything: ``admin`` is needed only for a dataset
type or a dimension record the repository lacks.  It asks the registry once for the dataset types and once per
element for the records (not once per record), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from tests.registry._statements import statements

from skybutler.butler import DirectButler
from skybutler.dimensions import DimensionRecord
from skybutler.errors import PermissionDeniedError
from skybutler.registry import parse_grants
from skybutler.server._auth import Caller
from skybutler.server._transfer_api import _import_check
from skybutler.transfer import ImportPlan

DIMS = ["instrument", "visit", "detector"]


def _plan(butler: DirectButler, visits: list[DimensionRecord], detectors: list[DimensionRecord]) -> ImportPlan:
    universe = butler.universe
    return ImportPlan(
        source="export.yaml",
        version="1.0.2",
        universe_namespace=universe.namespace,
        universe_version=universe.version,
        records={"visit": visits, "detector": detectors},
        runs={"u/alice/run": None},
        dataset_types={"meta": butler.get_dataset_type("meta")},
    )


def test_a_non_admin_import_is_checked_in_statements_that_do_not_grow_with_the_file(butler: DirectButler) -> None:
    # The fixture's repository has the sample instrument's 20 visits and 10 detectors.
    butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
    visits = butler.registry.records.fetch("visit")
    detectors = butler.registry.records.fetch("detector")
    alice = Caller("alice", parse_grants(["read:u/alice/*", "write:u/alice/*"]))
    check = _import_check(butler, alice)
    counts = []
    for n in (1, 10):
        plan = _plan(butler, visits[: 2 * n], detectors[:n])
        butler.registry.dataset_types.forget_cached()  # the dataset types' query is counted too
        with statements(butler.registry.db) as sent:
            check(plan)
        counts.append(len([s for s in sent if s.split()[0].upper() == "SELECT"]))
    # One SELECT for the dataset types, one per element for the records: 3 for 3 records as for 30.
    assert counts == [3, 3]

    # A record the repository lacks among many it has: refused, naming the grant and the element.
    element = butler.universe["detector"]
    new = DimensionRecord.from_dict(element, {"instrument": "Cam", "id": 99, "full_name": "S99"})
    with pytest.raises(PermissionDeniedError, match=r"'detector' records.*'admin'"):
        check(_plan(butler, visits, [*detectors, new]))
    # A dataset type it lacks: refused too.
    plan = _plan(butler, visits, detectors)
    plan.dataset_types["fresh"] = plan.dataset_types["meta"]
    with pytest.raises(PermissionDeniedError, match="'fresh'"):
        check(plan)
