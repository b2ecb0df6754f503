"""A format chosen per dataset type at registration: stored in the registry, validated, first in the order of
choice, shown by queries, and carried by export/import and ``transfer_from`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.errors import DatasetTypeError
from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema
from skybutler.testing.sample import populate_sample
from skybutler.transfer._yaml_format import load_export

DIMS = ["instrument", "visit", "detector"]
DATA_ID = {"instrument": "Cam", "visit": 1, "detector": 2}


def _table() -> Table:
    return Table({"id": np.arange(5), "flux": np.linspace(1.0, 2.0, 5)})


def _formatter(butler: DirectButler, name: str) -> str:
    """The formatter recorded with the dataset ``name`` at DATA_ID."""
    ref = butler.find_dataset(name, DATA_ID)
    assert ref is not None
    return butler.registry.datasets.artifacts([ref.id])[ref.id].formatter


@pytest.fixture
def other(butler: DirectButler, tmp_path: Path) -> Iterator[DirectButler]:
    """A second, empty repository on the same registry back-end as ``butler``."""
    root = tmp_path / "other"
    if butler.registry.db.engine.dialect.name == "sqlite":
        Butler.create(root)
        with DirectButler(root, run="test/run") as b:
            yield b
        return
    with fresh_schema(POSTGRES_URL) as schema:
        Butler.create(root, registry=POSTGRES_URL, schema=schema)
        with DirectButler(root, run="test/run") as b:
            yield b


def test_put_writes_the_registered_format_and_records_it(butler: DirectButler) -> None:
    dataset_type = butler.register_dataset_type("src", DIMS, "AstropyTable", format="hdf5")
    assert dataset_type.format == "hdf5"
    assert dataset_type.describe() == "src(instrument, detector, visit) as AstropyTable in hdf5"
    butler.put(_table(), "src", DATA_ID)
    assert butler.get_uri("src", DATA_ID).endswith(".h5")
    assert _formatter(butler, "src") == "hdf5"
    assert list(butler.get("src", DATA_ID)["flux"]) == list(_table()["flux"])
    assert [(t.name, t.format) for t in butler.query_dataset_types("src")] == [("src", "hdf5")]


def test_the_registered_format_wins_over_the_configuration(butler: DirectButler) -> None:
    """Registered format > datastore.formatters by dataset type > by storage class > prefer > default."""
    config = {"datastore": {"formatters": {"a": "parquet", "b": "parquet", "AstropyTable": "fits"},
                            "prefer": ["hdf5"]}}  # fmt: skip
    with DirectButler(butler.root, run="test/run", config=config) as b:
        b.register_dataset_type("a", DIMS, "AstropyTable", format="hdf5")  # registered, though configured
        b.register_dataset_type("b", DIMS, "AstropyTable")  # by dataset type
        b.register_dataset_type("c", DIMS, "AstropyTable")  # by storage class, though hdf5 is preferred
        b.register_dataset_type("d", DIMS, "ArrowTable")  # the repository policy
        b.register_dataset_type("e", DIMS, "StructuredDataList")  # the built-in default (hdf5 writes no lists)
        for name in ("a", "b", "c", "d", "e"):
            b.put([1, "x"] if name == "e" else _table(), name, DATA_ID)
        got = {name: _formatter(b, name) for name in ("a", "b", "c", "d", "e")}
    assert got == {"a": "hdf5", "b": "parquet", "c": "fits", "d": "hdf5", "e": "json"}


def test_every_butler_and_process_writes_the_registered_format(butler: DirectButler) -> None:
    butler.register_dataset_type("src", DIMS, "AstropyTable", format="parquet")
    script = (
        "import sys, numpy as np\n"
        "from astropy.table import Table\n"
        "from skybutler import Butler\n"
        "with Butler(sys.argv[1], run='test/run') as b:\n"
        "    b.put(Table({'id': np.arange(3)}), 'src', instrument='Cam', visit=1, detector=2)\n"
        "    print(b.get_dataset_type('src').format, b.get_uri('src', instrument='Cam', visit=1, detector=2))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, butler.root], capture_output=True, text=True,
                          env=os.environ, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    fmt, uri = done.stdout.split()
    assert fmt == "parquet"
    assert uri.endswith(".parq")
    assert _formatter(butler, "src") == "parquet"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("hdf6", "Unknown format 'hdf6' for dataset type 'src'; formats that write AstropyTable: fits, hdf5, "
                 "parquet."),
        ("json", "Format 'json' cannot write storage class 'AstropyTable' (dataset type 'src'); formats that "
                 "write AstropyTable: fits, hdf5, parquet."),
        ("pickle", "Format 'pickle' runs code when reading, so it cannot be chosen with a dataset type"),
    ],
)  # fmt: skip
def test_a_format_that_cannot_write_the_type_is_refused_and_nothing_registered(
    butler: DirectButler, fmt: str, message: str
) -> None:
    with pytest.raises(DatasetTypeError) as info:
        butler.register_dataset_type("src", DIMS, "AstropyTable", format=fmt)
    assert message in str(info.value)
    assert butler.query_dataset_types("src") == []


def test_registering_again_with_another_format_is_refused(butler: DirectButler) -> None:
    butler.register_dataset_type("src", DIMS, "AstropyTable", format="hdf5")
    with pytest.raises(DatasetTypeError, match=r"already registered as src.* in hdf5; cannot redefine it"):
        butler.register_dataset_type("src", DIMS, "AstropyTable", format="fits")
    again = butler.register_dataset_type("src", DIMS, "AstropyTable")  # no choice given: the registered one
    assert again.format == "hdf5"
    with DirectButler(butler.root) as fresh:
        assert fresh.get_dataset_type("src").format == "hdf5"


def _export(butler: DirectButler, tmp_path: Path) -> Path:
    butler.register_dataset_type("src", DIMS, "AstropyTable", format="hdf5")
    butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
    butler.put(_table(), "src", DATA_ID)
    butler.put({"a": 1}, "meta", DATA_ID)
    path = tmp_path / "out" / "export.yaml"
    butler.export(path, collections="test/run", directory=tmp_path / "out")
    return path


def test_export_and_import_carry_the_format(butler: DirectButler, other: DirectButler, tmp_path: Path) -> None:
    path = _export(butler, tmp_path)
    document = load_export(path.read_text(), str(path))
    entries = {e["name"]: e for e in document["data"] if e["type"] == "dataset_type"}
    assert entries["src"]["skybutler_format"] == "hdf5"
    assert "skybutler_format" not in entries["meta"]  # no format chosen: the entry is as the reference writes it
    other.import_(path, directory=tmp_path / "out")
    assert [(t.name, t.format) for t in other.query_dataset_types()] == [("meta", None), ("src", "hdf5")]
    assert _formatter(other, "src") == "hdf5"
    other.put(_table(), "src", DATA_ID, run="later")  # new puts there follow the format
    assert other.get_uri("src", DATA_ID, collections="later").endswith(".h5")


def test_import_refuses_another_or_an_unknown_format_and_imports_nothing(
    butler: DirectButler, other: DirectButler, tmp_path: Path
) -> None:
    path = _export(butler, tmp_path)
    text = path.read_text()
    populate_sample(other)
    other.register_dataset_type("src", DIMS, "AstropyTable", format="fits")
    with pytest.raises(DatasetTypeError, match=r"dataset type 'src'.*already registered as .* in fits"):
        other.import_(path, directory=tmp_path / "out")
    unknown = tmp_path / "out" / "unknown.yaml"
    unknown.write_text(text.replace("skybutler_format: hdf5", "skybutler_format: nosuch"))
    other.remove_dataset_type("src")
    with pytest.raises(DatasetTypeError, match=r"'src'.*Unknown format 'nosuch'"):
        other.import_(unknown, directory=tmp_path / "out")
    assert [t.name for t in other.query_dataset_types()] == []
    assert other.registry.datasets.count() == 0


def test_transfer_from_carries_the_format(butler: DirectButler, other: DirectButler) -> None:
    butler.register_dataset_type("src", DIMS, "AstropyTable", format="parquet")
    ref = butler.put(_table(), "src", DATA_ID)
    (copied,) = other.transfer_from(butler, [ref])
    assert other.get_dataset_type("src").format == "parquet"
    assert _formatter(other, "src") == "parquet"
    assert list(other.get(copied)["id"]) == list(range(5))


def test_transfer_from_into_a_type_of_another_format_is_refused(butler: DirectButler, other: DirectButler) -> None:
    butler.register_dataset_type("src", DIMS, "AstropyTable", format="parquet")
    ref = butler.put(_table(), "src", DATA_ID)
    other.register_dataset_type("src", DIMS, "AstropyTable", format="hdf5")
    with pytest.raises(DatasetTypeError, match=r"differs: src.* in parquet in the source, .* in hdf5 in the dest"):
        other.transfer_from(butler, [ref])
    assert other.registry.datasets.count() == 0
