"""The collection manager owns search paths: `Collections.search_path` and its cache (issue 18 part 3).

Nothing outside the manager clears the cache: its own writes do, and so does a change another process made,
seen through the generation counter.  These tests check each way the cache could go stale.
"""

from __future__ import annotations

import pytest

from skybutler.butler import DirectButler
from skybutler.errors import CollectionError
from skybutler.registry import CollectionType


def test_a_path_of_plain_names_is_cached_and_a_chain_is_resolved_each_time(butler: DirectButler) -> None:
    collections = butler.registry.collections
    collections.register("a", CollectionType.RUN)
    collections.register("b", CollectionType.TAGGED)
    first = collections.search_path(["a", "b"])
    assert [r.name for r in first] == ["a", "b"]
    assert collections.search_path(["a", "b"]) is first  # cached
    collections.register("c", CollectionType.CHAINED)
    collections.set_chain("c", ["a"])
    assert [r.name for r in collections.search_path(["c"])] == ["a"]
    collections.set_chain("c", ["b", "a"])  # no generation bump for chains: never cached
    assert [r.name for r in collections.search_path(["c"])] == ["b", "a"]
    assert [r.name for r in collections.search_path(["[ab]"])] == ["a", "b"]  # a glob is never cached either
    collections.register("aa", CollectionType.RUN)
    assert [r.name for r in collections.search_path(["a*"])] == ["a", "aa"]


def test_the_managers_own_writes_drop_cached_paths(butler: DirectButler) -> None:
    collections = butler.registry.collections
    collections.register("t", CollectionType.TAGGED)
    cached = collections.search_path(["t"])
    collections.set_doc("t", "documented")
    assert collections.search_path(["t"]) is not cached
    assert collections.search_path(["t"])[0].doc == "documented"
    collections.remove("t")
    with pytest.raises(CollectionError, match="'t'"):
        collections.search_path(["t"])


def test_a_change_in_another_process_is_seen_through_the_generation(repo: str) -> None:
    with DirectButler(repo, writeable=True) as first, DirectButler(repo, writeable=True) as second:
        first.registry.collections.register("t", CollectionType.TAGGED)
        old = first.registry.collections.search_path(["t"])
        second.collections.remove("t")
        second.collections.register("t", "RUN")  # same name, another type (SQLite may reuse the id)
        assert first.registry.collections.search_path(["t"]) is old  # not yet told
        assert first.registry.collections.refresh_if_changed()
        (now,) = first.registry.collections.search_path(["t"])
        assert now.type is CollectionType.RUN
