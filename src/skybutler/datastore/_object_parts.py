"""Components and read parameters of objects held in memory: what formatters do while parsing, done on objects.

A file formatter reads a component or a cut-out without reading the rest of the file; an in-memory datastore
holds the whole object, so it takes the part from the object with the same meaning: ``bbox`` cuts images
and exposures, ``wavelength_range`` selects spectra, ``columns``/``filters`` select table rows and columns,
``slices`` selects part of an array (``mmap`` means nothing in memory),
``schema``/``rowcount`` describe tables, an image's ``data`` is its array, and other components are the
object's attributes (or keys).  The
allowed names come from the storage class, so a typo is refused exactly as a file read refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from skybutler.errors import FormatterError

if TYPE_CHECKING:
    from skybutler.datasets import StorageClass

__all__ = ["component_of", "with_parameters"]

_TABLES = ("ArrowTable", "AstropyTable", "DataFrame", "NumpyStructuredArray")


def with_parameters(obj: Any, storage_class: StorageClass, parameters: Mapping[str, Any]) -> Any:
    """Return the part of ``obj`` that ``parameters`` select (a new object; ``obj`` is left as it is).

    Raises
    ------
    FormatterError
        A parameter the storage class does not take, or one this datastore cannot apply.
    """
    unknown = sorted(set(parameters) - set(storage_class.parameters))
    if unknown:
        raise FormatterError(
            f"Unknown read parameter(s) {unknown} for a {storage_class.name}; accepted: "
            f"{list(storage_class.parameters) or 'none'}."
        )
    if not parameters:
        return obj
    name = storage_class.name
    if name in ("Image", "Exposure") and "bbox" in parameters:
        return obj.cutout(parameters["bbox"])
    if name == "Spectrum" and "wavelength_range" in parameters:
        return obj.select(parameters["wavelength_range"])
    if name in _TABLES:
        from skybutler.astro import select

        return select(obj, parameters.get("columns"), parameters.get("filters"))
    if name == "Camera":
        return obj  # its one parameter, ``detector``, picks the ``detector`` component (see `component_of`)
    if name == "NumpyArray" and set(parameters) <= {"slices", "mmap"}:
        # ``mmap`` only says how a file is read: an array in memory is one already.  ``slices`` selects a copy,
        # as the .npy formatter returns one.
        slices = parameters.get("slices")
        return obj.copy() if slices is None else obj[slices].copy()
    raise FormatterError(f"The in-memory datastore cannot apply {sorted(parameters)} to a {name}.")


def component_of(
    obj: Any, storage_class: StorageClass, component: str, parameters: Mapping[str, Any] | None = None
) -> Any:
    """Return component ``component`` of ``obj``, an object of ``storage_class``.

    Raises
    ------
    FormatterError
        The storage class has no such component, or the object does not hold it.
    """
    if component not in storage_class.components:
        raise FormatterError(
            f"A {storage_class.name} has no component {component!r}; components: {sorted(storage_class.components)}."
        )
    if storage_class.name in _TABLES:
        from skybutler.astro import TableSchema

        return TableSchema.of(obj) if component == "schema" else len(obj)
    if storage_class.name == "Camera" and component == "detector":
        if not parameters or "detector" not in parameters:
            raise FormatterError("Reading camera.detector needs parameters={'detector': <id>}.")
        return obj.detector(int(parameters["detector"]))
    if storage_class.name == "Exposure":
        from skybutler.astro._image import exposure_components

        return exposure_components(obj)[component]
    if storage_class.name == "Image" and component == "data":
        return obj.array
    if isinstance(obj, Mapping) and component in obj:
        return obj[component]
    try:
        return getattr(obj, component)
    except AttributeError:
        raise FormatterError(
            f"This {storage_class.name} ({type(obj).__qualname__}) has no attribute {component!r} to give as "
            "its component."
        ) from None
