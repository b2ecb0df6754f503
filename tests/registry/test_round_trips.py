"""Reads in the fewest round trips (issue 26 part 2): every statement counted, on SQLite and PostgreSQL.

On PostgreSQL each statement is a round trip, and a read of one statement needs no BEGIN and COMMIT around it.
"""

from __future__ import annotations

import pytest
from tests.registry._statements import statements

from skybutler.butler import DirectButler
from skybutler.datasets import DatasetRef
from skybutler.errors import DatasetNotFoundError


@pytest.fixture
def stored(butler: DirectButler) -> list[DatasetRef]:
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    refs = [butler.put({"v": v}, "meta", instrument="Cam", visit=v, detector=1) for v in range(3)]
    butler.get(refs[0])  # statements compiled, collections cached: what follows is the steady state
    butler.get("meta", refs[0].data_id)
    return refs


def test_get_of_a_ref_is_one_statement(butler: DirectButler, stored: list[DatasetRef]) -> None:
    with statements(butler.registry.db) as sent:
        assert butler.get(stored[1]) == {"v": 1}
    assert len(sent) == 1, sent  # no BEGIN/COMMIT on PostgreSQL; one cached SELECT (was ~1 ms: a new IN each call)
    assert sent[0].lstrip().upper().startswith("SELECT")


def test_get_by_data_id_is_one_statement(butler: DirectButler, stored: list[DatasetRef]) -> None:
    with statements(butler.registry.db) as sent:
        assert butler.get("meta", instrument="Cam", visit=2, detector=1) == {"v": 2}
    assert len(sent) == 1, sent


def test_a_miss_sends_no_transaction_boundaries(butler: DirectButler, stored: list[DatasetRef]) -> None:
    with statements(butler.registry.db) as sent, pytest.raises(DatasetNotFoundError):
        butler.get("meta", instrument="Cam", visit=7, detector=1)
    assert not [s for s in sent if s.split()[0].upper() in ("BEGIN", "COMMIT")], sent
    assert len(sent) <= MISS_STATEMENTS, sent


#: Statements of a get that finds nothing: the find, then the reads that explain what is missing (each one
#: statement, in autocommit on PostgreSQL). Was 21 round trips on PostgreSQL (each read in BEGIN/COMMIT).
MISS_STATEMENTS = 7
