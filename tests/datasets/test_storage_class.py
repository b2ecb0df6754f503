"""StorageClass: Python types, coercion through converters, and the storage class registry."""

from __future__ import annotations

import numpy as np
import pytest

from skybutler.datasets import StorageClass, storage_classes
from skybutler.errors import FormatterError, PluginNotFoundError

BUILTIN_NAMES = {"StructuredDataDict", "StructuredDataList", "NumpyArray", "Bytes", "Pickled"}


def test_registry_knows_the_builtin_names() -> None:
    assert set(storage_classes.names()) >= BUILTIN_NAMES
    for name in BUILTIN_NAMES:
        storage_class = storage_classes.get(name)
        assert isinstance(storage_class, StorageClass)
        assert storage_class.name == name


def test_registry_returns_the_same_object_each_time() -> None:
    assert storage_classes.get("NumpyArray") is storage_classes.get("NumpyArray")


def test_registry_passes_storage_class_objects_through() -> None:
    custom = StorageClass("Custom", "builtins:set")
    assert storage_classes.get(custom) is custom


def test_unknown_storage_class_lists_the_known_ones() -> None:
    with pytest.raises(PluginNotFoundError, match="No storage_classes plug-in named 'NumpyArrray'") as info:
        storage_classes.get("NumpyArrray")
    assert "NumpyArray" in str(info.value)
    assert "StructuredDataDict" in str(info.value)


@pytest.mark.parametrize(
    ("name", "python_type"),
    [
        ("StructuredDataDict", dict),
        ("StructuredDataList", list),
        ("NumpyArray", np.ndarray),
        ("Bytes", bytes),
        ("Pickled", object),
    ],
)
def test_python_types(name: str, python_type: type) -> None:
    assert storage_classes.get(name).python_type() is python_type


def test_is_instance() -> None:
    assert storage_classes.get("StructuredDataDict").is_instance({"a": 1})
    assert not storage_classes.get("StructuredDataDict").is_instance([1])
    assert storage_classes.get("Pickled").is_instance(object())


def test_coerce_returns_objects_of_the_right_type_unchanged() -> None:
    array = np.arange(3)
    assert storage_classes.get("NumpyArray").coerce(array) is array
    data = {"a": 1}
    assert storage_classes.get("StructuredDataDict").coerce(data) is data


def test_coerce_converts_a_list_to_a_numpy_array() -> None:
    converted = storage_classes.get("NumpyArray").coerce([[1, 2], [3, 4]])
    assert isinstance(converted, np.ndarray)
    assert converted.shape == (2, 2)
    np.testing.assert_array_equal(converted, np.array([[1, 2], [3, 4]]))


@pytest.mark.parametrize(
    ("name", "obj", "held", "given"),
    [
        ("NumpyArray", "not an array", "numpy.ndarray", "builtins.str"),
        ("StructuredDataDict", [1, 2], "builtins.dict", "builtins.list"),
        ("Bytes", np.zeros(2), "builtins.bytes", "numpy.ndarray"),
        ("StructuredDataList", (1, 2), "builtins.list", "builtins.tuple"),
    ],
)
def test_coerce_of_the_wrong_type_names_both_types(name: str, obj: object, held: str, given: str) -> None:
    with pytest.raises(FormatterError) as info:
        storage_classes.get(name).coerce(obj)
    message = str(info.value)
    assert f"Storage class {name!r} holds {held} objects; got {given}." in message
    assert "Put an object of that type" in message


def test_custom_storage_class_with_converter() -> None:
    frozen = StorageClass("FrozenSet", "builtins:frozenset", converters={"builtins:set": "builtins:frozenset"})
    assert frozen.coerce({1, 2}) == frozenset({1, 2})
    assert isinstance(frozen.coerce({1}), frozenset)
    with pytest.raises(FormatterError, match=r"holds builtins\.frozenset objects; got builtins\.list"):
        frozen.coerce([1, 2])


def test_pytype_that_is_not_a_type_is_a_formatter_error() -> None:
    with pytest.raises(FormatterError, match="'builtins:len' is not a type"):
        StorageClass("Len", "builtins:len").python_type()


def test_nested_qualname_is_resolved() -> None:
    assert StorageClass("Decoder", "json:decoder.JSONDecoder").python_type().__name__ == "JSONDecoder"


def test_storage_classes_are_frozen() -> None:
    storage_class = storage_classes.get("Bytes")
    with pytest.raises(AttributeError):
        storage_class.name = "Other"  # type: ignore[misc]
    assert storage_class.name == "Bytes"
