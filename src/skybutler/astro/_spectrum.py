"""`Spectrum`: 1-D flux against wavelength, with an optional mask, units and metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skybutler.astro._image import arrays_equal
from skybutler.astro._metadata import metadata_equal, plain_metadata
from skybutler.errors import FormatterError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Spectrum", "wavelength_selection"]


@dataclass(eq=False, slots=True)
class Spectrum:
    """A 1-D spectrum: ``flux[i]`` measured at ``wavelength[i]``.

    The ``wavelength_range`` read parameter, ``(low, high)`` inclusive, keeps only the samples in that range
    (`select` does the same in memory), so a line's neighbourhood can be read without the whole spectrum.

    Examples
    --------
    >>> import numpy as np
    >>> spec = Spectrum(np.ones(5), np.linspace(400.0, 800.0, 5), wavelength_unit="nm")
    >>> spec.select((500.0, 700.0)).wavelength
    array([500., 600., 700.])
    """

    flux: np.ndarray
    wavelength: np.ndarray
    mask: np.ndarray | None = None
    """Bad-sample flags (bool or integer bits), same length as ``flux``."""
    flux_unit: str | None = None
    """Unit of ``flux`` as an astropy unit string (``"erg / (Angstrom s cm2)"``)."""
    wavelength_unit: str | None = None
    """Unit of ``wavelength`` (``"nm"``)."""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("flux", "wavelength", "mask"):
            value = getattr(self, name)
            if value is None and name == "mask":
                continue
            if getattr(value, "ndim", None) != 1:
                raise FormatterError(f"Spectrum.{name} must be a 1-D NumPy array; got {type(value).__name__}.")
            if value.shape != self.flux.shape:
                raise FormatterError(f"Spectrum.{name} has {len(value)} samples, flux has {len(self.flux)}.")
        for name in ("flux_unit", "wavelength_unit"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise FormatterError(f"Spectrum.{name} must be a unit string or None.")
        self.metadata = plain_metadata(self.metadata, "Spectrum.metadata")

    def select(self, wavelength_range: Any) -> Spectrum:
        """Return the samples with ``low <= wavelength <= high`` (copies)."""
        keep = wavelength_selection(self.wavelength, wavelength_range)
        return Spectrum(
            self.flux[keep],
            self.wavelength[keep],
            None if self.mask is None else self.mask[keep],
            self.flux_unit,
            self.wavelength_unit,
            dict(self.metadata),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spectrum):
            return NotImplemented
        return (
            all(arrays_equal(getattr(self, n), getattr(other, n)) for n in ("flux", "wavelength", "mask"))
            and (self.flux_unit, self.wavelength_unit) == (other.flux_unit, other.wavelength_unit)
            and metadata_equal(self.metadata, other.metadata)
        )

    __hash__ = None  # type: ignore[assignment]


def wavelength_selection(wavelength: Any, wavelength_range: Any) -> Any:
    """Return the indices of the samples inside ``wavelength_range`` ``(low, high)``, both ends included.

    Raises
    ------
    FormatterError
        The range is not two numbers with ``low <= high``.
    """
    import numpy as np

    try:
        low, high = (float(v) for v in wavelength_range)
    except (TypeError, ValueError):
        raise FormatterError(f"wavelength_range must be (low, high); got {wavelength_range!r}.") from None
    if not low <= high:
        raise FormatterError(f"wavelength_range must have low <= high; got {wavelength_range!r}.")
    return np.flatnonzero((wavelength >= low) & (wavelength <= high))
