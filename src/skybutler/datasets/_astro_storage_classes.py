"""Storage classes of astronomy types: images, exposures, spectra, metadata, WCS and four kinds of table.

Types, converters and component types are named by string, so nothing here imports NumPy, astropy,
pyarrow or pandas; the in-memory classes of our own live in `skybutler.astro`.
The four table storage classes convert into one another on read (``get(..., storage_class="DataFrame")``)
and on put.
"""

from __future__ import annotations

from skybutler.datasets._storage_class import StorageClass

__all__ = [
    "ArrowTable",
    "AstropyTable",
    "DataFrame",
    "Exposure",
    "Image",
    "Integer",
    "Metadata",
    "NumpyStructuredArray",
    "Spectrum",
    "TableSchema",
    "Wcs",
]

_CONVERT = "skybutler.astro._conversions"
_TABLE_TYPES = {
    "AstropyTable": ("astropy.table:Table", f"{_CONVERT}:to_astropy"),
    "ArrowTable": ("pyarrow:Table", f"{_CONVERT}:to_arrow"),
    "DataFrame": ("pandas:DataFrame", f"{_CONVERT}:to_pandas"),
    "NumpyStructuredArray": ("numpy:ndarray", f"{_CONVERT}:to_numpy"),
}
_TABLE_DOCS = {
    "AstropyTable": "An astropy Table (units, descriptions and meta kept by every format).",
    "ArrowTable": "A pyarrow Table (Parquet's native type; units in field metadata).",
    "DataFrame": "A pandas DataFrame (units, if any, in attrs['units']; the index is kept by Parquet).",
    "NumpyStructuredArray": "A 1-D NumPy array with named fields.",
}


def _table(name: str) -> StorageClass:
    pytype, converter = _TABLE_TYPES[name]
    return StorageClass(
        name,
        pytype,
        doc=_TABLE_DOCS[name],
        components={"schema": "TableSchema", "rowcount": "Integer"},
        parameters=("columns", "filters"),
        converters={source: converter for other, (source, _) in _TABLE_TYPES.items() if other != name},
    )


AstropyTable = _table("AstropyTable")
ArrowTable = _table("ArrowTable")
DataFrame = _table("DataFrame")
NumpyStructuredArray = _table("NumpyStructuredArray")

TableSchema = StorageClass(
    "TableSchema", "skybutler.astro:TableSchema", doc="Column names, dtypes, units of a table (no rows)."
)
Integer = StorageClass("Integer", "builtins:int", doc="A Python int (the rowcount of a table).")
Metadata = StorageClass(
    "Metadata",
    "builtins:dict",
    doc="An ordered mapping of keyword to scalar: a FITS header's cards, an HDF5 object's attributes.",
    converters={"astropy.io.fits:Header": "skybutler.astro._metadata:header_to_metadata"},
)
Wcs = StorageClass("Wcs", "astropy.wcs:WCS", doc="An astropy WCS (pixel ↔ sky).")
Image = StorageClass(
    "Image",
    "skybutler.astro:Image",
    doc="A 2-D array with metadata; a plain 2-D NumPy array is accepted on put.",
    components={"data": "NumpyArray", "metadata": "Metadata"},
    parameters=("bbox",),
    converters={"numpy:ndarray": "skybutler.astro._image:image_from_array"},
)
Exposure = StorageClass(
    "Exposure",
    "skybutler.astro:Exposure",
    doc="Image, mask and variance planes with metadata, a WCS and visit information.",
    components={
        "image": "NumpyArray",
        "mask": "NumpyArray",
        "variance": "NumpyArray",
        "metadata": "Metadata",
        "wcs": "Wcs",
        "visit_info": "Metadata",
    },
    parameters=("bbox",),
    converters={"skybutler.astro._image:Image": "skybutler.astro._image:exposure_from_image"},
)
Spectrum = StorageClass(
    "Spectrum",
    "skybutler.astro:Spectrum",
    doc="1-D flux against wavelength, with an optional mask, units and metadata.",
    components={"flux": "NumpyArray", "wavelength": "NumpyArray", "mask": "NumpyArray", "metadata": "Metadata"},
    parameters=("wavelength_range",),
)
