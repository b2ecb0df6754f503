"""Fixtures for export/import tests: a populated source repository and an empty destination on the same back-end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema

#: A region in sphgeom's encoding: a ConvexPolygon ('p') of four unit vectors (as the reference writes them).
REGION = bytes.fromhex(
    "705b6ab07dd864ef3fd0a6c36f7324c63f0281c2b8d64fb6bfa3712bbce34aef3f04a40104a354c83f0281c2b8d64fb6bfd07e75b6e"
    "655ef3f45dfa6d4325dc83f28516a6d8fdbb1bff510399ae46fef3f687241203e2cc63f28516a6d8fdbb1bf"
)


@pytest.fixture
def dest(registry_url: tuple[str, str | None], tmp_path: Path) -> Iterator[DirectButler]:
    """An empty writeable repository on the same registry back-end as ``butler``."""
    url, _ = registry_url
    root = tmp_path / "dest"
    if url.startswith("sqlite"):
        Butler.create(root)
        with DirectButler(root, writeable=True) as b:
            yield b
        return
    with fresh_schema(POSTGRES_URL) as schema:
        Butler.create(root, registry=POSTGRES_URL, schema=schema)
        with DirectButler(root, writeable=True) as b:
            yield b


@pytest.fixture
def source(butler: DirectButler) -> dict[str, Any]:
    """``butler`` with datasets in several runs, regions, and TAGGED, CALIBRATION and CHAINED collections.

    The calibration collection has three ranges, one of them made by a ``replace`` (so it has history).
    """
    butler.registry.insert_dimension_records(
        "visit_detector_region", [{"instrument": "Cam", "visit": v, "detector": d, "region": REGION}
                                  for v in (1, 2) for d in (0, 1)]
    )  # fmt: skip
    butler.register_dataset_type("meta", ["visit", "detector"], "StructuredDataDict")
    butler.register_dataset_type("flat", ["detector", "physical_filter"], "StructuredDataDict", is_calibration=True)
    metas = [
        butler.put({"v": v, "d": d}, "meta", instrument="Cam", visit=v, detector=d) for v in (1, 2) for d in (0, 1)
    ]
    other = butler.put({"other": True}, "meta", instrument="Cam", visit=3, detector=0, run="other/run")
    flats = [
        butler.put({"flat": n}, "flat", instrument="Cam", detector=0, physical_filter="Cam-r", run=f"calib/{n}")
        for n in range(3)
    ]
    butler.collections.register("picked", "TAGGED", doc="Hand-picked")
    butler.collections.associate("picked", [metas[0], other])
    butler.collections.register("calib", "CALIBRATION", doc="Flats of record")
    butler.collections.certify("calib", [flats[0]], ("2025-01-01T00:00:00", "2025-02-01T00:00:00"))
    butler.collections.certify("calib", [flats[1]], ("2025-02-01T00:00:00", None))
    # A replacement: the old row is closed (history) and only the current rows are exported.
    butler.collections.certify("calib", [flats[2]], ("2025-03-01T00:00:00", None), replace=True)
    butler.collections.register("everything", "CHAINED", doc="All of it")
    butler.collections.set_chain("everything", ["picked", "test/run", "calib"])
    return {"butler": butler, "metas": metas, "other": other, "flats": flats, "region": REGION}


@pytest.fixture
def snapshot() -> Callable[[DirectButler], dict[str, Any]]:
    """A function returning what a repository holds."""
    return _state


def _state(butler: DirectButler) -> dict[str, Any]:
    """What a repository holds, for before/after comparisons."""
    reg = butler.registry
    out: dict[str, Any] = {
        "collections": [(c.name, c.type, c.doc) for c in reg.query_collections()],
        "dataset_types": reg.query_dataset_types(),
        "datasets": reg.datasets.count(),
        "files": sorted(butler.datastore.files().transport.keys()),
    }
    for element in reg.universe.elements:
        if not element.is_skypix:
            out[element.name] = sorted(map(repr, reg.fetch_dimension_records(element.name)))
    return out
