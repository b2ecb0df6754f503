"""Which of our formatters reads a file the reference butler wrote, by its storage class and formatter.

The reference records a formatter class path per file (or, in older and hand-trimmed exports, none).  For
the reference's own storage classes (`REFERENCE_STORAGE_CLASSES`) the file's layout is the reference's, not
ours: its images, exposures and table catalogs are read by ``afw_fits``, its Parquet tables by ``parquet``,
its JSON and YAML by ``json`` and ``yaml``; a storage class we cannot read is recorded as ``opaque``.
"""

from __future__ import annotations

from skybutler.datasets import storage_classes
from skybutler.errors import ConfigError

__all__ = ["reference_reader"]

#: Our storage class a reference name reads as → the formatter reading the reference's files of it.
_BY_FAMILY = {
    "Exposure": "afw_fits",
    "Image": "afw_fits",
    "AstropyTable": "afw_fits",
    "NumpyStructuredArray": "parquet",
    "NumpyArray": "npy",
    "StructuredDataDict": "json",
    "StructuredDataList": "json",
    "Integer": "json",
}

#: The reference's formatter classes (last dotted part) → ours, where the file says which one wrote it.
_BY_FORMATTER = {
    "ParquetFormatter": "parquet",
    "JsonFormatter": "json",
    "YamlFormatter": "yaml",
    "PackagesFormatter": "yaml",
    "NumpyFormatter": "npy",
}


def reference_reader(storage_class: str, formatter: str | None) -> str | None:
    """Our formatter for a file of the reference's ``storage_class``; ``None`` if that is not a reference name.

    Examples
    --------
    >>> reference_reader("ExposureF", None), reference_reader("SkyMap", "x.PickleFormatter")
    ('afw_fits', 'opaque')
    >>> reference_reader("ArrowAstropy", "lsst.daf.butler.formatters.parquet.ParquetFormatter")
    'parquet'
    """
    try:
        sc = storage_classes.get(storage_class)
    except ConfigError:
        return None
    if not sc.reference_type:
        return None
    if sc.opaque:
        return "opaque"
    if formatter is not None:
        known = _BY_FORMATTER.get(formatter.rpartition(".")[2])
        if known is not None:
            return known
        if formatter.endswith("PickleFormatter"):
            return "opaque"  # unpickling runs code: the bytes are kept, never loaded
    return _BY_FAMILY.get(sc.reads_as, "opaque")
