"""Scratch data in memory: a file datastore on the ``mem://`` transport (bytes), and the in-memory datastore
(``type: memory``: the Python objects themselves)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.errors import FormatterError
from skybutler.testing.sample import populate_sample


def test_a_scratch_datastore_in_memory_beside_a_sqlite_registry(tmp_path: Path) -> None:
    root = Butler.create(tmp_path / "repo", datastore=f"mem://{uuid.uuid4().hex}/")
    with DirectButler(root, run="scratch") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        refs = butler.put_many([({"v": v}, {"instrument": "Cam", "visit": v, "detector": 1}) for v in range(3)], "meta")
        assert butler.get_uri(refs[0]).startswith("mem://")
        assert butler.get_many(refs) == [{"v": 0}, {"v": 1}, {"v": 2}]
        assert butler.verify().ok == 3
        assert butler.remove(refs[:1]) == 1
        assert butler.reconcile(grace_seconds=0).unknown == []
        assert not list((tmp_path / "repo").rglob("*.json"))  # nothing reached the disk


# -- the in-memory datastore (``type: memory``): Python objects, no serialization ---------------------------------
DIMS = ["instrument", "visit", "detector"]
DATA_ID = {"instrument": "Cam", "visit": 1, "detector": 2}


def _repo(tmp_path: Path, name: str, datastore: dict[str, Any]) -> DirectButler:
    root = Butler.create(tmp_path / name, config={"datastore": datastore})
    butler = DirectButler(root, run="test/run")
    populate_sample(butler)
    return butler


def test_objects_are_kept_as_copies_or_shared_when_asked(tmp_path: Path) -> None:
    with _repo(tmp_path, "copies", {"type": "memory"}) as butler:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        obj = {"a": [1]}
        butler.put(obj, "meta", DATA_ID)
        assert butler.get("meta", DATA_ID) == obj
        assert butler.get("meta", DATA_ID) is not butler.get("meta", DATA_ID)
    with _repo(tmp_path, "shared", {"type": "memory", "copy_objects": False}) as butler:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.put(obj, "meta", DATA_ID)
        assert butler.get("meta", DATA_ID) is obj  # no serialization, no copy


def test_an_object_that_cannot_be_copied_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    with _repo(tmp_path, "repo", {"type": "memory"}) as butler:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        with pytest.raises(FormatterError, match="copy_objects: false"):
            butler.put({"lock": threading.Lock()}, "meta", DATA_ID)
        assert butler.registry.datasets.count() == 0


def test_butlers_of_one_repository_share_its_objects_and_other_repositories_do_not(tmp_path: Path) -> None:
    with _repo(tmp_path, "one", {"type": "memory"}) as writer, _repo(tmp_path, "two", {"type": "memory"}) as other:
        writer.register_dataset_type("meta", DIMS, "StructuredDataDict")
        other.register_dataset_type("meta", DIMS, "StructuredDataDict")
        ref = writer.put({"a": 1}, "meta", DATA_ID)
        with DirectButler(writer.root, collections="test/run") as reader:
            assert reader.get("meta", DATA_ID) == {"a": 1}
        assert not other.exists("meta", DATA_ID)
        other.put({"b": 2}, "meta", DATA_ID, run="test/run")
        assert (writer.get(ref), other.get("meta", DATA_ID)) == ({"a": 1}, {"b": 2})


def test_after_a_restart_the_lost_objects_are_recognised_not_a_crash(tmp_path: Path) -> None:
    with _repo(tmp_path, "repo", {"type": "memory"}) as butler:
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        refs = butler.put_many([({"v": v}, {**DATA_ID, "visit": v}) for v in range(2)], "meta")
        root = butler.root
    script = textwrap.dedent(
        f"""
        from skybutler import Butler
        from skybutler.errors import ArtifactNotFoundError
        with Butler({root!r}, writeable=True, collections="test/run") as butler:
            try:
                butler.get("meta", instrument="Cam", visit=0, detector=2)
            except ArtifactNotFoundError as exc:
                print(type(exc).__name__, exc)
            print(butler.verify().problems, butler.reconcile(grace_seconds=0).missing)
            refs = butler.query_datasets("meta")
            print(butler.remove(refs), butler.verify().problems)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")},
    ).stdout.splitlines()  # fmt: skip
    lost = f"holds no object for dataset {refs[0].id.hex} (meta): objects in memory last only as long as the process"
    assert out[0].startswith(f"ArtifactNotFoundError The in-memory datastore 'memory' {lost}")
    assert out[1:] == [f"2 {sorted(r.id.hex for r in refs)}", "2 0"]


def test_a_data_model_is_checked_in_memory_too(tmp_path: Path) -> None:
    config = {"type": "memory", "data_models": {"meta": {"required_keys": ["EXPTIME"]}}}
    with _repo(tmp_path, "repo", config) as butler:
        butler.register_dataset_type("meta", DIMS, "Metadata")
        with pytest.raises(FormatterError, match="EXPTIME"):
            butler.put({"AIRMASS": 1.2}, "meta", DATA_ID)
        assert butler.registry.datasets.count() == 0


def _astro_objects() -> dict[str, tuple[str, Any]]:
    from skybutler.astro import Exposure, Spectrum
    from skybutler.datasets._camera import CameraDescription, DetectorDescription

    rng = np.random.default_rng(5)
    exposure = Exposure(
        rng.random((12, 10), dtype="f4"),
        mask=np.arange(120, dtype="i4").reshape(12, 10),
        variance=np.ones((12, 10), "f4"),
        metadata={"EXPTIME": 30.0},
        visit_info={"airmass": 1.1},
    )
    spectrum = Spectrum(np.arange(6.0), np.linspace(400.0, 900.0, 6), wavelength_unit="nm", metadata={"OBJ": "x"})
    table = np.array([(i, i * 1.5, f"s{i}") for i in range(8)], dtype=[("id", "i8"), ("flux", "f8"), ("name", "U4")])
    camera = CameraDescription("Cam", tuple(DetectorDescription(i, f"S{i:02d}") for i in range(3)))
    return {
        "exposure": ("Exposure", exposure),
        "spectrum": ("Spectrum", spectrum),
        "table": ("NumpyStructuredArray", table),
        "camera": ("Camera", camera),
        "array": ("NumpyArray", np.arange(60, dtype="f8").reshape(6, 10)),
    }


READS = [
    ("exposure", None, None),
    ("exposure", None, {"bbox": (slice(2, 5), slice(1, 7))}),
    ("exposure", "image", None),
    ("exposure", "mask", {"bbox": (slice(0, 3), slice(0, 3))}),
    ("exposure", "variance", None),
    ("exposure", "metadata", None),
    ("exposure", "visit_info", None),
    ("spectrum", None, {"wavelength_range": (500.0, 800.0)}),
    ("spectrum", "flux", None),
    ("spectrum", "metadata", None),
    ("table", None, {"columns": ["id", "name"]}),
    ("table", None, {"filters": [("flux", ">", 4.0)]}),
    ("table", "rowcount", None),
    ("table", "schema", None),
    ("camera", "detectors", None),
    ("camera", "detector", {"detector": 1}),
    ("array", None, {"slices": (slice(1, 4), slice(None, None, 3))}),
    ("array", None, {"mmap": True}),
    ("array", None, {"slices": (slice(-2, None),), "mmap": True}),
]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        # byte order aside (FITS reads big-endian): same kind, fields and values
        return a.dtype.kind == b.dtype.kind and a.dtype.names == b.dtype.names and bool(np.array_equal(a, b))
    return bool(a == b)


def test_components_and_parameters_in_memory_equal_what_formatters_read(tmp_path: Path) -> None:
    pytest.importorskip("astropy")
    objects = _astro_objects()
    with _repo(tmp_path, "memory", {"type": "memory"}) as memory, _repo(tmp_path, "files", {}) as files:
        for butler in (memory, files):
            for name, (storage_class, obj) in objects.items():
                butler.register_dataset_type(name, DIMS, storage_class)
                butler.put(obj, name, DATA_ID)
        for name, component, parameters in READS:
            full = name if component is None else f"{name}.{component}"
            expected = files.get(full, DATA_ID, parameters=parameters)
            got = memory.get(full, DATA_ID, parameters=parameters)
            assert type(got) is (np.ndarray if type(expected) is np.memmap else type(expected)), full  # in memory
            assert _same(got, expected), (full, parameters, got, expected)
        with pytest.raises(FormatterError, match=r"Unknown read parameter\(s\) \['bbox'\] for a Spectrum"):
            memory.get("spectrum", DATA_ID, parameters={"bbox": (slice(0, 1), slice(0, 1))})
        with pytest.raises(FormatterError, match="needs parameters"):
            memory.get("camera.detector", DATA_ID)
