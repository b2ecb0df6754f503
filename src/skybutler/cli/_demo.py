"""``skybutler demo``: a guided first run on the embedded default (SQLite + local files)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["run_demo", "run_sky_demo"]


def run_demo(root: str, say: Callable[[str], None]) -> None:
    """Create a repository, add a sample instrument, put and get datasets of two storage classes.

    The images are FITS files (storage class ``Image``, whose default format is FITS): the first command of
    the README shows a FITS round trip on the base install.
    """
    import numpy as np

    from skybutler.butler import DirectButler
    from skybutler.testing.sample import populate_sample

    if not root.strip():  # Path("") is the current folder: a demo repository among whatever it holds
        from skybutler.errors import ConfigError

        raise ConfigError("The demo's root is empty; give a folder for the new repository.")
    path = Path(root)
    if (path / "butler.yaml").exists():
        say(f"Using the existing repository at {path} (run 'demo' on a new path for a fresh one).")
    else:
        DirectButler.create(path)
        say(f"Created a repository at {path}: SQLite registry {path / 'registry.sqlite3'}, files under {path}.")
    with DirectButler(path, run="demo/run1") as butler:
        if not butler.registry.fetch_dimension_records("instrument", instrument="Cam"):
            populate_sample(butler, n_visits=4, n_detectors=2)
            say("Inserted instrument 'Cam' with filters Cam-r/Cam-g (bands r/g), 2 detectors and 4 visits.")
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        butler.register_dataset_type("calexp", ["instrument", "visit", "detector"], "Image")
        say("Registered dataset types 'meta' (StructuredDataDict, JSON) and 'calexp' (Image, FITS).")
        for visit in range(4):
            for detector in range(2):
                data_id = {"instrument": "Cam", "visit": visit, "detector": detector}
                if butler.exists("meta", data_id):
                    continue
                butler.put({"visit": visit, "detector": detector, "seeing": 0.7 + 0.01 * visit}, "meta", data_id)
                butler.put(np.full((64, 64), visit + detector / 10), "calexp", data_id)
        say("Put 8 'meta' dicts and 8 64x64 'calexp' images into run 'demo/run1'.")
        meta = butler.get("meta", instrument="Cam", visit=3, detector=1)
        image = butler.get("calexp", {"instrument": "Cam", "visit.name": "v3", "detector.full_name": "S01"}).array
        expanded = butler.registry.expand_data_id(instrument="Cam", visit=3, detector=1)
        say(f"Got meta {meta} back.")
        say(
            f"Got image {image.shape} {image.dtype.name}, mean {float(image.mean()):.2f}, "
            "read back from FITS, found by visit name and detector name."
        )
        say(f"The data ID expands to {dict(expanded)} (band from the visit's physical_filter).")
        say(f"Its file: {butler.get_uri('calexp', expanded)}")


def run_sky_demo(root: str, say: Callable[[str], None]) -> None:
    """Create the small sky of docs/spatial.md (`skybutler.testing.spatial.fill_spatial_sample`) with calexps."""
    from skybutler.butler import Butler, DirectButler
    from skybutler.errors import ConflictError
    from skybutler.testing.spatial import fill_spatial_sample

    path = Path(root)
    if (path / "butler.yaml").exists():
        raise ConflictError(f"{path} already holds a repository; give a new folder for the sky demo.")
    Butler.create(path)
    with DirectButler(path, run="sky/run") as butler:
        fill_spatial_sample(butler.registry)
        butler.register_dataset_type("calexp", ["instrument", "visit", "detector"], "StructuredDataDict")
        for visit in range(3):
            for detector in range(4):
                butler.put({"visit": visit, "detector": detector}, "calexp", instrument="Cam", visit=visit,
                           detector=detector)  # fmt: skip
    say(f"Created a sky repository at {path}: instrument 'Cam' with 3 visits of 4 detectors near (150, +2),")
    say("sky map 'sky' with tract 0 of 3 x 3 patches, every region in the skypix index, and 12 'calexp'")
    say("datasets in run 'sky/run'.")
