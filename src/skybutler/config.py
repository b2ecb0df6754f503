"""Repository configuration: pydantic models, layered defaults ← butler.yaml ← arguments ← environment.

Environment variables override any key: ``SKYBUTLER_<SECTION>__<KEY>`` (two underscores between levels), with
YAML-parsed values, e.g. ``SKYBUTLER_REGISTRY__BUSY_TIMEOUT=5`` or ``SKYBUTLER_DATASTORE__CHECKSUM=none``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from skybutler.errors import ConfigError

__all__ = [
    "DEFAULT_TEMPLATE",
    "ButlerConfig",
    "CacheConfig",
    "ConstraintsConfig",
    "DataModelConfig",
    "DatastoreConfig",
    "RegistryConfig",
    "dump_config",
    "load_config",
    "merge",
    "parse_yaml",
]

#: The default file template: run, dataset type, then every required dimension (see docs/concepts.md).
DEFAULT_TEMPLATE = "{run}/{dataset_type}/{dimensions_path}/{dataset_type}_{dimensions_name}"

CONFIG_FILE = "butler.yaml"
ENV_PREFIX = "SKYBUTLER_"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RegistryConfig(_Model):
    """Where the registry database is."""

    db: str = "sqlite:///{root}/registry.sqlite3"
    """SQLAlchemy URL; ``{root}`` is the repository root.  PostgreSQL: ``postgresql://user@host/dbname``."""
    db_schema: str | None = Field(default=None, alias="schema")
    """PostgreSQL schema holding this repository's tables (several repositories can share a database)."""
    busy_timeout: float = Field(default=60.0, gt=0)
    """Seconds to wait for a lock held by another writer before failing (SQLite)."""


class DataModelConfig(_Model):
    """What a dataset type's objects must hold; checked on put, before anything is written."""

    required_keys: list[str] = Field(default_factory=list)
    """Metadata keys (FITS header keywords, HDF5 attributes, table meta) that must be present."""
    required_columns: list[str] = Field(default_factory=list)
    """Table columns that must be present."""
    units: dict[str, str] = Field(default_factory=dict)
    """Column → unit it must be in (astropy unit strings; ``deg`` equals ``degree``)."""


class CacheConfig(_Model):
    """A local cache of files read from remote storage (S3, HTTP, fsspec); never used for local files."""

    directory: str | None = None
    """Cache directory (shared safely by several processes); unset: no cache.  ``~`` is expanded."""
    max_bytes: int = Field(default=10 << 30, gt=0)
    """Least recently used files are evicted beyond this total."""
    default: bool = True
    """Whether dataset types not named in ``dataset_types`` are cached."""
    dataset_types: dict[str, bool] = Field(default_factory=dict)
    """Per dataset type (parent name): cache it or not.  Cut-outs of a cached type download the whole file,
    so turn the cache off for large images read by cut-outs."""


class ConstraintsConfig(_Model):
    """Which datasets a datastore takes: the per-dataset-type routing of a chained datastore's children.

    Empty lists impose nothing; ``reject`` wins over ``accept``.  Names are dataset type (parent) names or
    globs (``calexp*``); a component goes where its parent went.
    """

    accept: list[str] = Field(default_factory=list)
    """Dataset type names or globs taken; empty: every type."""
    reject: list[str] = Field(default_factory=list)
    """Dataset type names or globs refused, even when ``accept`` matches them."""
    storage_classes: list[str] = Field(default_factory=list)
    """Storage classes taken; empty: every storage class."""


_CHILD_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

#: Keys a chained datastore's children inherit from the chain unless they set them (not ``root``, ``transport``,
#: ``constraints``: those are each child's own).
INHERITED = ("templates", "formatters", "prefer", "data_models", "checksum", "verify_on_read", "cache", "copy_objects")


class DatastoreConfig(_Model):
    """Where and how datasets are stored: files (the default), Python objects in memory, or a chain of these."""

    type: Literal["file", "memory", "chained"] = "file"
    """``file``: one artifact per dataset through a transport and a formatter.  ``memory``: the Python
    objects themselves, in this process (scratch data; gone when the process ends).  ``chained``: the
    ``children``, in order, each taking the datasets its ``constraints`` accept."""
    name: str = ""
    """Recorded in the registry with each artifact; required, and unique, for the children of a chain."""
    root: str = "{root}"
    """Root directory or URI of the files; ``{root}`` is the repository root."""
    templates: dict[str, str] = Field(default_factory=lambda: {"default": DEFAULT_TEMPLATE})
    """File templates: ``default``, and overrides by dataset type name."""
    formatters: dict[str, str] = Field(default_factory=dict)
    """Formatter short name by dataset type name or storage class name (dataset type wins)."""
    prefer: list[str] = Field(default_factory=list)
    """Repository policy: formatters tried in order for a storage class with no entry in ``formatters``
    (``[hdf5]`` stores images, exposures and tables as HDF5 instead of the built-in defaults)."""
    data_models: dict[str, DataModelConfig] = Field(default_factory=dict)
    """Checks on put by dataset type name: required metadata keys, required columns, column units."""
    checksum: Literal["xxh3_128", "blake2b", "none"] = "xxh3_128"
    """Checksum computed while writing each file; ``none`` skips it."""
    transport: dict[str, Any] = Field(default_factory=dict)
    """Options of the datastore root's transport, e.g. ``{endpoint_url: http://127.0.0.1:9000}`` for S3.
    Never credentials: those come from the standard places (environment, profiles, instance roles)."""
    verify_on_read: bool = False
    """Check every artifact's size and checksum when it is read (reads whole files: no ranged cut-outs)."""
    cache: CacheConfig = Field(default_factory=CacheConfig)
    """Local cache of remote reads."""
    copy_objects: bool = True
    """Memory datastores: keep a deep copy of each object put and hand a deep copy to each get, so no
    caller's change to an object alters the stored dataset.  ``false`` shares the objects (no copying cost;
    callers must not modify what they put or get)."""
    constraints: ConstraintsConfig = Field(default_factory=ConstraintsConfig)
    """Which datasets this datastore takes (a put of another is refused; in a chain, routed elsewhere)."""
    children: list[DatastoreConfig] = Field(default_factory=list)
    """Chained datastores: the children, in the order reads try them.  Each inherits the chain's own
    settings of the keys in `INHERITED` unless it sets them itself (see `effective_children`)."""
    put: Literal["all", "first"] = "all"
    """Chained datastores: a put writes to ``all`` the children that accept the dataset, or only to the
    ``first`` of them."""

    def effective_children(self) -> list[DatastoreConfig]:
        """The children with the chain's settings of `INHERITED` keys filled in where a child sets none.

        So ``datastore.data_models`` or ``SKYBUTLER_DATASTORE__CHECKSUM`` apply to every child of a chain, as
        they apply to a lone datastore, and a child can still override them.
        """
        given = {key: getattr(self, key) for key in INHERITED if key in self.model_fields_set}
        return [
            child.model_copy(update={k: v for k, v in given.items() if k not in child.model_fields_set})
            for child in self.children
        ]

    @model_validator(mode="after")
    def _check_children(self) -> DatastoreConfig:
        if self.type != "chained":
            if self.children:
                raise ValueError(f"only a chained datastore has children; this one is of type {self.type!r}")
            return self
        if not self.children:
            raise ValueError("a chained datastore needs at least one child in 'children'")
        names = [child.name for child in self.children]
        for child in self.children:
            if child.type == "chained":
                raise ValueError(f"child {child.name!r} is chained itself; list its children in this chain")
            if not _CHILD_NAME.match(child.name):
                raise ValueError(
                    f"each child needs a 'name' of 1-64 letters, digits, '_', '.' or '-' (got {child.name!r}); "
                    "it is recorded in the registry with every artifact the child holds"
                )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"child names must be unique; repeated: {duplicates}")
        roots = [c.root for c in self.children if c.type == "file"]
        shared = sorted({r for r in roots if roots.count(r) > 1})
        if shared:
            raise ValueError(f"file children need distinct roots; {shared} is used by more than one")
        return self


class ButlerConfig(_Model):
    """The whole configuration of a repository."""

    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    datastore: DatastoreConfig = Field(default_factory=DatastoreConfig)
    universe: str = "default"
    """Used when creating a repository: a universe plug-in name or a path to a universe YAML file."""


def parse_yaml(text: str | bytes) -> Any:
    """Parse YAML safely, with libyaml when PyYAML has it (about ten times faster than its pure-Python parser).

    Raises
    ------
    yaml.YAMLError
        The text is not valid YAML.
    """
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two nested mappings, ``over`` winning."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Environment variable {name} conflicts with another that sets {part!r} to a value.")
        try:
            node[path[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            node[path[-1]] = raw
    return out


def load_config(
    repo_file: object = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    source: str = "configuration",
) -> ButlerConfig:
    """Build the configuration from its layers and validate it.

    ``repo_file`` is whatever YAML made of ``butler.yaml`` (None for none): anything but a mapping is refused.

    Raises
    ------
    ConfigError
        A key is unknown or a value invalid; the message gives the key path and the layer's source.
    """
    if repo_file is not None and not isinstance(repo_file, Mapping):
        sections = ", ".join(ButlerConfig.model_fields)
        raise ConfigError(
            f"Invalid {source}: expected a mapping with keys among {sections}, got {type(repo_file).__name__}."
        )
    data: dict[str, Any] = {}
    for layer in (
        repo_file or {},
        overrides or {},
        _from_environment(os.environ if environ is None else environ),
    ):
        data = merge(data, layer)
    try:
        return ButlerConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"Invalid {source}: {problems}.") from None


def dump_config(config: ButlerConfig) -> str:
    """Return the configuration as YAML (what ``butler.yaml`` holds).

    Everything is written out except what a chained datastore's children inherit: a child lists only its
    own settings, so a later change of the chain's (``config=`` or ``SKYBUTLER_DATASTORE__...``) reaches it.
    """
    data = config.model_dump(by_alias=True, exclude_none=True)
    data["datastore"]["children"] = [
        {"name": c.name, "type": c.type, **c.model_dump(by_alias=True, exclude_none=True, exclude_unset=True)}
        for c in config.datastore.children
    ]
    return yaml.safe_dump(data, sort_keys=False)
