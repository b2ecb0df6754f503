"""`Image` (a 2-D array with metadata) and `Exposure` (image, mask and variance planes, WCS, visit info).

NumPy and astropy are imported inside the functions that need them, so that declaring the storage
classes (and ``import skybutler``) stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skybutler.astro._box import BBoxLike, Box
from skybutler.astro._metadata import metadata_equal, plain_metadata
from skybutler.errors import FormatterError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Exposure", "Image", "arrays_equal", "exposure_from_image", "image_from_array", "wcs_equal", "wcs_header"]


def arrays_equal(a: Any, b: Any) -> bool:
    """Whether two arrays have the same shape, dtype (up to byte order) and values, NaN equal to NaN.

    Byte order is not compared because FITS stores big-endian: a little-endian array written to FITS reads
    back with the same values as a big-endian one.
    """
    import numpy as np

    if a is None or b is None:
        return a is b
    a, b = np.asanyarray(a), np.asanyarray(b)
    if a.shape != b.shape or a.dtype.newbyteorder("=") != b.dtype.newbyteorder("="):
        return False
    if a.dtype.names is not None:
        return all(arrays_equal(a[name], b[name]) for name in a.dtype.names)
    equal_nan = a.dtype.kind in "fc"
    return bool(np.array_equal(a, b, equal_nan=equal_nan))


def wcs_header(wcs: Any) -> Any:
    """The FITS header cards of an astropy WCS, with every float to 17 significant digits.

    ``WCS.to_header()`` keeps about 13 digits by default, so a WCS would change on each write; with
    wcslib's ``WCSHDO_P17`` flag the cards parse back to the very same doubles.  SIP distortion
    (``A_p_q``/``B_p_q``, ``-SIP`` in ``CTYPE``) is astropy's, not wcslib's: a flag of its own
    (``WCSHDO_SIP``) writes it, without which a TAN-SIP WCS would lose its distortion.
    """
    from astropy.wcs import wcs as astropy_wcs  # WCSHDO_SIP is not re-exported by astropy.wcs

    return wcs.to_header(relax=astropy_wcs.WCSHDO_all | astropy_wcs.WCSHDO_P17 | astropy_wcs.WCSHDO_SIP)


def wcs_equal(a: Any, b: Any) -> bool:
    """Whether two astropy WCS objects (or ``None``) describe the same transformation (same header cards)."""
    if a is None or b is None:
        return a is b
    return dict(wcs_header(a)) == dict(wcs_header(b))


def _check_plane(name: str, array: Any, shape: tuple[int, ...] | None = None) -> None:
    if getattr(array, "ndim", None) != 2:
        raise FormatterError(
            f"{name} must be a 2-D NumPy array; got {type(array).__name__} {getattr(array, 'shape', '')}."
        )
    if shape is not None and array.shape != shape:
        raise FormatterError(f"{name} has shape {array.shape}, but the image has shape {shape}.")


@dataclass(eq=False, slots=True)
class Image:
    """A 2-D pixel array with its metadata (a FITS primary HDU, or an HDF5 dataset with attributes).

    Examples
    --------
    >>> import numpy as np
    >>> image = Image(np.zeros((4, 6), dtype="f4"), {"EXPTIME": 30.0})
    >>> image.cutout(Box(x0=1, y0=2, width=3, height=2)).array.shape
    (2, 3)
    """

    array: np.ndarray
    """The pixels, indexed ``[y, x]``."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Keyword → scalar, in order (FITS header cards, HDF5 attributes)."""

    def __post_init__(self) -> None:
        _check_plane("Image.array", self.array)
        self.metadata = plain_metadata(self.metadata, "Image.metadata")

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)``."""
        return self.array.shape[0], self.array.shape[1]

    def cutout(self, bbox: BBoxLike) -> Image:
        """Return the pixels inside ``bbox`` (a copy) with the same metadata."""
        box = Box.resolve(bbox, self.shape)
        return Image(self.array[box.slices].copy(), dict(self.metadata))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        return arrays_equal(self.array, other.array) and metadata_equal(self.metadata, other.metadata)

    __hash__ = None  # type: ignore[assignment]


def image_from_array(array: Any) -> Image:
    """Converter: a plain 2-D array put as an ``Image`` becomes one with empty metadata."""
    return Image(array)


@dataclass(eq=False, slots=True)
class Exposure:
    """An observation's image with its mask and variance planes, metadata, WCS and visit information.

    ``mask`` (integer bit planes) and ``variance`` may be ``None``; when present they have the image's shape.
    Stored as a multi-extension FITS file (HDUs ``IMAGE``, ``MASK``, ``VARIANCE``, ``VISIT_INFO``) or an
    HDF5 file with one dataset per plane and groups for the rest, so each component reads on its own.

    Examples
    --------
    >>> import numpy as np
    >>> exposure = Exposure(np.ones((8, 8), "f4"), mask=np.zeros((8, 8), "i4"), visit_info={"exptime": 30.0})
    >>> exposure.cutout((slice(0, 2), slice(0, 4))).image.shape
    (2, 4)
    """

    image: np.ndarray
    """Pixel values, indexed ``[y, x]``."""
    mask: np.ndarray | None = None
    """Integer bit mask of the same shape."""
    variance: np.ndarray | None = None
    """Per-pixel variance of the same shape."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Keyword → scalar (the FITS primary header)."""
    wcs: Any = None
    """An ``astropy.wcs.WCS`` mapping pixels to the sky, or ``None``."""
    visit_info: dict[str, Any] = field(default_factory=dict)
    """Observation conditions (exposure time, airmass, boresight, ...): keyword → scalar."""

    def __post_init__(self) -> None:
        _check_plane("Exposure.image", self.image)
        if self.mask is not None:
            _check_plane("Exposure.mask", self.mask, self.image.shape)
            if self.mask.dtype.kind not in "iu":
                raise FormatterError(f"Exposure.mask must hold integers (bit planes); got dtype {self.mask.dtype}.")
        if self.variance is not None:
            _check_plane("Exposure.variance", self.variance, self.image.shape)
        self.metadata = plain_metadata(self.metadata, "Exposure.metadata")
        self.visit_info = plain_metadata(self.visit_info, "Exposure.visit_info")
        if self.wcs is not None and not callable(getattr(self.wcs, "to_header", None)):
            raise FormatterError(f"Exposure.wcs must be an astropy.wcs.WCS or None; got {type(self.wcs).__name__}.")

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)``."""
        return self.image.shape[0], self.image.shape[1]

    def cutout(self, bbox: BBoxLike) -> Exposure:
        """Return the part inside ``bbox``: planes sliced (copies), the WCS shifted to the cutout's origin."""
        box = Box.resolve(bbox, self.shape)
        return Exposure(
            self.image[box.slices].copy(),
            mask=None if self.mask is None else self.mask[box.slices].copy(),
            variance=None if self.variance is None else self.variance[box.slices].copy(),
            metadata=dict(self.metadata),
            wcs=slice_wcs(self.wcs, box),
            visit_info=dict(self.visit_info),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Exposure):
            return NotImplemented
        return (
            all(arrays_equal(getattr(self, p), getattr(other, p)) for p in ("image", "mask", "variance"))
            and metadata_equal(self.metadata, other.metadata)
            and metadata_equal(self.visit_info, other.visit_info)
            and wcs_equal(self.wcs, other.wcs)
        )

    __hash__ = None  # type: ignore[assignment]


def exposure_from_image(image: Image) -> Exposure:
    """Converter: an `Image` put as an ``Exposure`` becomes one with no mask, variance or WCS."""
    return Exposure(image.array, metadata=dict(image.metadata))


def slice_wcs(wcs: Any, box: Box) -> Any:
    """Return ``wcs`` for the pixels of ``box`` (reference pixel shifted), or ``None`` when there is none."""
    return None if wcs is None else wcs.slice(box.slices, numpy_order=True)


def exposure_components(exposure: Exposure) -> Mapping[str, Any]:
    """Component name → value, for formatters and tests."""
    return {
        "image": exposure.image,
        "mask": exposure.mask,
        "variance": exposure.variance,
        "metadata": exposure.metadata,
        "wcs": exposure.wcs,
        "visit_info": exposure.visit_info,
    }
