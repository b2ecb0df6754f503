"""The public names are pinned: changing them is a deliberate act."""

from __future__ import annotations

import importlib

import pytest

import skybutler

PUBLIC = [
    "Butler",
    "CollectionType",
    "DataCoordinate",
    "DatasetRef",
    "DatasetType",
    "DeferredDatasetHandle",
    "DimensionRecord",
    "DimensionUniverse",
    "SkyButlerError",
    "StorageClass",
    "Timespan",
    "WorkerButler",
]

PACKAGES = [
    "skybutler.datasets",
    "skybutler.datastore",
    "skybutler.dimensions",
    "skybutler.exec",
    "skybutler.formatters",
    "skybutler.registry",
    "skybutler.transports",
    "skybutler.workers",
]


def test_top_level_all_is_pinned_and_sorted() -> None:
    assert skybutler.__all__ == PUBLIC
    assert sorted(skybutler.__all__) == skybutler.__all__


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(skybutler, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = skybutler.Nope


def _isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions, each alphabetical (ruff's RUF022 order)."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


@pytest.mark.parametrize("package", PACKAGES)
def test_subpackage_all_is_sorted_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert names == sorted(names, key=_isort_key)
    for name in names:
        assert hasattr(module, name), f"{package}.{name}"
