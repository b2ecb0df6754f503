"""Storage classes of astronomy types: declarations, converters on put and read, default formatters."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from astropy.io import fits
from astropy.table import Table

from skybutler.astro import Exposure, Image, TableSchema
from skybutler.datasets import storage_classes
from skybutler.datasets._storage_class import ASTRO_STORAGE_CLASSES
from skybutler.errors import FormatterError
from skybutler.formatters import DEFAULT_FORMATTERS, formatters

TABLES = ("AstropyTable", "ArrowTable", "DataFrame", "NumpyStructuredArray")


@pytest.mark.parametrize("name", ASTRO_STORAGE_CLASSES)
def test_each_is_registered_and_its_components_are_storage_classes(name: str) -> None:
    sc = storage_classes.get(name)
    assert sc.name == name
    assert isinstance(sc.python_type(), type)
    for component in sc.components.values():
        storage_classes.get(component)


@pytest.mark.parametrize("name", sorted(set(ASTRO_STORAGE_CLASSES) - {"Integer", "TableSchema"}))
def test_each_writable_one_has_a_default_formatter_that_writes_it(name: str) -> None:
    assert formatters.get(DEFAULT_FORMATTERS[name]).supports(name)


def test_declared_components_and_parameters() -> None:
    assert set(storage_classes.get("Exposure").components) == {
        "image", "mask", "variance", "metadata", "wcs", "visit_info",
    }  # fmt: skip
    assert storage_classes.get("Image").parameters == ("bbox",)
    for name in TABLES:
        sc = storage_classes.get(name)
        assert sc.components == {"schema": "TableSchema", "rowcount": "Integer"}
        assert sc.parameters == ("columns", "filters")


def test_a_plain_array_is_accepted_as_an_image_and_an_image_as_an_exposure() -> None:
    image = storage_classes.get("Image").coerce(np.zeros((3, 4), "f4"))
    assert isinstance(image, Image)
    exposure = storage_classes.get("Exposure").coerce(Image(np.ones((2, 2)), {"A": 1}))
    assert isinstance(exposure, Exposure)
    assert exposure.metadata == {"A": 1}
    with pytest.raises(FormatterError, match="2-D"):
        storage_classes.get("Image").coerce(np.zeros(3))


def test_an_astropy_header_is_accepted_as_metadata_without_layout_keywords() -> None:
    header = fits.PrimaryHDU(np.zeros((2, 2))).header
    header["EXPTIME"] = 30.0
    header.add_history("flat-fielded")
    assert storage_classes.get("Metadata").coerce(header) == {"EXPTIME": 30.0, "HISTORY": ["flat-fielded"]}


@pytest.mark.parametrize("target", TABLES)
@pytest.mark.parametrize("source", TABLES)
def test_every_table_kind_converts_to_every_other(source: str, target: str) -> None:
    table = Table({"a": [1, 2], "b": [0.5, 1.5]})
    obj = storage_classes.get(source).coerce(table)
    converted = storage_classes.get(target).coerce(obj)
    assert storage_classes.get(target).is_instance(converted)
    assert TableSchema.of(converted).names == ("a", "b")


def test_converters_are_declared_as_strings_for_every_other_table_kind() -> None:
    arrow = storage_classes.get("ArrowTable")
    assert set(arrow.converters) == {"astropy.table:Table", "pandas:DataFrame", "numpy:ndarray"}
    assert isinstance(storage_classes.get("DataFrame").coerce(pa.table({"x": [1]})), pd.DataFrame)


def test_converting_does_not_import_libraries_the_object_is_not_from() -> None:
    # (pyarrow itself imports pandas when installed, so only astropy is checked)
    code = (
        "import sys, pyarrow as pa; from skybutler.datasets import storage_classes; "
        "storage_classes.get('NumpyStructuredArray').coerce(pa.table({'x': [1]})); "
        "print([m for m in ('astropy',) if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
