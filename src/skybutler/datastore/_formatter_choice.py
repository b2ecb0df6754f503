"""Which formatter writes a dataset type: the registered format, then the configuration, then the defaults.

Reading never asks this: each artifact records the formatter that wrote it.  Only writes (put, ingest without
an explicit formatter, imports of files whose formatter is unknown here) choose, in this order:

1. the format registered with the dataset type (``register_dataset_type(..., format="hdf5")``), stored in the
   registry so every process writing to the repository makes the same choice;
2. ``datastore.formatters.<dataset type>`` in ``butler.yaml``;
3. ``datastore.formatters.<storage class>``;
4. the first formatter of ``datastore.prefer`` that writes the storage class (repository policy);
5. the built-in default of the storage class (`DEFAULT_FORMATTERS`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from skybutler.datasets import storage_classes
from skybutler.errors import ConfigError, DatasetTypeError, PluginNotFoundError
from skybutler.formatters import DEFAULT_FORMATTERS, Formatter, formatters

if TYPE_CHECKING:
    from skybutler.config import DatastoreConfig
    from skybutler.datasets import ArtifactInfo, DatasetType, StorageClass

__all__ = ["FormatterChoice"]


class FormatterChoice:
    """Formatter instances (one per name, shared) and the choice of formatter per dataset type (cached)."""

    def __init__(self, config: DatastoreConfig) -> None:
        self.config = config
        self._instances: dict[str, Formatter] = {}
        self._chosen: dict[tuple[str, str | None], tuple[str, Formatter]] = {}

    def instance(self, name: str) -> Formatter:
        """The (shared) instance of the formatter named ``name``."""
        found = self._instances.get(name)
        if found is None:
            found = formatters.get(name)()
            self._instances[name] = found
        return found

    def reader(self, artifact: ArtifactInfo, storage_class: StorageClass | None, whole: bool, uri: str) -> Formatter:
        """The formatter reading ``artifact``: the one recorded for it, or ``bytes`` for a raw read (a whole
        read as ``Bytes``, which any file allows); an opaque file refuses other reads (`Formatter.check_readable`).
        """
        raw = whole and storage_class is not None and storage_class.name == "Bytes"
        formatter = self.instance("bytes" if raw else artifact.formatter)
        formatter.check_readable(artifact.storage_class, uri, raw=raw)
        return formatter

    def for_type(self, dataset_type: DatasetType) -> tuple[str, Formatter]:
        """The name and instance of the formatter that writes ``dataset_type`` (the order is in the module doc).

        Raises
        ------
        DatasetTypeError
            The format registered with the dataset type is unknown here, cannot write its storage class, or is
            unsafe (pickle).
        ConfigError
            No formatter is configured for the storage class, the configured one cannot write it, or it is
            unsafe (pickle) and was not named explicitly.
        """
        key = (dataset_type.name, dataset_type.format)
        cached = self._chosen.get(key)
        if cached is not None:
            return cached
        if dataset_type.format is not None:
            name, formatter = dataset_type.format, self._registered_format(dataset_type, dataset_type.format)
        else:
            name, formatter = self._configured(dataset_type)
        # told the storage class, which a format cannot always tell from the object (a dict in HDF5)
        chosen = name, formatter.for_storage_class(dataset_type.storage_class)
        self._chosen[key] = chosen
        return chosen

    def _configured(self, dataset_type: DatasetType) -> tuple[str, Formatter]:
        configured = self.config.formatters
        sc = dataset_type.storage_class
        family = _family(sc)  # a reference butler name (ExposureF) is written as ours (Exposure)
        name = (
            configured.get(dataset_type.parent_name)
            or configured.get(sc)
            or self._preferred(sc)
            or DEFAULT_FORMATTERS.get(sc)
            or DEFAULT_FORMATTERS.get(family)
        )
        if name is None:
            raise ConfigError(
                f"No formatter for storage class {sc!r} (dataset type {dataset_type.name!r}); set "
                f"datastore.formatters.{sc} in butler.yaml to one of {formatters.names()}."
            )
        formatter = self.instance(name)
        if not formatter.supports(sc) and not formatter.supports(family):
            raise ConfigError(
                f"Formatter {name!r} cannot write storage class {sc!r} (it writes {formatter.storage_classes})."
            )
        explicit = configured.get(dataset_type.parent_name) == name or configured.get(sc) == name
        if formatter.unsafe and not explicit:
            raise ConfigError(
                f"Formatter {name!r} runs code when reading; name it explicitly in datastore.formatters "
                f"for {dataset_type.name!r} or {sc!r} to use it."
            )
        return name, formatter

    def _registered_format(self, dataset_type: DatasetType, name: str) -> Formatter:
        """The formatter of a format chosen with the dataset type, checked against its storage class.

        Pickle is refused here even though it is named explicitly: anyone who may register a dataset type
        could otherwise make every later reader of it run code; only the repository configuration, which its
        administrators control, may choose it.
        """
        sc = dataset_type.storage_class
        try:
            formatter = self.instance(name)
        except PluginNotFoundError:
            raise DatasetTypeError(
                f"Unknown format {name!r} for dataset type {dataset_type.name!r}; formats that write {sc}: "
                f"{', '.join(self.formats_for(sc)) or 'none installed'}."
            ) from None
        if not formatter.supports(sc) and not formatter.supports(_family(sc)):
            raise DatasetTypeError(
                f"Format {name!r} cannot write storage class {sc!r} (dataset type {dataset_type.name!r}); "
                f"formats that write {sc}: {', '.join(self.formats_for(sc)) or 'none installed'}."
            )
        if formatter.unsafe:
            raise DatasetTypeError(
                f"Format {name!r} runs code when reading, so it cannot be chosen with a dataset type; a "
                f"repository administrator may name it in datastore.formatters.{dataset_type.name} in butler.yaml."
            )
        return formatter

    def _preferred(self, storage_class: str) -> str | None:
        """The first formatter of the repository policy (``datastore.prefer``) that writes ``storage_class``."""
        for name in self.config.prefer:
            formatter = self.instance(name)
            if formatter.unsafe:
                raise ConfigError(f"Formatter {name!r} runs code when reading; it cannot be in datastore.prefer.")
            if formatter.supports(storage_class) or formatter.supports(_family(storage_class)):
                return name
        return None

    def formats_for(self, storage_class: str) -> list[str]:
        """Short names of the installed, safe formatters that write ``storage_class``, in registration order.

        A plug-in whose optional library is missing is left out (it cannot write anything here).
        """
        out = []
        for name in formatters.names():
            try:
                formatter = self.instance(name)
            except ConfigError:
                continue
            if not formatter.unsafe and (
                formatter.supports(storage_class) or formatter.supports(_family(storage_class))
            ):
                out.append(name)
        return out


def _family(storage_class: str) -> str:
    """The storage class of ours that ``storage_class`` is written as (itself, unless a reference name)."""
    try:
        return storage_classes.get(storage_class).family
    except ConfigError:
        return storage_class
