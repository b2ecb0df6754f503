"""A camera description: detector identities and focal-plane geometry, certified per instrument over time.

Plain frozen dataclasses (no astronomy library needed) that round-trip through JSON.  Because cameras change
(detectors replaced, re-surveyed), the description is a calibration dataset: certified into a CALIBRATION
collection with a validity range, and read back as it was at any observation time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from skybutler.datasets._storage_class import StorageClass
from skybutler.errors import FormatterError

__all__ = ["CAMERA", "DETECTOR", "CameraDescription", "DetectorDescription"]


@dataclass(frozen=True, slots=True)
class DetectorDescription:
    """One detector: identity and where it sits in the focal plane."""

    id: int
    name: str
    purpose: str = "SCIENCE"
    """SCIENCE, WAVEFRONT, GUIDER, ..."""
    shape: tuple[int, int] = (4096, 4096)
    """Pixels along (y, x)."""
    pixel_size_um: float = 10.0
    center_mm: tuple[float, float] = (0.0, 0.0)
    """Focal-plane position of the detector centre, in millimetres."""
    rotation_deg: float = 0.0
    """Rotation of the detector's x axis from the focal-plane x axis."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectorDescription:
        """Build from the JSON form."""
        values = dict(data)
        for name in ("shape", "center_mm"):
            if name in values:
                values[name] = tuple(values[name])
        try:
            return cls(**values)
        except TypeError as exc:
            raise FormatterError(f"Invalid detector description {dict(data)!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class CameraDescription:
    """A camera: its name and detectors (ids unique).

    Examples
    --------
    >>> cam = CameraDescription("Cam", (DetectorDescription(0, "S00"), DetectorDescription(1, "S01")))
    >>> cam.detector(1).name
    'S01'
    """

    name: str
    detectors: tuple[DetectorDescription, ...] = field(default=())
    plate_scale_arcsec_per_mm: float | None = None

    def __post_init__(self) -> None:
        ids = [d.id for d in self.detectors]
        if len(ids) != len(set(ids)):
            raise FormatterError(f"Camera {self.name!r} lists a detector id twice: {sorted(ids)}.")

    def detector(self, detector_id: int) -> DetectorDescription:
        """The detector with this id."""
        for d in self.detectors:
            if d.id == detector_id:
                return d
        raise FormatterError(
            f"Camera {self.name!r} has no detector {detector_id}; ids: {sorted(d.id for d in self.detectors)}."
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CameraDescription:
        """Build from the JSON form."""
        detectors = tuple(DetectorDescription.from_dict(d) for d in data.get("detectors", ()))
        return cls(str(data["name"]), detectors, data.get("plate_scale_arcsec_per_mm"))


#: The storage class of camera descriptions; components read one detector or all of them.
CAMERA = StorageClass(
    "Camera",
    "skybutler.datasets._camera:CameraDescription",
    doc="A camera description: detectors and focal-plane geometry.",
    components={"detector": "Detector", "detectors": "StructuredDataList"},
    parameters=("detector",),
)
DETECTOR = StorageClass(
    "Detector", "skybutler.datasets._camera:DetectorDescription", doc="One detector of a camera description."
)
