"""Collections in the registry: idempotent registration, type conflicts, lookups with suggestions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from skybutler.errors import CollectionError, ConflictError
from skybutler.registry import CollectionRecord, CollectionType, Registry

RegistryFactory = Callable[..., Registry]


def test_register_run_is_idempotent(registry: Registry) -> None:
    assert registry.register_run("u/me/run1", doc="first try") is True
    assert registry.register_run("u/me/run1") is False
    assert registry.register_run("u/me/run1", doc="another doc") is False
    record = registry.get_collection("u/me/run1")
    assert isinstance(record, CollectionRecord)
    assert (record.name, record.type, record.doc) == ("u/me/run1", CollectionType.RUN, "first try")
    assert [c.name for c in registry.query_collections()] == ["u/me/run1"]


def test_collections_are_listed_sorted_with_distinct_ids(registry: Registry) -> None:
    for name in ("b", "a/2", "a/1", "c"):
        registry.register_run(name)
    records = registry.query_collections()
    assert [c.name for c in records] == ["a/1", "a/2", "b", "c"]
    assert len({c.id for c in records}) == 4
    for record in records:
        assert registry.collections.by_id(record.id) == record


def test_registering_another_type_under_a_taken_name_is_a_conflict(
    registry: Registry, open_registry: RegistryFactory
) -> None:
    registry.register_run("shared")
    with pytest.raises(ConflictError, match="already exists as a RUN collection, not TAGGED"):
        registry.collections.register("shared", CollectionType.TAGGED)
    # A connection without the cached record refuses it too, and leaves the RUN as it was.
    with pytest.raises(ConflictError, match="RUN"):
        open_registry().collections.register("shared", CollectionType.CHAINED)
    assert registry.get_collection("shared").type is CollectionType.RUN
    assert registry.collections.register("tagged", CollectionType.TAGGED)[1] is True
    with pytest.raises(ConflictError, match="already exists as a TAGGED collection, not RUN"):
        registry.register_run("tagged")


def test_get_unknown_collection_suggests_close_names(registry: Registry) -> None:
    registry.register_run("HSC/runs/RC2")
    registry.register_run("HSC/raw/all")
    with pytest.raises(CollectionError, match="Did you mean 'HSC/runs/RC2'") as info:
        registry.get_collection("HSC/runs/RC3")
    assert "No collection named 'HSC/runs/RC3'" in str(info.value)
    with pytest.raises(CollectionError) as info:
        registry.get_collection("zzz")
    assert "Did you mean" not in str(info.value)
    assert isinstance(info.value, LookupError)


@pytest.mark.parametrize("name", ["", "x" * 257, "run\x00one"])
def test_invalid_collection_names_are_refused(registry: Registry, name: str) -> None:
    with pytest.raises(CollectionError, match="Invalid collection name"):
        registry.register_run(name)
    assert registry.query_collections() == []


def test_a_name_no_collection_can_have_is_looked_up_as_missing(registry: Registry) -> None:
    # PostgreSQL refuses NUL characters even in a query: the lookup must not leak its driver's error
    with pytest.raises(CollectionError, match="No collection named"):
        registry.get_collection("run\x00one")


def test_the_longest_name_is_accepted(registry: Registry) -> None:
    name = "r" * 256
    assert registry.register_run(name) is True
    assert registry.get_collection(name).name == name


def test_a_collection_made_elsewhere_is_found(registry: Registry, open_registry: RegistryFactory) -> None:
    other = open_registry()
    assert registry.collections.find("later") is None
    other.register_run("later")
    assert registry.get_collection("later").id == other.get_collection("later").id
    assert registry.register_run("later") is False


def test_resolve_keeps_order_and_drops_duplicates(registry: Registry) -> None:
    for name in ("a", "b", "c"):
        registry.register_run(name)
    assert [c.name for c in registry.collections.resolve(["c", "a", "c", "b", "a"])] == ["c", "a", "b"]
    with pytest.raises(CollectionError, match="'d'"):
        registry.collections.resolve(["a", "d"])
