"""Formatters turn objects into file bytes and back, one module per format."""

from __future__ import annotations

from skybutler.formatters._formatter import Formatter
from skybutler.plugins import PluginRegistry

__all__ = ["DEFAULT_FORMATTERS", "Formatter", "formatters"]

#: Formatter classes by short name: the built-ins, then ``skybutler.formatters`` entry points.
formatters: PluginRegistry[type[Formatter]] = PluginRegistry(
    "formatters",
    {
        "json": "skybutler.formatters._json:JsonFormatter",
        "yaml": "skybutler.formatters._yaml:YamlFormatter",
        "npy": "skybutler.formatters._numpy:NumpyFormatter",
        "pickle": "skybutler.formatters._pickle:PickleFormatter",
        "bytes": "skybutler.formatters._bytes:BytesFormatter",
        "opaque": "skybutler.formatters._bytes:OpaqueFormatter",
        "camera_json": "skybutler.formatters._camera:CameraFormatter",
        "fits": "skybutler.formatters._fits:FitsFormatter",
        "afw_fits": "skybutler.formatters._afw_fits:AfwFitsFormatter",
        "hdf5": "skybutler.formatters._hdf5:Hdf5Formatter",
        "parquet": "skybutler.formatters._parquet:ParquetFormatter",
        "jsonl": "skybutler.formatters._jsonl:JsonLinesFormatter",
    },
)

#: The formatter used for each built-in storage class unless the configuration says otherwise
#: (``Pickled`` has none: pickle runs code on read, so it must be named in the configuration).
DEFAULT_FORMATTERS: dict[str, str] = {
    "StructuredDataDict": "json",
    "StructuredDataList": "json",
    "NumpyArray": "npy",
    "Bytes": "bytes",
    "Camera": "camera_json",
    "Image": "fits",
    "Exposure": "fits",
    "Spectrum": "fits",
    "Wcs": "fits",
    "Metadata": "yaml",
    "AstropyTable": "fits",
    "ArrowTable": "parquet",
    "DataFrame": "parquet",
    "NumpyStructuredArray": "parquet",
    "LogRecords": "jsonl",
}
