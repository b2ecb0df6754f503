"""Planning: from a query, one task per dataset found, with every input resolved and every output predicted.

All registry work of a scale-out run happens here, once, in the butler's process: the query, the lookups of
extra inputs (calibrations included, at the observation's time), the artifacts' paths and checksums, the
outputs' deterministic dataset IDs (uuid5 of type, data ID and run, so a re-run predicts the same IDs and a
merge can tell what it registered already) and their final paths from the file templates.  The workers then
need storage only.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from skybutler.datasets import DatasetIdMode, DatasetRef, DatasetType, make_dataset_id
from skybutler.datastore import DEFAULT_EXPIRY, PendingArea
from skybutler.errors import ConfigError, DataIdError, DatasetTypeError, StorageError
from skybutler.workers._manifest import FORMAT, VERSION, Manifest

if TYPE_CHECKING:
    from skybutler.butler import DirectButler as Butler
    from skybutler.datastore import FileDatastore
    from skybutler.types import CollectionsLike

__all__ = ["plan_work"]

_SECRET_WORDS = ("secret", "password", "token", "credential", "access_key", "session")
_OBSERVATION_KEYS = ("exposure", "visit")


def _no_credentials(root: str, options: Mapping[str, Any]) -> None:
    """Refuse a datastore description that would put credentials into a manifest (copied to every worker)."""
    if urlsplit(root).password is not None:
        raise ConfigError(
            "The datastore root holds a password in its URI; a manifest is copied to every worker and never "
            "holds credentials. Give workers their credentials through the environment (AWS_* for S3)."
        )
    for name in options:
        if any(word in name.lower() for word in _SECRET_WORDS):
            raise ConfigError(
                f"The datastore's transport option {name!r} looks like a credential; a manifest never holds "
                "credentials. Give workers their credentials through the environment (AWS_* for S3)."
            )


def _datastore_header(store: FileDatastore) -> dict[str, Any]:
    data = dataclasses.asdict(store.config)  # plain data: the worker validates it again
    for name in ("given", "children", "put", "name"):
        data.pop(name, None)
    data["type"] = "file"
    data["root"] = store.transport.root
    _no_credentials(store.transport.root, data.get("transport") or {})
    return data


def _output_types(butler: Butler, outputs: Mapping[str, Iterable[str] | DatasetType]) -> list[DatasetType]:
    found = []
    for name, spec in outputs.items():
        if isinstance(spec, DatasetType):
            dt = butler.register_dataset_type(spec.name, spec.dimensions.names, spec.storage_class,
                                              is_calibration=spec.is_calibration)  # fmt: skip
        else:
            dt = butler.get_dataset_type(name)
            wanted = set(spec)
            if wanted and wanted not in (set(dt.dimensions.required), set(dt.dimensions.names)):
                raise DatasetTypeError(
                    f"Output {name!r} is registered with dimensions {sorted(dt.dimensions.required)}, not "
                    f"{sorted(wanted)}; give the registered ones (or a DatasetType to register a new type)."
                )
        if dt.is_calibration:
            raise DatasetTypeError(f"Output {name!r} is a calibration type; workers write RUN datasets only.")
        found.append(dt)
    return found


def plan_work(
    butler: Butler,
    dataset_type: str,
    where: str = "",
    *,
    outputs: Mapping[str, Iterable[str] | DatasetType],
    run: str,
    collections: CollectionsLike | None = None,
    inputs: Iterable[str] = (),
    bind: Mapping[str, Any] | None = None,
    expires_in: float = DEFAULT_EXPIRY,
) -> Manifest:
    """See `Butler.plan_work`."""
    started = time.time()
    store = butler.datastore.files("plan scale-out work")
    header_store = _datastore_header(store)
    out_types = _output_types(butler, outputs)
    refs = list(butler.query_datasets(dataset_type, collections=collections, where=where, bind=bind))
    if not refs:
        raise DataIdError(
            f"No {dataset_type} datasets match where={where!r} in {collections or butler.default_collections}: "
            "the plan would have no tasks."
        )
    types: list[dict[str, Any]] = []
    type_at: dict[str, int] = {}
    formats: list[list[str]] = []
    format_at: dict[tuple[str, str, str], int] = {}

    def type_index(dt: DatasetType) -> int:
        if dt.name not in type_at:
            type_at[dt.name] = len(types)
            types.append({"name": dt.name, "dimensions": list(dt.dimensions.required),
                          "storage_class": dt.storage_class, "is_calibration": dt.is_calibration})  # fmt: skip
        return type_at[dt.name]

    def format_index(formatter: str, storage_class: str, ext: str) -> int:
        key = (formatter, storage_class, ext)
        if key not in format_at:
            format_at[key] = len(formats)
            formats.append([formatter, storage_class, ext])
        return format_at[key]

    registry = butler.registry
    found_inputs = {ref.id: ref for ref in refs}
    extra_names = list(inputs)
    extras: list[dict[tuple[Any, ...], DatasetRef]] = [{} for _ in extra_names]
    extra_refs: list[list[DatasetRef]] = []
    extra_keys = [_extra_keys(butler, name) for name in extra_names]
    for ref in refs:
        row = []
        for n, name in enumerate(extra_names):
            lookup = {k: v for k, v in ref.data_id.items() if k in extra_keys[n]}
            key = tuple(sorted(lookup.items()))
            extra = extras[n].get(key)
            if extra is None:
                extra = butler.find_dataset(name, lookup, collections=collections)
                if extra is None:
                    raise DataIdError(
                        f"Input {name} for {ref.dataset_type.name} {ref.data_id} is not found in "
                        f"{collections or butler.default_collections}; certify or put it, or plan without it."
                    )
                extras[n][key] = extra
            found_inputs[extra.id] = extra
            row.append(extra)
        extra_refs.append(row)
    artifacts = registry.datasets.artifacts(list(found_inputs), datastore=store.name)
    missing = [i for i in found_inputs if i not in artifacts]
    if missing:
        ref = found_inputs[missing[0]]
        raise StorageError(
            f"{len(missing)} input(s) have no file in the datastore, e.g. {ref.dataset_type.name} {ref.data_id}; "
            "a worker reads files only."
        )
    out_formats = []
    for dt in out_types:
        store.validate(dt)
        name, formatter = store.formatter_for(dt)
        ext = formatter.extensions[0]
        out_formats.append((type_index(dt), format_index(name, dt.storage_class, ext), ext))

    def entry(r: DatasetRef) -> list[Any]:
        a = artifacts[r.id]
        return [type_index(r.dataset_type), r.id.hex, list(r.data_id.required_values), a.path,
                format_index(a.formatter, a.storage_class, ""), a.size, a.checksum]  # fmt: skip

    rows = []
    for index, (ref, extra_row) in enumerate(zip(refs, extra_refs, strict=True)):
        task_outputs = []
        for dt, (t, f, ext) in zip(out_types, out_formats, strict=True):
            coord = _output_data_id(ref, dt)
            out = DatasetRef(make_dataset_id(dt, coord, run, DatasetIdMode.DETERMINISTIC), dt, coord, run)
            task_outputs.append([t, out.id.hex, list(coord.required_values), store.artifact_path(dt, out, ext), f])
        rows.append([index, [entry(ref), *(entry(e) for e in extra_row)], task_outputs])
    plan_id = uuid.uuid4().hex
    area = PendingArea.create(store.transport, "plan", area_id=plan_id, expires_in=expires_in)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "plan_id": plan_id,
        "created": started,
        "run": run,
        "root": store.transport.root,
        "datastore": header_store,
        "area": area.area_id,
        "expires": started + expires_in,
        "query": {
            "dataset_type": dataset_type,
            "where": where,
            "bind": dict(bind or {}),
            "collections": _names(collections, butler.default_collections),
            "inputs": extra_names,
        },
        "outputs": {dt.name: t for dt, (t, _, _) in zip(out_types, out_formats, strict=True)},
        "types": types,
        "formats": formats,
        "provenance": {"inputs_of_outputs": "task", "run": run, "plan_id": plan_id},
    }
    return Manifest(header, rows)


def _names(collections: CollectionsLike | None, default: list[str]) -> list[str]:
    if collections is None:
        return list(default)
    return [collections] if isinstance(collections, str) else [str(c) for c in collections]


def _output_data_id(ref: DatasetRef, dt: DatasetType) -> Any:
    missing = set(dt.dimensions.required) - set(ref.data_id.keys())
    if missing:
        raise DataIdError(
            f"Output {dt.name} needs dimensions {sorted(missing)} that the input {ref.dataset_type.name} "
            f"{ref.data_id} does not have; a task's outputs take their data IDs from its input's."
        )
    return ref.data_id.subset(dt.dimensions)


def _extra_keys(butler: Butler, name: str) -> set[str]:
    """The keys of a task's data ID an extra input is looked up with: its dimensions, plus the observation
    (exposure or visit) for a calibration, whose time picks the valid one."""
    dt = butler.get_dataset_type(name)
    keys = set(dt.dimensions.required)
    if dt.is_calibration:
        keys |= set(_OBSERVATION_KEYS)
    return keys
