"""Camera descriptions: a calibration whose detectors can be read one at a time."""

from __future__ import annotations

import pytest

from skybutler.butler import Butler
from skybutler.datasets._camera import CameraDescription, DetectorDescription
from skybutler.errors import DatasetTypeError, FormatterError


def _camera(rotation: float = 0.0) -> CameraDescription:
    detectors = [DetectorDescription(i, f"S{i:02d}", center_mm=(i * 40.0, 0.0)) for i in range(3)]
    detectors.append(DetectorDescription(3, "S03", purpose="WAVEFRONT", rotation_deg=rotation))
    return CameraDescription("Cam", tuple(detectors), plate_scale_arcsec_per_mm=20.0)


def test_json_form_round_trips() -> None:
    camera = _camera(0.25)
    assert CameraDescription.from_dict(camera.to_dict()) == camera


def test_duplicate_detector_ids_are_refused() -> None:
    with pytest.raises(FormatterError, match="lists a detector id twice"):
        CameraDescription("Cam", (DetectorDescription(1, "A"), DetectorDescription(1, "B")))


def test_unknown_detector_names_the_known_ids() -> None:
    with pytest.raises(FormatterError, match=r"no detector 9; ids: \[0, 1, 2, 3\]"):
        _camera().detector(9)


def test_a_camera_that_changed_reads_back_as_it_was(butler: Butler) -> None:
    butler.register_dataset_type("camera", ["instrument"], "Camera", is_calibration=True)
    butler.collections.register("Cam/calib", "CALIBRATION")
    before, after = _camera(0.0), _camera(0.5)
    old = butler.put(before, "camera", instrument="Cam", run="Cam/camera/2024")
    new = butler.put(after, "camera", instrument="Cam", run="Cam/camera/2025")
    butler.collections.certify("Cam/calib", [old], (None, "2025-06-01"))
    butler.collections.certify("Cam/calib", [new], ("2025-06-01", None))
    cam, calib = {"instrument": "Cam"}, "Cam/calib"
    assert butler.get("camera", cam, collections=calib, at="2025-03-01") == before
    assert butler.get("camera", cam, collections=calib, at="2025-09-01") == after
    spring = butler.get("camera.detector", cam, collections=calib, at="2025-03-01", parameters={"detector": 3})
    autumn = butler.get("camera.detector", cam, collections=calib, at="2025-09-01", parameters={"detector": 3})
    assert (spring.rotation_deg, autumn.rotation_deg) == (0.0, 0.5)
    assert butler.get("camera.detectors", cam, collections=calib, at="2025-09-01") == after.detectors


def test_component_errors_are_specific(butler: Butler) -> None:
    butler.register_dataset_type("camera", ["instrument"], "Camera", is_calibration=True)
    butler.put(_camera(), "camera", instrument="Cam")
    with pytest.raises(DatasetTypeError, match="has no component 'lens'"):
        butler.get("camera.lens", instrument="Cam")
    with pytest.raises(FormatterError, match="needs parameters=\\{'detector': <id>\\}"):
        butler.get("camera.detector", instrument="Cam")
