"""Bad input gets the specific error, and the registry and the files stay exactly as they were."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from skybutler.butler import Butler, DirectButler
from skybutler.errors import (
    ConfigError,
    ConflictError,
    DataIdError,
    DatasetTypeError,
    FormatterError,
    SkyButlerError,
)


def _state(butler: DirectButler) -> tuple[int, list[str], list[str]]:
    root = Path(butler.root)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "registry" not in p.name)
    types = [t.name for t in butler.registry.query_dataset_types()]
    return butler.registry.datasets.count(), files, types


GOOD = {"instrument": "Cam", "visit": 1, "detector": 2}
BAD_VISIT = {"instrument": "Cam", "visit": 999, "detector": 1}

CASES: dict[str, tuple[type[SkyButlerError], Callable[[DirectButler], object]]] = {
    "unknown dimension": (DataIdError, lambda b: b.put({"a": 1}, "meta", instrument="Cam", visit=1, detektor=2)),
    "wrong value type": (DataIdError, lambda b: b.put({"a": 1}, "meta", instrument="Cam", visit="one", detector=2)),
    "missing key": (DataIdError, lambda b: b.put({"a": 1}, "meta", instrument="Cam", visit=1)),
    "unknown record": (DataIdError, lambda b: b.put({"a": 1}, "meta", BAD_VISIT)),
    "unregistered dataset type": (DatasetTypeError, lambda b: b.put({"a": 1}, "calexp", instrument="Cam")),
    "wrong Python type": (FormatterError, lambda b: b.put(np.zeros(3), "meta", GOOD)),
    "unserializable value": (FormatterError, lambda b: b.put({"a": object()}, "meta", GOOD)),
    "duplicate put": (ConflictError, lambda b: b.put({"a": 2}, "meta", instrument="Cam", visit=0, detector=0)),
    "conflicting dataset type": (
        DatasetTypeError,
        lambda b: b.register_dataset_type("meta", ["instrument"], "StructuredDataDict"),
    ),
    "unknown storage class": (DatasetTypeError, lambda b: b.register_dataset_type("x", ["instrument"], "Nope")),
    "one bad item in put_many": (DataIdError, lambda b: b.put_many([({"a": 1}, GOOD), ({"a": 1}, BAD_VISIT)], "meta")),
    "integer beyond 64 bits": (DataIdError, lambda b: b.put({"a": 1}, "meta", GOOD, visit=2**64)),
    "NUL in a string value": (DataIdError, lambda b: b.put({"a": 1}, "meta", GOOD, instrument="Ca\x00m")),
    "over-long dataset type name": (
        DatasetTypeError,
        lambda b: b.register_dataset_type("x" * 129, ["instrument"], "StructuredDataDict"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_changes_nothing(butler: DirectButler, case: str) -> None:
    butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    butler.put({"a": 1}, "meta", instrument="Cam", visit=0, detector=0)
    before = _state(butler)
    error, action = CASES[case]
    with pytest.raises(error):
        action(butler)
    assert _state(butler) == before


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{run}/../{dataset_type}/{dimensions_name}", "'..'"),
        ("/abs/{run}/{dataset_type}/{dimensions_name}", "absolute"),
        ("{run}/{dataset_type}/{visit} {detector}", "unsafe"),
        ("{run}/{dataset_type}/{visit}", "would not give each"),
    ],
)
def test_unsafe_or_ambiguous_templates_are_refused_at_registration(tmp_path: Path, template: str, message: str) -> None:
    from skybutler.testing.sample import populate_sample

    root = tmp_path / "repo"
    config = {"datastore": {"templates": {"default": "{run}/{id}", "meta": template}}}
    if message in ("'..'", "absolute", "unsafe"):  # refused as soon as the repository is created
        with pytest.raises(ConfigError, match=message):
            Butler.create(root, config=config)
        assert not (root / "butler.yaml").exists()
        return
    Butler.create(root, config=config)
    with DirectButler(root, run="r") as butler:
        populate_sample(butler, n_visits=2, n_detectors=2)
        before = _state(butler)
        with pytest.raises(ConfigError, match=message):
            butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        assert _state(butler) == before
