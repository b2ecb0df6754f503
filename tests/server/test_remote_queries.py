"""Remote queries answer as local ones: time binds (astropy ``Time`` in any scale, ``datetime``) in ``where``, and
refs whose data IDs hash and compare like the registry's."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from astropy.time import Time

from skybutler.testing.server import ServedRepo, served_repo

DIMS = ["instrument", "visit", "detector"]


@pytest.fixture(scope="module")
def repo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedRepo]:
    with served_repo(request, tmp_path_factory.mktemp("queries"), "sqlite-file") as served:
        with served.remote(writeable=True, run="q") as admin:
            admin.register_dataset_type("meta", DIMS, "StructuredDataDict")
            admin.put_many([({"v": v}, {"instrument": "Cam", "visit": v, "detector": 1}) for v in range(10)], "meta")
        yield served


def _visits(results: Any) -> set[int]:
    return {int(c["visit"]) for c in (r.data_id if hasattr(r, "data_id") else r for r in results)}


MOMENT = datetime.datetime(2025, 1, 1, 12, 5, 10)
BINDS: list[tuple[str, dict[str, Any]]] = [
    ("datetime", {"t": MOMENT}),
    ("aware datetime", {"t": MOMENT.replace(tzinfo=datetime.UTC)}),
    ("Time utc", {"t": Time(MOMENT, scale="utc")}),
    ("Time tai", {"t": Time(MOMENT, scale="utc").tai}),
]


@pytest.mark.parametrize(("what", "bind"), BINDS, ids=[b[0] for b in BINDS])
def test_time_binds_in_a_remote_where(repo: ServedRepo, what: str, bind: dict[str, Any]) -> None:
    where = "visit.timespan OVERLAPS :t"
    with repo.local() as local, repo.remote(collections="q") as remote:
        expected = _visits(local.query_data_ids(["visit"], where=where, bind=bind, instrument="Cam"))
        assert expected  # the sample's visits cover the moment
        assert _visits(remote.query_data_ids(["visit"], where=where, bind=bind, instrument="Cam")) == expected
        local_refs = local.query_datasets("meta", collections="q", where=where, bind=bind)
        assert _visits(remote.query_datasets("meta", where=where, bind=bind)) == _visits(local_refs)


def test_a_time_range_bind(repo: ServedRepo) -> None:
    bind = {"a": Time(MOMENT, scale="utc"), "b": MOMENT + datetime.timedelta(minutes=2)}
    where = "visit.timespan OVERLAPS (:a, :b)"
    with repo.local() as local, repo.remote(collections="q") as remote:
        expected = _visits(local.query_datasets("meta", collections="q", where=where, bind=bind))
        assert expected
        assert _visits(remote.query_datasets("meta", where=where, bind=bind)) == expected


def test_remote_refs_hash_and_compare_as_local_ones(repo: ServedRepo) -> None:
    with repo.local() as local, repo.remote(collections="q") as remote:
        remote_refs = list(remote.query_datasets("meta"))
        local_refs = list(local.query_datasets("meta", collections="q"))
        assert set(remote_refs) == set(local_refs)  # hashable: data ID values are tuples, as the registry's
        assert {r.data_id for r in remote_refs} == {r.data_id for r in local_refs}
        assert all(type(r.data_id.required_values) is tuple for r in remote_refs)
