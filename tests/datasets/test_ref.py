"""Dataset IDs (random and deterministic) and DatasetRef."""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skybutler.datasets import (
    DatasetIdMode,
    DatasetRef,
    DatasetType,
    dataset_id_maker,
    make_dataset_id,
    random_dataset_id,
)
from skybutler.datasets._ref import _NAMESPACE
from skybutler.dimensions import DataCoordinate, DimensionUniverse

DETERMINISTIC = DatasetIdMode.DETERMINISTIC
NO_RUN = DatasetIdMode.DETERMINISTIC_NO_RUN


@pytest.fixture
def universe() -> DimensionUniverse:
    """The small universe of ``tests/mini_universe.yaml``."""
    return DimensionUniverse.from_yaml((Path(__file__).parents[1] / "mini_universe.yaml").read_text())


@pytest.fixture
def raw(universe: DimensionUniverse) -> DatasetType:
    return DatasetType("raw", ["visit", "detector"], "Bytes", universe=universe)


@pytest.fixture
def data_id(raw: DatasetType) -> DataCoordinate:
    return DataCoordinate.from_required(raw.dimensions, ("Cam", 12, 1228))


def test_random_ids_are_uuid7_and_differ(raw: DatasetType, data_id: DataCoordinate) -> None:
    ids = {make_dataset_id(raw, data_id, "run") for _ in range(50)}
    assert len(ids) == 50
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert make_dataset_id(raw, data_id, "run", DatasetIdMode.RANDOM) not in ids


def test_random_ids_lead_with_their_unix_millisecond_and_increase() -> None:
    before = time.time_ns() // 1_000_000
    ids = [random_dataset_id() for _ in range(20_000)]  # many per millisecond
    after = time.time_ns() // 1_000_000
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert before <= ids[0].int >> 80 <= ids[-1].int >> 80 <= after + 1  # +1: a busy millisecond borrows the next
    assert str(ids[0]) == str(uuid.UUID(str(ids[0])))  # an ordinary UUID to every reader


def test_random_ids_keep_increasing_when_the_clock_goes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = random_dataset_id()
    earlier = iter([(first.int >> 80) * 1_000_000 - 5_000_000] * 3 + [0] * 3)
    monkeypatch.setattr(time, "time_ns", lambda: next(earlier))
    ids = [first] + [random_dataset_id() for _ in range(6)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_random_ids_are_random_past_their_time() -> None:
    # Never a counter: a prepared remote put's upload area is named by its first ID, which another caller's
    # IDs must not give away.  Consecutive IDs differ in about half of their 62 random bits.
    ids = [random_dataset_id().int & ((1 << 62) - 1) for _ in range(1_000)]
    assert len(set(ids)) == len(ids)
    assert sum((a ^ b).bit_count() for a, b in itertools.pairwise(ids)) / (len(ids) - 1) > 20


def test_random_ids_are_unique_across_threads() -> None:
    made: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(out: list[uuid.UUID]) -> None:
        out.extend(random_dataset_id() for _ in range(10_000))

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({i for out in made for i in out}) == 40_000
    assert all(out == sorted(out) for out in made)


def _hex_ids(n: int) -> list[str]:
    return [random_dataset_id().hex for _ in range(n)]


def test_random_ids_are_unique_across_forked_processes() -> None:
    random_dataset_id()  # the children start from this process's clock state, as forked workers do
    with multiprocessing.get_context("fork").Pool(2) as pool:
        made = pool.map(_hex_ids, [20_000, 20_000])
    assert len(set(made[0]) | set(made[1]) | set(_hex_ids(20_000))) == 60_000


@pytest.mark.parametrize("mode", [DETERMINISTIC, NO_RUN])
def test_deterministic_ids_are_uuid5_and_repeat(raw: DatasetType, data_id: DataCoordinate, mode: DatasetIdMode) -> None:
    first = make_dataset_id(raw, data_id, "run", mode)
    assert first.version == 5
    assert make_dataset_id(raw, data_id, "run", mode) == first


def test_deterministic_ids_are_stable_across_releases(raw: DatasetType, data_id: DataCoordinate) -> None:
    # Pinned values: changing them would give re-ingested files new IDs in existing repositories.
    assert make_dataset_id(raw, data_id, "run", DETERMINISTIC) == uuid.UUID("a9539eb9-8aee-572a-a6b4-9cefa0bfc047")
    assert make_dataset_id(raw, data_id, "run", NO_RUN) == uuid.UUID("2777eb76-69b3-5f8f-82dd-b579b5e93f11")


def test_run_matters_only_in_deterministic_mode(raw: DatasetType, data_id: DataCoordinate) -> None:
    assert make_dataset_id(raw, data_id, "a", DETERMINISTIC) != make_dataset_id(raw, data_id, "b", DETERMINISTIC)
    assert make_dataset_id(raw, data_id, "a", NO_RUN) == make_dataset_id(raw, data_id, "b", NO_RUN)
    assert make_dataset_id(raw, data_id, "a", DETERMINISTIC) != make_dataset_id(raw, data_id, "a", NO_RUN)


@pytest.mark.parametrize("mode", [DETERMINISTIC, NO_RUN])
def test_dataset_type_and_data_id_matter(
    universe: DimensionUniverse, raw: DatasetType, data_id: DataCoordinate, mode: DatasetIdMode
) -> None:

    base = make_dataset_id(raw, data_id, "run", mode)
    other_type = DatasetType("calexp", ["visit", "detector"], "Bytes", universe=universe)
    assert make_dataset_id(other_type, data_id, "run", mode) != base
    other_detector = DataCoordinate.from_required(raw.dimensions, ("Cam", 13, 1228))
    assert make_dataset_id(raw, other_detector, "run", mode) != base
    other_instrument = DataCoordinate.from_required(raw.dimensions, ("Cam2", 12, 1228))
    assert make_dataset_id(raw, other_instrument, "run", mode) != base


@pytest.mark.parametrize("mode", [DETERMINISTIC, NO_RUN])
def test_implied_values_do_not_change_the_id(raw: DatasetType, data_id: DataCoordinate, mode: DatasetIdMode) -> None:
    group = raw.dimensions
    known = {**data_id.required, "band": "r", "physical_filter": "Cam-R", "day_obs": 20250101}
    full = DataCoordinate.from_full(group, tuple(known[n] for n in group.names))
    assert make_dataset_id(raw, full, "run", mode) == make_dataset_id(raw, data_id, "run", mode)


def test_dataset_ref_is_frozen_and_compares_by_value(raw: DatasetType, data_id: DataCoordinate) -> None:
    dataset_id = make_dataset_id(raw, data_id, "run", DETERMINISTIC)
    ref = DatasetRef(dataset_id, raw, data_id, "run")
    assert ref == DatasetRef(dataset_id, raw, data_id, "run")
    assert ref != DatasetRef(dataset_id, raw, data_id, "other")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.run = "other"  # type: ignore[misc]
    assert repr(ref) == f"DatasetRef(raw, {{instrument: 'Cam', detector: 12, visit: 1228}}, run='run', id={dataset_id})"


def test_as_uuid_accepts_the_registry_forms() -> None:
    import uuid

    from skybutler.datasets import as_uuid

    value = uuid.uuid4()
    assert as_uuid(value) is value
    fast = as_uuid(value.hex)
    assert fast == value
    assert hash(fast) == hash(value)
    assert str(fast) == str(value)
    assert fast.version == 4
    assert as_uuid(str(value)) == value  # the dashed form goes through the full constructor


_names = st.text(min_size=1, max_size=12)
_values = st.one_of(st.integers(min_value=-(2**62), max_value=2**62), st.text(max_size=12))


@given(
    name=_names,
    data=st.dictionaries(st.from_regex(r"[a-z_]{1,10}", fullmatch=True), _values, max_size=4),
    run=st.text(max_size=12),
    mode=st.sampled_from([DETERMINISTIC, NO_RUN]),
)
def test_the_bulk_id_maker_gives_the_documented_uuid5(
    name: str, data: dict[str, int | str], run: str, mode: DatasetIdMode
) -> None:
    # The documented rule, written out with the standard library: the maker must give exactly this.
    items = [f"dataset_type={name}", *(f"{k}={v}" for k, v in sorted(data.items()))]
    if mode is DETERMINISTIC:
        items.append(f"run={run}")
    expected = uuid.uuid5(_NAMESPACE, ",".join(items))
    made = dataset_id_maker(name, tuple(data), run, mode)(tuple(data.values()))
    assert (made, made.version, str(made), hash(made)) == (expected, 5, str(expected), hash(expected))


def test_the_bulk_id_maker_makes_random_ids_in_random_mode() -> None:
    make = dataset_id_maker("raw", ("instrument",), "run", DatasetIdMode.RANDOM)
    assert make(("Cam",)) != make(("Cam",))
    assert make(("Cam",)).version == 7


def test_refs_from_rows_equal_refs_built_the_public_way(raw: DatasetType) -> None:
    """SQLite's hex IDs, PostgreSQL's UUIDs and a page mixing other forms give the refs the constructors give."""
    from skybutler.datasets._ref import refs_from_rows

    group = raw.dimensions
    ids = [uuid.uuid4() for _ in range(5)]
    required = [("Cam", 12, 1228 + i) for i in range(5)]
    runs = {7: "run/a", 8: "run/b"}
    expected = [
        DatasetRef(i, raw, DataCoordinate.from_required(group, v), runs[7 + k % 2])
        for k, (i, v) in enumerate(zip(ids, required, strict=True))
    ]
    looked_up: list[int] = []

    def run_name(key: int) -> str:
        looked_up.append(key)
        return runs[key]

    forms: list[Callable[[uuid.UUID], Any]] = [lambda u: u.hex, lambda u: u, lambda u: str(u) if u.int % 2 else u.hex]
    for id_form in forms:
        rows = [(*v, id_form(i), "x", 7 + k % 2) for k, (i, v) in enumerate(zip(ids, required, strict=True))]
        looked_up.clear()
        refs = refs_from_rows(raw, rows, id_at=3, run_at=5, run_name=run_name)
        assert refs == expected
        assert [r.data_id.required_values for r in refs] == required
        assert all(type(r.id) is uuid.UUID and r.id.is_safe is uuid.SafeUUID.unknown for r in refs[:1])
        assert sorted(looked_up) == [7, 8]  # each run looked up once per page
        assert [hash(r.data_id) for r in refs] == [hash(e.data_id) for e in expected]
    assert refs_from_rows(raw, [], id_at=3, run_at=5, run_name=run_name) == []
