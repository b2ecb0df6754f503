"""JSON formatter for camera descriptions, with per-detector component reads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, BinaryIO

from skybutler.datasets._camera import CameraDescription
from skybutler.errors import FormatterError
from skybutler.formatters._formatter import Formatter

__all__ = ["CameraFormatter"]


class CameraFormatter(Formatter):
    """A `CameraDescription` as JSON.

    Components: ``detector`` (one `DetectorDescription`; give its id as the ``detector`` parameter) and
    ``detectors`` (all of them).
    """

    name = "camera_json"
    extensions = (".json",)
    storage_classes = ("Camera",)

    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Write the camera's JSON form."""
        stream.write(json.dumps(obj.to_dict(), separators=(",", ":")).encode())

    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Read the camera, or one of its components."""
        camera = CameraDescription.from_dict(json.loads(stream.read()))
        params = dict(parameters or {})
        if component is None:
            return camera
        if component == "detectors":
            return camera.detectors
        if component == "detector":
            if "detector" not in params:
                raise FormatterError("Reading camera.detector needs parameters={'detector': <id>}.")
            return camera.detector(int(params["detector"]))
        raise FormatterError(f"A camera has no component {component!r}; use 'detector' or 'detectors'.")
