"""The storage classes skybutler ships (formats for them are chosen in the datastore configuration)."""

from __future__ import annotations

from skybutler.datasets._storage_class import StorageClass

__all__ = ["Bytes", "NumpyArray", "Pickled", "StructuredDataDict", "StructuredDataList"]

StructuredDataDict = StorageClass("StructuredDataDict", "builtins:dict", doc="A dict of JSON/YAML-compatible values.")
StructuredDataList = StorageClass("StructuredDataList", "builtins:list", doc="A list of JSON/YAML-compatible values.")
NumpyArray = StorageClass(
    "NumpyArray",
    "numpy:ndarray",
    doc="A NumPy array of any shape and dtype.",
    converters={"builtins:list": "numpy:asarray"},
    parameters=("slices", "mmap"),  # a part of the array (a tuple of slices); memory-map a local .npy file
)
Bytes = StorageClass("Bytes", "builtins:bytes", doc="Raw bytes, stored as they are.")
Pickled = StorageClass("Pickled", "builtins:object", doc="Any picklable object (pickle formatter only).")
