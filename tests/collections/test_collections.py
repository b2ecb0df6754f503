"""RUN, TAGGED, CHAINED and CALIBRATION collections through ``butler.collections``, on SQLite and PostgreSQL.

Covers tagging (one dataset per type + data ID), chains (order, nesting, redefinition, cycles), find-first
through nested chains that mix RUN, TAGGED and CALIBRATION children, queries with globs and type filters,
documentation strings, removal rules, ``remove_runs`` (datasets and files go) and search paths given as a
name, a list or a chain to ``get``, ``exists``, ``find_dataset`` and ``get_uri``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skybutler.butler import DirectButler
from skybutler.datasets import DatasetRef
from skybutler.errors import (
    CollectionError,
    ConflictError,
    DataIdError,
    DatasetNotFoundError,
    PermissionDeniedError,
)
from skybutler.registry import CollectionType

DET1 = {"instrument": "Cam", "detector": 1}
META11 = {"instrument": "Cam", "visit": 1, "detector": 1}


@pytest.fixture
def cb(butler: DirectButler) -> DirectButler:
    """The sample butler with a calibration type ``bias`` and an ordinary type ``meta``."""
    butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    return butler


def _put(butler: DirectButler, dataset_type: str, label: str, run: str, data_id: dict[str, Any]) -> DatasetRef:
    return butler.put({"label": label}, dataset_type, data_id, run=run)


def _label(butler: DirectButler, dataset_type: str, data_id: dict[str, Any], collections: Any, **kw: Any) -> str:
    return str(butler.get(dataset_type, data_id, collections=collections, **kw)["label"])


def _names(butler: DirectButler, pattern: str | list[str] = "*", **kw: Any) -> list[str]:
    return [r.name for r in butler.collections.query(pattern, **kw)]


def _file(butler: DirectButler, ref: DatasetRef) -> Path:
    uri = butler.get_uri(ref)
    assert uri.startswith("file://"), uri
    return Path(uri.removeprefix("file://"))


# -- registration and documentation ---------------------------------------------------------------------------
def test_register_reports_new_and_refuses_another_type(cb: DirectButler) -> None:
    assert cb.collections.register("calib", "CALIBRATION") is True
    assert cb.collections.register("calib", "calibration") is False  # same type again: a no-op
    assert cb.collections.register("tag", CollectionType.TAGGED) is True
    with pytest.raises(ConflictError, match="already exists as a CALIBRATION collection, not TAGGED"):
        cb.collections.register("calib", "TAGGED")
    assert cb.collections.get("calib").type is CollectionType.CALIBRATION
    assert cb.collections.get("tag").type is CollectionType.TAGGED
    with pytest.raises(CollectionError, match="Did you mean 'calib'"):
        cb.collections.get("calibb")
    with pytest.raises(CollectionError, match="Invalid collection name"):
        cb.collections.register("", "TAGGED")


def test_documentation_strings_are_stored_replaced_and_cleared(cb: DirectButler) -> None:
    cb.collections.register("Cam/calib", "CALIBRATION", doc="Certified calibrations of Cam")
    assert cb.collections.get("Cam/calib").doc == "Certified calibrations of Cam"
    assert cb.collections.get("test/run").doc is None
    cb.collections.set_doc("Cam/calib", "Biases and flats, ünïcode OK")
    assert cb.collections.get("Cam/calib").doc == "Biases and flats, ünïcode OK"
    with DirectButler(cb.root) as other:  # another butler reads it from the registry, not from a cache
        assert other.collections.get("Cam/calib").doc == "Biases and flats, ünïcode OK"
    cb.collections.set_doc("Cam/calib", None)
    assert cb.collections.get("Cam/calib").doc is None
    with pytest.raises(CollectionError, match="No collection named"):
        cb.collections.set_doc("nope", "x")


def test_a_read_only_butler_cannot_change_collections(cb: DirectButler) -> None:
    ref = _put(cb, "meta", "x", "test/run", META11)
    cb.collections.register("tag", "TAGGED")
    with DirectButler(cb.root) as ro:
        with pytest.raises(PermissionDeniedError, match="read-only"):
            ro.collections.register("other", "TAGGED")
        with pytest.raises(PermissionDeniedError, match="read-only"):
            ro.collections.associate("tag", [ref])
        with pytest.raises(PermissionDeniedError, match="read-only"):
            ro.collections.set_chain("chain", ["tag"])
        assert [r.name for r in ro.collections.query("*")] == ["tag", "test/run"]


# -- TAGGED ---------------------------------------------------------------------------------------------------
def test_tagged_associate_disassociate_and_one_dataset_per_type_and_data_id(cb: DirectButler) -> None:
    a = _put(cb, "meta", "a", "run/a", META11)
    b = _put(cb, "meta", "b", "run/b", META11)
    other = _put(cb, "meta", "other", "run/b", {"instrument": "Cam", "visit": 2, "detector": 1})
    cb.collections.register("tag", "TAGGED")
    cb.collections.associate("tag", [a, other])
    cb.collections.associate("tag", [a])  # already there: kept, no error
    assert _label(cb, "meta", META11, "tag") == "a"
    with pytest.raises(ConflictError, match="one dataset per type and data ID"):
        cb.collections.associate("tag", [b])
    assert cb.find_dataset("meta", META11, collections="tag") == a  # unchanged by the refused association
    assert cb.collections.disassociate("tag", [a]) == 1
    assert cb.collections.disassociate("tag", [a]) == 0  # not there any more
    assert not cb.exists("meta", META11, collections="tag")
    cb.collections.associate("tag", [b])
    assert _label(cb, "meta", META11, "tag") == "b"
    assert _label(cb, "meta", {"instrument": "Cam", "visit": 2, "detector": 1}, "tag") == "other"
    ref = cb.find_dataset("meta", META11, collections="tag")
    assert ref is not None
    assert ref.run == "run/b"  # a ref always names the run the dataset was born in


def test_conflicting_datasets_in_one_associate_call_tag_nothing(cb: DirectButler) -> None:
    a = _put(cb, "meta", "a", "run/a", META11)
    b = _put(cb, "meta", "b", "run/b", META11)
    c = _put(cb, "meta", "c", "run/a", {"instrument": "Cam", "visit": 3, "detector": 1})
    cb.collections.register("tag", "TAGGED")
    with pytest.raises(ConflictError):
        cb.collections.associate("tag", [c, a, b])
    assert cb.find_dataset("meta", c.data_id, collections="tag") is None
    assert cb.find_dataset("meta", META11, collections="tag") is None


def test_two_datasets_of_one_data_id_in_one_associate_call_name_each_other(cb: DirectButler) -> None:
    # the clash is in the call, not with the (empty) collection: the message used to say the collection
    # 'already holds another' dataset and advise to disassociate it
    a = _put(cb, "meta", "a", "run/a", META11)
    b = _put(cb, "meta", "b", "run/b", META11)
    cb.collections.register("tag", "TAGGED")
    with pytest.raises(ConflictError) as info:
        cb.collections.associate("tag", [a, a, b])
    text = str(info.value)
    assert "already holds" not in text
    assert str(a.id) in text
    assert str(b.id) in text
    assert "'run/a'" in text
    assert "'run/b'" in text
    assert cb.find_dataset("meta", META11, collections="tag") is None
    cb.collections.associate("tag", [a, a])  # the same dataset twice is fine
    assert cb.find_dataset("meta", META11, collections="tag") == a


def test_tagging_needs_a_tagged_collection(cb: DirectButler) -> None:
    a = _put(cb, "meta", "a", "run/a", META11)
    cb.collections.register("calib", "CALIBRATION")
    for name, kind in [("calib", "CALIBRATION"), ("run/a", "RUN")]:
        with pytest.raises(CollectionError, match=f"it is a {kind} collection, not TAGGED"):
            cb.collections.associate(name, [a])
        with pytest.raises(CollectionError, match=f"it is a {kind} collection, not TAGGED"):
            cb.collections.disassociate(name, [a])


def test_removing_a_tagged_collection_keeps_its_datasets(cb: DirectButler) -> None:
    a = _put(cb, "meta", "a", "run/a", META11)
    bias = _put(cb, "bias", "bias", "run/a", DET1)
    cb.collections.register("tag", "TAGGED")
    cb.collections.associate("tag", [a, bias])
    cb.collections.remove("tag")
    assert "tag" not in _names(cb)
    with pytest.raises(CollectionError, match="No collection named 'tag'"):
        cb.get("meta", META11, collections="tag")
    assert _label(cb, "meta", META11, "run/a") == "a"
    assert _label(cb, "bias", DET1, "run/a") == "bias"
    assert _file(cb, a).exists()
    cb.collections.register("tag", "TAGGED")  # the name is free again, and the new collection is empty
    assert not cb.exists("meta", META11, collections="tag")


# -- CHAINED ----------------------------------------------------------------------------------------------------
def test_chain_order_redefinition_and_editing(cb: DirectButler) -> None:
    for run in ("r1", "r2", "r3"):
        _put(cb, "meta", run, run, META11)
    cb.collections.set_chain("chain", ["r2", "r1"])  # created by set_chain
    assert cb.collections.get("chain").type is CollectionType.CHAINED
    assert cb.collections.children("chain") == ["r2", "r1"]
    assert _label(cb, "meta", META11, "chain") == "r2"
    cb.collections.set_chain("chain", ["r1", "r2"])  # redefined in place
    assert _label(cb, "meta", META11, "chain") == "r1"
    cb.collections.extend_chain("chain", ["r3"])
    assert cb.collections.children("chain") == ["r1", "r2", "r3"]
    cb.collections.remove_from_chain("chain", ["r1"])
    assert cb.collections.children("chain") == ["r2", "r3"]
    assert _label(cb, "meta", META11, "chain") == "r2"
    cb.collections.set_chain("chain", [])
    assert cb.collections.children("chain") == []
    with pytest.raises(DatasetNotFoundError, match=r"in collections \['chain'\]"):
        cb.get("meta", META11, collections="chain")
    assert not cb.exists("meta", META11, collections="chain")


def test_chain_redefinition_is_seen_by_another_butler(cb: DirectButler) -> None:
    for run in ("r1", "r2"):
        _put(cb, "meta", run, run, META11)
    cb.collections.set_chain("chain", ["r1", "r2"])
    with DirectButler(cb.root, collections="chain") as reader:
        assert str(reader.get("meta", META11)["label"]) == "r1"
        cb.collections.set_chain("chain", ["r2", "r1"])
        assert str(reader.get("meta", META11)["label"]) == "r2"


def test_chain_errors_leave_the_chain_as_it_was(cb: DirectButler) -> None:
    _put(cb, "meta", "r1", "r1", META11)
    cb.collections.set_chain("chain", ["r1"])
    with pytest.raises(CollectionError, match="No collection named 'missing'"):
        cb.collections.set_chain("chain", ["missing", "r1"])
    assert cb.collections.children("chain") == ["r1"]
    with pytest.raises(CollectionError, match="is RUN, not CHAINED; it has no children"):
        cb.collections.children("r1")
    with pytest.raises(CollectionError, match="is RUN, not CHAINED; it cannot have children"):
        cb.collections.set_chain("r1", ["chain"])


def test_a_refused_new_chain_is_not_created(cb: DirectButler) -> None:
    # set_chain creates a missing chain; when the definition is refused the chain must not stay behind, empty
    _put(cb, "meta", "r1", "r1", META11)
    with pytest.raises(CollectionError, match="No collection named 'missing'"):
        cb.collections.set_chain("new", ["r1", "missing"])
    with pytest.raises(CollectionError, match=r"cycle \(self → self\)"):
        cb.collections.set_chain("self", ["self"])
    assert _names(cb) == ["r1", "test/run"]
    with pytest.raises(CollectionError, match="No collection named 'new'"):
        cb.collections.get("new")
    cb.collections.set_chain("new", ["r1"])  # the name is still free, and the chain works
    assert str(cb.get("meta", META11, collections="new")["label"]) == "r1"


def test_cycles_are_refused_including_self_reference(cb: DirectButler) -> None:
    _put(cb, "meta", "r1", "r1", META11)
    with pytest.raises(CollectionError, match=r"cycle \(a → a\)"):
        cb.collections.set_chain("a", ["a"])
    assert cb.collections.query("a") == []  # refused: the new chain is not left behind
    cb.collections.set_chain("a", ["r1"])
    cb.collections.set_chain("b", ["a"])
    cb.collections.set_chain("c", ["b", "r1"])
    with pytest.raises(CollectionError, match=r"cycle \(a → c → b → a\)"):
        cb.collections.set_chain("a", ["r1", "c"])
    with pytest.raises(CollectionError, match="cycle"):
        cb.collections.extend_chain("b", ["c"])
    with pytest.raises(CollectionError, match="cycle"):
        cb.collections.extend_chain("c", ["c"])
    assert cb.collections.children("a") == ["r1"]
    assert cb.collections.children("b") == ["a"]
    assert cb.collections.children("c") == ["b", "r1"]
    assert cb.collections.flatten("c") == ["r1"]  # de-duplicated
    assert _label(cb, "meta", META11, "c") == "r1"


def test_nested_chains_flatten_depth_first_without_duplicates(cb: DirectButler) -> None:
    for run in ("r1", "r2", "r3", "r4"):
        cb.collections.register(run, "RUN")
    cb.collections.register("tag", "TAGGED")
    cb.collections.register("calib", "CALIBRATION")
    cb.collections.set_chain("inner", ["r2", "calib"])
    cb.collections.set_chain("middle", ["tag", "inner", "r3"])
    cb.collections.set_chain("outer", ["r1", "middle", "r2", "inner", "r4"])
    assert cb.collections.flatten("outer") == ["r1", "tag", "r2", "calib", "r3", "r4"]
    assert cb.collections.flatten(["r4", "inner"]) == ["r4", "r2", "calib"]
    assert [r.name for r in cb.collections.query("outer", flatten_chains=True)] == cb.collections.flatten("outer")


def test_find_first_through_nested_chains_mixing_run_tagged_and_calibration(cb: DirectButler) -> None:
    old_bias = _put(cb, "bias", "old", "r/old", DET1)
    _put(cb, "meta", "old", "r/old", META11)
    new_meta = _put(cb, "meta", "new", "r/new", META11)
    cal_bias = _put(cb, "bias", "cal", "r/cal", DET1)
    cb.collections.register("calib", "CALIBRATION")
    cb.collections.certify("calib", [cal_bias], ("2025-01-01", "2025-02-01"))
    cb.collections.register("tag", "TAGGED")
    cb.collections.associate("tag", [new_meta])
    cb.collections.set_chain("inner", ["calib", "r/old"])
    cb.collections.set_chain("outer", ["tag", "inner"])

    # bias: the tag has none, the calibration answers where it is valid, else r/old
    assert _label(cb, "bias", DET1, "outer", at="2025-01-15") == "cal"
    assert _label(cb, "bias", DET1, "outer", at="2025-02-01") == "old"  # end is exclusive
    assert _label(cb, "bias", DET1, "outer", at="2024-12-31T23:59:59") == "old"
    found = cb.find_dataset("bias", DET1, collections="outer", at="2025-01-15")
    assert found is not None
    assert (found.id, found.run) == (cal_bias.id, "r/cal")
    # a visit in the data ID gives the time (visits are on 2025-01-01): the certified bias
    assert _label(cb, "bias", {**DET1, "visit": 3}, "outer") == "cal"
    # meta: the tag comes first; the CALIBRATION collection is skipped for non-calibration types (no time needed)
    assert _label(cb, "meta", META11, "outer") == "new"
    assert _label(cb, "meta", META11, "inner") == "old"
    # a calibration lookup reaching the CALIBRATION collection without a time is an error, not a miss
    with pytest.raises(DataIdError, match="needs a time"):
        cb.get("bias", DET1, collections="outer")
    # ...but not when a RUN before it answers first
    cb.collections.set_chain("inner", ["r/old", "calib"])
    assert _label(cb, "bias", DET1, "outer") == "old"
    assert _label(cb, "bias", DET1, "outer", at="2025-01-15") == "old"
    # removing the tag from the path lets r/new be reached through another nesting
    cb.collections.set_chain("outer", ["inner", "r/new"])
    assert _label(cb, "meta", META11, "outer") == "old"
    cb.collections.set_chain("outer", ["r/new", "inner"])
    assert _label(cb, "meta", META11, "outer") == "new"
    assert cb.find_dataset("bias", DET1, collections="outer") == old_bias


# -- search paths everywhere --------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["name", "list", "chain", "default"])
def test_search_paths_as_name_list_or_chain(cb: DirectButler, form: str) -> None:
    first = _put(cb, "meta", "first", "r/first", META11)
    _put(cb, "meta", "second", "r/second", META11)
    only_second = _put(cb, "meta", "only", "r/second", {"instrument": "Cam", "visit": 2, "detector": 1})
    cb.collections.set_chain("both", ["r/first", "r/second"])
    path: Any = {"name": "r/first", "list": ["r/first", "r/second"], "chain": "both", "default": None}[form]
    reader = DirectButler(cb.root, collections="both") if form == "default" else cb
    try:
        assert _label(reader, "meta", META11, path) == "first"
        assert reader.exists("meta", META11, collections=path)
        assert reader.find_dataset("meta", META11, collections=path) == first
        assert reader.get_uri("meta", META11, collections=path) == cb.get_uri(first)
        assert reader.get_deferred("meta", META11, collections=path).get() == {"label": "first"}
        v2 = {"instrument": "Cam", "visit": 2, "detector": 1}
        if form == "name":  # only r/first is searched
            assert not reader.exists("meta", v2, collections=path)
            assert reader.find_dataset("meta", v2, collections=path) is None
            with pytest.raises(DatasetNotFoundError, match=r"It exists in \['r/second'\]"):
                reader.get("meta", v2, collections=path)
        else:
            assert reader.find_dataset("meta", v2, collections=path) == only_second
            assert reader.exists("meta", v2, collections=path)
    finally:
        if reader is not cb:
            reader.close()


def test_search_path_order_and_duplicates_in_a_list(cb: DirectButler) -> None:
    _put(cb, "meta", "first", "r/first", META11)
    _put(cb, "meta", "second", "r/second", META11)
    cb.collections.set_chain("both", ["r/first", "r/second"])
    assert _label(cb, "meta", META11, ["r/second", "both"]) == "second"
    assert _label(cb, "meta", META11, ["both", "r/second"]) == "first"
    assert _label(cb, "meta", META11, ["r/second", "r/second", "r/first"]) == "second"
    with pytest.raises(CollectionError, match="No collection named 'nope'"):
        cb.exists("meta", META11, collections=["r/first", "nope"])


# -- queries ---------------------------------------------------------------------------------------------------
def test_query_with_globs_and_type_filters(cb: DirectButler) -> None:
    cb.collections.register("Cam/runs/a", "RUN")
    cb.collections.register("Cam/runs/b", "RUN")
    cb.collections.register("Cam/calib", "CALIBRATION")
    cb.collections.register("Cam/calib/2024", "CALIBRATION")
    cb.collections.register("Cam/tag", "TAGGED")
    cb.collections.set_chain("Cam/defaults", ["Cam/calib", "Cam/runs/a"])
    cb.collections.register("Other/x", "TAGGED")
    everything = ["Cam/calib", "Cam/calib/2024", "Cam/defaults", "Cam/runs/a", "Cam/runs/b", "Cam/tag", "Other/x"]
    assert _names(cb) == [*everything, "test/run"]
    assert _names(cb, "Cam/*") == everything[:-1]  # '*' crosses '/'
    assert _names(cb, "Cam/calib") == ["Cam/calib"]  # no wildcard: exact name
    assert _names(cb, "Cam/calib*") == ["Cam/calib", "Cam/calib/2024"]
    assert _names(cb, "Cam/runs/?") == ["Cam/runs/a", "Cam/runs/b"]
    assert _names(cb, "Cam/runs/[a]") == ["Cam/runs/a"]
    assert _names(cb, "cam/*") == []  # case-sensitive
    assert _names(cb, ["Other/*", "test/*"]) == ["Other/x", "test/run"]
    assert _names(cb, types=["RUN"]) == ["Cam/runs/a", "Cam/runs/b", "test/run"]
    assert _names(cb, "Cam/*", types=["calibration", CollectionType.CHAINED]) == [
        "Cam/calib",
        "Cam/calib/2024",
        "Cam/defaults",
    ]
    assert _names(cb, "*", types=["TAGGED"]) == ["Cam/tag", "Other/x"]
    assert _names(cb, "Cam/def*", flatten_chains=True) == ["Cam/calib", "Cam/runs/a"]
    assert _names(cb, "nothing*") == []
    records = {r.name: r.type for r in cb.collections.query("Cam/*")}
    assert records["Cam/defaults"] is CollectionType.CHAINED
    assert records["Cam/tag"] is CollectionType.TAGGED


def test_collection_types_given_as_one_name_or_misspelled(cb: DirectButler) -> None:
    # Before: types="RUN" was read letter by letter (a bare KeyError 'R'), and a misspelled type name was a bare
    # KeyError from register() and query() alike.
    cb.collections.register("Cam/runs/a", "RUN")
    assert _names(cb, types="RUN") == _names(cb, types=["RUN"]) == ["Cam/runs/a", "test/run"]
    assert cb.query_collections("Cam/*", types=CollectionType.RUN) == ["Cam/runs/a"]
    with pytest.raises(CollectionError, match="Unknown collection type 'TAGGD'; use one of RUN, TAGGED"):
        cb.collections.register("x", "TAGGD")
    with pytest.raises(CollectionError, match="Unknown collection type 'runs'"):
        cb.query_collections("*", types=["runs"])
    assert "x" not in _names(cb)


# -- removal --------------------------------------------------------------------------------------------------
def test_remove_is_refused_for_a_chain_child_and_for_a_run(cb: DirectButler) -> None:
    ref = _put(cb, "meta", "a", "run/a", META11)
    cb.collections.register("tag", "TAGGED")
    cb.collections.associate("tag", [ref])
    cb.collections.set_chain("chain1", ["tag"])
    cb.collections.set_chain("chain2", ["tag", "run/a"])
    with pytest.raises(CollectionError, match=r"child of \['chain1', 'chain2'\]; remove it from those chains first"):
        cb.collections.remove("tag")
    with pytest.raises(CollectionError, match=r"is a RUN: removing it removes its datasets and files; use butler"):
        cb.collections.remove("run/a")
    with pytest.raises(CollectionError, match="No collection named"):
        cb.collections.remove("nope")
    assert _names(cb) == ["chain1", "chain2", "run/a", "tag", "test/run"]
    assert _label(cb, "meta", META11, "tag") == "a"
    cb.collections.remove("chain1")  # a chain goes; its children stay
    cb.collections.remove_from_chain("chain2", ["tag"])
    cb.collections.remove("tag")
    assert _names(cb) == ["chain2", "run/a", "test/run"]
    assert cb.collections.children("chain2") == ["run/a"]
    assert _label(cb, "meta", META11, "chain2") == "a"


def test_remove_runs_deletes_datasets_and_files(cb: DirectButler) -> None:
    gone = [
        _put(cb, "meta", "a", "run/a", META11),
        _put(cb, "meta", "a2", "run/a", {"instrument": "Cam", "visit": 2, "detector": 1}),
        _put(cb, "bias", "bias", "run/a", DET1),
    ]
    kept = _put(cb, "meta", "b", "run/b", META11)
    files = [_file(cb, ref) for ref in gone]
    assert all(f.exists() for f in files)
    cb.collections.set_chain("chain", ["run/a", "run/b"])
    with pytest.raises(CollectionError, match=r"child of \['chain'\]"):
        cb.collections.remove_runs(["run/a"])
    assert all(cb.exists(ref) for ref in gone)
    cb.collections.remove_from_chain("chain", ["run/a"])
    with pytest.raises(CollectionError, match="is a CHAINED collection, not a RUN; use remove"):
        cb.collections.remove_runs(["run/a", "chain"])  # checked before anything goes
    assert all(cb.exists(ref) for ref in gone)
    assert all(f.exists() for f in files)
    assert cb.collections.remove_runs(["run/a"]) == 3
    assert not any(f.exists() for f in files)
    assert not any(cb.exists(ref) for ref in gone)
    assert "run/a" not in _names(cb)
    with pytest.raises(DatasetNotFoundError, match="is not in the registry"):
        cb.get(gone[0])
    assert _label(cb, "meta", META11, "chain") == "b"  # the chain now finds run/b's dataset
    assert _file(cb, kept).exists()
    assert cb.registry.datasets.trash() == []  # the trash was emptied after the files went
    assert cb.collections.remove_runs([]) == 0


def test_remove_runs_reports_progress(cb: DirectButler) -> None:
    _put(cb, "meta", "a", "run/a", META11)
    _put(cb, "meta", "b", "run/b", META11)
    calls: list[tuple[str, int, int | None]] = []
    assert cb.collections.remove_runs(["run/a", "run/b"], progress=lambda *c: calls.append(c)) == 2
    assert calls == [("remove-runs", 0, 2), ("remove-runs", 1, 2), ("remove-runs", 2, 2)]
