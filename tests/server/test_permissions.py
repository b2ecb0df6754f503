"""Grants in the server: a table of (grants, operation, collection) → allowed or 403, chains and wildcards
included, and that a refused write changes neither the registry nor storage.  Both back-ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from skybutler.client import RemoteButler
from skybutler.errors import PermissionDeniedError
from skybutler.testing.server import BACKENDS, ServedRepo, served_repo

DIMS = ["instrument", "visit", "detector"]


@pytest.fixture(scope="module", params=BACKENDS)
def repo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedRepo]:
    """One served repository per back-end: runs of alice and bob, a chain over both, a calibration type."""
    with served_repo(request, tmp_path_factory.mktemp("perm"), request.param) as served:
        with served.remote(writeable=True) as admin:
            admin.register_dataset_type("meta", DIMS, "StructuredDataDict")
            for who in ("alice", "bob"):
                admin.put({"who": who}, "meta", instrument="Cam", visit=1, detector=1, run=f"u/{who}/run1")
            admin.collections.set_chain("shared", ["u/alice/run1", "u/bob/run1"])
        yield served


_counter = iter(range(100, 10_000))


def _fresh(admin: RemoteButler, run: str) -> Any:
    """A new dataset of the admin's in ``run`` (so each case acts on its own)."""
    return admin.put({"n": 1}, "meta", instrument="Cam", visit=next(_counter) % 20, detector=5, run=run)


def _op(name: str) -> Callable[[RemoteButler, RemoteButler, str], Any]:
    def get(b: RemoteButler, admin: RemoteButler, c: str) -> Any:
        return b.get("meta", instrument="Cam", visit=1, detector=1, collections=c)

    def put(b: RemoteButler, admin: RemoteButler, c: str) -> Any:
        return b.put({"x": 1}, "meta", instrument="Cam", visit=next(_counter) % 20, detector=7, run=c)

    def remove(b: RemoteButler, admin: RemoteButler, c: str) -> Any:
        return b.remove([_fresh(admin, c)])

    def chain(b: RemoteButler, admin: RemoteButler, c: str) -> Any:
        return b.collections.set_chain(c, ["u/alice/run1"])

    def chain_to_bob(b: RemoteButler, admin: RemoteButler, c: str) -> Any:
        return b.collections.set_chain(c, ["u/bob/run1"])

    def register_type(b: RemoteButler, admin: RemoteButler, c: str) -> Any:
        return b.register_dataset_type(f"t{next(_counter)}", DIMS, "StructuredDataDict")

    def tag(b: RemoteButler, admin: RemoteButler, c: str) -> Any:
        ref = admin.find_dataset("meta", instrument="Cam", visit=1, detector=1, collections="u/bob/run1")
        assert ref is not None
        b.collections.register(c, "TAGGED")
        return b.collections.associate(c, [ref])

    return locals()[name]  # type: ignore[no-any-return]


CASES = [
    # grants, operation, collection, allowed
    (["read:*"], "get", "u/bob/run1", True),
    (["read:u/alice/*"], "get", "u/alice/run1", True),
    (["read:u/alice/*"], "get", "u/bob/run1", False),
    (["write:u/alice/*"], "get", "u/alice/run1", True),  # writing includes reading
    (["read:u/alice/*"], "get", "shared", False),  # the chain itself is not granted
    (["read:u/alice/*", "read:shared"], "get", "shared", False),  # the chain is, but it leads to bob's run
    (["read:*"], "get", "shared", True),
    (["read:u/*"], "get", "shared", False),
    (["read:*"], "put", "u/alice/run2", False),
    (["write:u/alice/*"], "put", "u/alice/run2", True),
    (["write:u/alice/*"], "put", "u/bob/run2", False),
    (["write:u/alice/run[0-9]"], "put", "u/alice/run3", True),
    (["admin"], "put", "u/bob/run2", True),
    (["read:*"], "remove", "u/alice/run1", False),
    (["write:u/alice/*"], "remove", "u/alice/run1", True),
    (["write:u/alice/*"], "remove", "u/bob/run1", False),
    (["write:u/alice/*"], "chain", "u/alice/chain", True),
    (["write:u/alice/*"], "chain_to_bob", "u/alice/chain2", False),  # a chain to what one may not read
    (["write:u/alice/*", "read:*"], "chain_to_bob", "u/alice/chain3", True),
    (["write:u/alice/*"], "chain", "shared", False),
    (["write:*"], "register_type", "-", False),
    (["admin"], "register_type", "-", True),
    (["write:u/alice/*"], "tag", "u/alice/tagged", False),  # tagging bob's dataset needs reading it
    (["write:u/alice/*", "read:u/bob/*"], "tag", "u/alice/tagged2", True),
]


@pytest.mark.parametrize(("grants", "operation", "collection", "allowed"), CASES)
def test_permission_table(repo: ServedRepo, grants: list[str], operation: str, collection: str, allowed: bool) -> None:
    with repo.remote(writeable=True) as admin, repo.remote(repo.token("carol", grants), writeable=True) as carol:
        op = _op(operation)
        if allowed:
            op(carol, admin, collection)
            return
        with pytest.raises(PermissionDeniedError) as refused:
            op(carol, admin, collection)
        assert "'" in str(refused.value)  # the collection (or the admin grant) is named


def test_a_refused_write_changes_nothing(repo: ServedRepo) -> None:
    with repo.local() as local:
        before = (local.registry.datasets.count(), sorted(local.query_collections()), local.verify().unknown)
    with repo.remote(repo.token("dave", ["read:*", "write:u/dave/*"]), writeable=True) as dave:
        ref = dave.find_dataset("meta", instrument="Cam", visit=1, detector=1, collections="u/bob/run1")
        assert ref is not None
        for refused in (
            lambda: dave.put({"x": 1}, "meta", instrument="Cam", visit=2, detector=2, run="u/bob/new"),
            lambda: dave.put_many([({"x": 1}, {"instrument": "Cam", "visit": 3, "detector": 2})], "meta",
                                  run="u/bob/run1"),
            lambda: dave.remove([ref]),
            lambda: dave.collections.set_chain("shared", ["u/dave/x"]),
            lambda: dave.collections.remove_runs(["u/bob/run1"]),
            lambda: dave.register_dataset_type("other", DIMS, "StructuredDataDict"),
        ):  # fmt: skip
            with pytest.raises(PermissionDeniedError):
                refused()
        assert dave.get(ref) == {"who": "bob"}
    with repo.local() as local:
        after = (local.registry.datasets.count(), sorted(local.query_collections()), local.verify().unknown)
        assert after == before
        assert local.collections.children("shared") == ["u/alice/run1", "u/bob/run1"]


def test_queries_drop_what_the_caller_may_not_read_and_say_so(repo: ServedRepo) -> None:
    with repo.remote(repo.token("erin", ["read:u/alice/*"])) as erin:
        for collections in ("u/*", None):
            found = erin.query_datasets("meta", collections=collections, instrument="Cam", visit=1, detector=1)
            assert {r.run for r in found} == {"u/alice/run1"}
            assert found.note is not None
            assert "may not read" in found.note
        listed = erin.query_collections()
        assert "u/alice/run1" in listed
        assert all(name.startswith("u/alice/") for name in listed)  # not bob's, not the chain "shared"
        none = erin.query_datasets("meta", collections="u/bob/*")
        assert list(none) == []
        assert any("may not read" in line for line in none.explain_no_results())
        with pytest.raises(PermissionDeniedError, match="u/bob/run1"):
            erin.query_datasets("meta", collections="u/bob/run1")  # named, not matched: refused


def test_no_token_is_refused(repo: ServedRepo) -> None:
    with RemoteButler(repo.url, token="") as nobody, pytest.raises(PermissionDeniedError, match="token"):
        nobody.query_collections()
