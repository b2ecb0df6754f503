"""Storage classes: names for in-memory Python types, with their components, parameters and converters."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skybutler.errors import FormatterError
from skybutler.plugins import PluginRegistry

__all__ = ["StorageClass", "storage_classes"]


def _resolve(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    value: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        value = getattr(value, part)
    return value


@dataclass(frozen=True, slots=True)
class StorageClass:
    """The name of an in-memory Python type, as datasets are declared with it.

    The Python type is a ``"module:Qualname"`` string imported only when first needed, so declaring
    ``NumpyArray`` does not import NumPy.

    Examples
    --------
    >>> storage_classes.get("StructuredDataDict").is_instance({"a": 1})
    True
    """

    name: str
    pytype: str
    """``"module:Qualname"`` of the Python type (``"builtins:dict"``)."""
    doc: str = ""
    components: Mapping[str, str] = field(default_factory=dict)
    """Component name → storage class name of that component."""
    parameters: tuple[str, ...] = ()
    """Read parameters the formatters of this storage class accept."""
    converters: Mapping[str, str] = field(default_factory=dict)
    """``"module:Qualname"`` of another Python type → ``"module:function"`` turning it into this one."""
    reads_as: str = ""
    """For a reference butler name (``ExposureF``): our storage class whose type and readers it shares."""
    reference_type: str = ""
    """For a reference butler name: the reference's Python type (``lsst.afw.image.ExposureF``)."""

    @property
    def opaque(self) -> bool:
        """True for a reference storage class we cannot read: its datasets' bytes are kept as they are."""
        return bool(self.reference_type) and not self.reads_as

    @property
    def family(self) -> str:
        """Our storage class this one is: itself, the one a reference name `reads_as`, or ``Bytes`` if opaque."""
        return self.reads_as or ("Bytes" if self.reference_type else self.name)

    def python_type(self) -> type:
        """Import and return the Python type."""
        found = _TYPES.get(self.pytype)
        if found is None:
            found = _resolve(self.pytype)
            if not isinstance(found, type):
                raise FormatterError(f"Storage class {self.name!r}: {self.pytype!r} is not a type.")
            _TYPES[self.pytype] = found
        return found

    def is_instance(self, obj: Any) -> bool:
        """Return whether ``obj`` is of this storage class's Python type."""
        return isinstance(obj, self.python_type())

    def coerce(self, obj: Any) -> Any:
        """Return ``obj`` as this storage class's type, converting it when a converter is declared.

        Raises
        ------
        FormatterError
            ``obj`` is of another type and no converter applies.
        """
        if self.is_instance(obj):
            return obj
        for source, converter in self.converters.items():
            # An object's class is imported, so a source type whose module is not cannot match: skipping it
            # saves importing heavy libraries (or failing on missing ones) just for the isinstance check.
            if source.partition(":")[0] in sys.modules and isinstance(obj, _resolve(source)):
                return _resolve(converter)(obj)
        raise FormatterError(
            f"Storage class {self.name!r} holds {self.pytype.replace(':', '.')} objects; got "
            f"{type(obj).__module__}.{type(obj).__qualname__}. Put an object of that type, or register "
            "the dataset type with a storage class that matches."
        )


_TYPES: dict[str, type] = {}

#: Storage classes of astronomy types and tables (declared in ``_astro_storage_classes``).
ASTRO_STORAGE_CLASSES = (
    "ArrowTable", "AstropyTable", "DataFrame", "Exposure", "Image", "Integer", "Metadata",
    "NumpyStructuredArray", "Spectrum", "TableSchema", "Wcs",
)  # fmt: skip


def _reference_names() -> tuple[str, ...]:
    from skybutler.datasets._reference_storage_classes import REFERENCE_STORAGE_CLASSES

    return tuple(REFERENCE_STORAGE_CLASSES)


#: Every known storage class by name: the built-ins, then the ``skybutler.storage_classes`` entry points.
storage_classes: PluginRegistry[StorageClass] = PluginRegistry(
    "storage_classes",
    {
        **{
            name: f"skybutler.datasets._builtin_storage_classes:{name}"
            for name in ("StructuredDataDict", "StructuredDataList", "NumpyArray", "Bytes", "Pickled")
        },
        "LogRecords": "skybutler.datasets._log_records:LOG_RECORDS",
        "Camera": "skybutler.datasets._camera:CAMERA",
        "Detector": "skybutler.datasets._camera:DETECTOR",
        **{name: f"skybutler.datasets._astro_storage_classes:{name}" for name in ASTRO_STORAGE_CLASSES},
        **{name: f"skybutler.datasets._reference_storage_classes:{name}" for name in _reference_names()},
    },
)
