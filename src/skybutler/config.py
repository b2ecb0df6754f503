"""Repository configuration: models validated by pydantic, layered defaults ← butler.yaml ← arguments ← environment.

Environment variables override any key: ``SKYBUTLER_<SECTION>__<KEY>`` (two underscores between levels), with
YAML-parsed values, e.g. ``SKYBUTLER_REGISTRY__BUSY_TIMEOUT=5`` or ``SKYBUTLER_DATASTORE__CHECKSUM=none``.

The models are frozen standard-library dataclasses, and pydantic validates them (`load_config` builds a
``pydantic.TypeAdapter`` of `ButlerConfig` on first use): checks of types, literals, unknown keys and the
models' own rules all come from pydantic, while opening a repository whose configuration was validated before
needs no pydantic at all.  That matters to the command line, where every call is a new process and importing
pydantic and building its validators was 60-80 ms of a 0.4 s query (issue 8): while the per-user disk cache is
on (`skybutler._disk_cache`, which the command line turns on), a validated configuration is kept there, keyed by
the exact merged input (file, arguments and environment) and the code of this module, and reused.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from skybutler import _disk_cache
from skybutler.errors import ConfigError

if TYPE_CHECKING:
    from annotated_types import Gt, Le
    from pydantic import TypeAdapter

__all__ = [
    "DEFAULT_TEMPLATE",
    "ButlerConfig",
    "CacheConfig",
    "ConstraintsConfig",
    "DataModelConfig",
    "DatastoreConfig",
    "RegistryConfig",
    "config_data",
    "dump_config",
    "load_config",
    "merge",
    "parse_yaml",
]

#: The default file template: run, dataset type, then every required dimension (see docs/concepts.md).
DEFAULT_TEMPLATE = "{run}/{dataset_type}/{dimensions_path}/{dataset_type}_{dimensions_name}"

CONFIG_FILE = "butler.yaml"
MAX_BUSY_TIMEOUT = 86_400.0
"""The longest ``registry.busy_timeout``, in seconds."""
ENV_PREFIX = "SKYBUTLER_"

#: pydantic's settings for every model (read by pydantic from the class; a plain dict, so no import is needed).
_PYDANTIC_CONFIG: dict[str, Any] = {"extra": "forbid", "strict": False}


@dataclass(frozen=True, kw_only=True)
class RegistryConfig:
    """Where the registry database is."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _PYDANTIC_CONFIG

    db: str = "sqlite:///{root}/registry.sqlite3"
    """SQLAlchemy URL; ``{root}`` is the repository root.  PostgreSQL: ``postgresql://user@host/dbname``."""
    db_schema: str | None = None
    """PostgreSQL schema holding this repository's tables (several repositories can share a database).
    Written ``schema`` in ``butler.yaml`` (``db_schema`` is accepted too)."""
    busy_timeout: Annotated[float, Gt(0), Le(MAX_BUSY_TIMEOUT)] = 60.0
    """Seconds to wait for a lock held by another writer before failing (SQLite busy timeout, PostgreSQL
    ``lock_timeout``): more than 0, at most one day (both databases take it as a 32-bit count of
    milliseconds; ``.inf`` or ``.nan`` would overflow it)."""


@dataclass(frozen=True, kw_only=True)
class DataModelConfig:
    """What a dataset type's objects must hold; checked on put, before anything is written."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _PYDANTIC_CONFIG

    required_keys: list[str] = field(default_factory=list)
    """Metadata keys (FITS header keywords, HDF5 attributes, table meta) that must be present."""
    required_columns: list[str] = field(default_factory=list)
    """Table columns that must be present."""
    units: dict[str, str] = field(default_factory=dict)
    """Column → unit it must be in (astropy unit strings; ``deg`` equals ``degree``)."""


@dataclass(frozen=True, kw_only=True)
class CacheConfig:
    """A local cache of files read from remote storage (S3, HTTP, fsspec); never used for local files."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _PYDANTIC_CONFIG

    directory: str | None = None
    """Cache directory (shared safely by several processes); unset: no cache.  ``~`` is expanded."""
    max_bytes: Annotated[int, Gt(0)] = 10 << 30
    """Least recently used files are evicted beyond this total."""
    default: bool = True
    """Whether dataset types not named in ``dataset_types`` are cached."""
    dataset_types: dict[str, bool] = field(default_factory=dict)
    """Per dataset type (parent name): cache it or not.  Cut-outs of a cached type download the whole file,
    so turn the cache off for large images read by cut-outs."""


@dataclass(frozen=True, kw_only=True)
class ConstraintsConfig:
    """Which datasets a datastore takes: the per-dataset-type routing of a chained datastore's children.

    Empty lists impose nothing; ``reject`` wins over ``accept``.  Names are dataset type (parent) names or
    globs (``calexp*``); a component goes where its parent went.
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = _PYDANTIC_CONFIG

    accept: list[str] = field(default_factory=list)
    """Dataset type names or globs taken; empty: every type."""
    reject: list[str] = field(default_factory=list)
    """Dataset type names or globs refused, even when ``accept`` matches them."""
    storage_classes: list[str] = field(default_factory=list)
    """Storage classes taken; empty: every storage class."""


_CHILD_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

#: Keys a chained datastore's children inherit from the chain unless they set them (not ``root``, ``transport``,
#: ``constraints``: those are each child's own).
INHERITED = ("templates", "formatters", "prefer", "data_models", "checksum", "verify_on_read", "cache", "copy_objects")


@dataclass(frozen=True, kw_only=True)
class DatastoreConfig:
    """Where and how datasets are stored: files (the default), Python objects in memory, or a chain of these."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _PYDANTIC_CONFIG

    type: Literal["file", "memory", "chained"] = "file"
    """``file``: one artifact per dataset through a transport and a formatter.  ``memory``: the Python
    objects themselves, in this process (scratch data; gone when the process ends).  ``chained``: the
    ``children``, in order, each taking the datasets its ``constraints`` accept."""
    name: str = ""
    """Recorded in the registry with each artifact; required, and unique, for the children of a chain."""
    root: str = "{root}"
    """Root directory or URI of the files; ``{root}`` is the repository root."""
    templates: dict[str, str] = field(default_factory=lambda: {"default": DEFAULT_TEMPLATE})
    """File templates: ``default``, and overrides by dataset type name."""
    formatters: dict[str, str] = field(default_factory=dict)
    """Formatter short name by dataset type name or storage class name (dataset type wins)."""
    prefer: list[str] = field(default_factory=list)
    """Repository policy: formatters tried in order for a storage class with no entry in ``formatters``
    (``[hdf5]`` stores images, exposures and tables as HDF5 instead of the built-in defaults)."""
    data_models: dict[str, DataModelConfig] = field(default_factory=dict)
    """Checks on put by dataset type name: required metadata keys, required columns, column units."""
    checksum: Literal["xxh3_128", "blake2b", "none"] = "xxh3_128"
    """Checksum computed while writing each file; ``none`` skips it."""
    transport: dict[str, Any] = field(default_factory=dict)
    """Options of the datastore root's transport, e.g. ``{endpoint_url: http://127.0.0.1:9000}`` for S3.
    Never credentials: those come from the standard places (environment, profiles, instance roles)."""
    verify_on_read: bool = True
    """Check each artifact against its record when it is read, so a corrupt file raises `CorruptArtifactError`
    instead of yielding wrong data: size and checksum for whole-object reads, size only for partial reads
    (components, cut-outs, ``slices``, ``mmap``), which stay ranged.  ``false`` reads without any check."""
    cache: CacheConfig = field(default_factory=CacheConfig)
    """Local cache of remote reads."""
    copy_objects: bool = True
    """Memory datastores: keep a deep copy of each object put and hand a deep copy to each get, so no
    caller's change to an object alters the stored dataset.  ``false`` shares the objects (no copying cost;
    callers must not modify what they put or get)."""
    constraints: ConstraintsConfig = field(default_factory=ConstraintsConfig)
    """Which datasets this datastore takes (a put of another is refused; in a chain, routed elsewhere)."""
    children: list[DatastoreConfig] = field(default_factory=list)
    """Chained datastores: the children, in the order reads try them.  Each inherits the chain's own
    settings of the keys in `INHERITED` unless it sets them itself (see `effective_children`)."""
    put: Literal["all", "first"] = "all"
    """Chained datastores: a put writes to ``all`` the children that accept the dataset, or only to the
    ``first`` of them."""
    given: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)
    """The keys set explicitly (in a file, an argument or the environment), as opposed to defaulted: a chain
    passes only those on to its children, and a child's are what ``butler.yaml`` lists for it.  `load_config`
    records them from its input; built in code, they are the fields that differ from their defaults."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "given", frozenset(_non_defaults(self)))
        self._check_children()

    def effective_children(self) -> list[DatastoreConfig]:
        """The children with the chain's settings of `INHERITED` keys filled in where a child sets none.

        So ``datastore.data_models`` or ``SKYBUTLER_DATASTORE__CHECKSUM`` apply to every child of a chain, as
        they apply to a lone datastore, and a child can still override them.
        """
        inherited = {key: getattr(self, key) for key in INHERITED if key in self.given}
        out = []
        for child in self.children:
            update = {k: v for k, v in inherited.items() if k not in child.given}
            effective = dataclasses.replace(child, **update)
            object.__setattr__(effective, "given", child.given | update.keys())
            out.append(effective)
        return out

    def _check_children(self) -> None:
        if self.type != "chained":
            if self.children:
                raise ValueError(f"only a chained datastore has children; this one is of type {self.type!r}")
            return
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


@dataclass(frozen=True, kw_only=True)
class ButlerConfig:
    """The whole configuration of a repository."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _PYDANTIC_CONFIG

    registry: RegistryConfig = field(default_factory=RegistryConfig)
    datastore: DatastoreConfig = field(default_factory=DatastoreConfig)
    universe: str = "default"
    """Used when creating a repository: a universe plug-in name or a path to a universe YAML file."""


def _non_defaults(config: Any) -> list[str]:
    """The init fields of a dataclass instance whose values differ from their defaults."""
    out = []
    for f in dataclasses.fields(config):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            out.append(f.name)
            continue
        if getattr(config, f.name) != default:
            out.append(f.name)
    return out


_PARSED = _disk_cache.DiskCache("yaml", lambda: _disk_cache.source_digest(["yaml"]), max_files=200)
"""YAML texts parsed before (while the disk cache is on: the command line), by their exact text."""


def parse_yaml(text: str | bytes) -> Any:
    """Parse YAML safely, with libyaml when PyYAML has it (about ten times faster than its pure-Python parser).

    While the per-user disk cache is on (the command line), a text parsed before is read back from it: a
    command parses ``butler.yaml`` and the registry's dimension universe, and importing PyYAML and its first
    parse in a process cost 40-45 ms of CPU, a quarter of a query command's own time (issue 26 part 6).

    Raises
    ------
    yaml.YAMLError
        The text is not valid YAML.
    """
    key = None
    if _disk_cache.enabled():
        try:
            key = "s:" + text if isinstance(text, str) else "b:" + text.decode()  # a text and its bytes apart
        except UnicodeDecodeError:
            key = None
        cached = None if key is None else _PARSED.load(key)
        if cached is not None:
            return cached
    import yaml

    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if key is not None:
        _PARSED.save(key, data)
    return data


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
        import yaml

        try:
            node[path[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            node[path[-1]] = raw
    return out


def _code_key() -> str | None:
    """What a validated configuration depends on besides its input: this module and pydantic's version."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("pydantic")
    if spec is None or spec.origin is None:
        return None
    try:
        version = (Path(spec.origin).parent / "version.py").read_bytes()
    except OSError:
        return None
    return _disk_cache.source_digest([__name__], [version])


_VALIDATED = _disk_cache.DiskCache("config", _code_key, max_files=200)
"""Configurations validated before, by their merged input (while the disk cache is on: the command line)."""


@functools.cache
def _adapter() -> TypeAdapter[ButlerConfig]:
    """pydantic's validator of `ButlerConfig`, built on first use (importing pydantic is most of the cost)."""
    import annotated_types
    from pydantic import TypeAdapter

    # The constraints in the models' annotations (``Gt``) are evaluated only here, when pydantic reads the
    # annotations (they are strings, PEP 563), so opening a repository validated before imports neither.
    globals().setdefault("Gt", annotated_types.Gt)
    globals().setdefault("Le", annotated_types.Le)
    return TypeAdapter(ButlerConfig)


def _layer(layer: Mapping[str, Any]) -> Mapping[str, Any]:
    """A layer with ``registry.schema`` spelt as its field, ``db_schema`` (both spellings are accepted)."""
    registry = layer.get("registry")
    if not isinstance(registry, Mapping) or "schema" not in registry:
        return layer
    if "db_schema" in registry:
        raise ConfigError("registry: give 'schema' or 'db_schema', not both (they are the same setting).")
    renamed = {("db_schema" if k == "schema" else k): v for k, v in registry.items()}
    return {**layer, "registry": renamed}


def _record_given(config: ButlerConfig, data: Mapping[str, Any]) -> None:
    """Note which datastore keys the input set (see `DatastoreConfig.given`)."""
    section = data.get("datastore")
    if not isinstance(section, Mapping):
        return
    object.__setattr__(config.datastore, "given", frozenset(section))
    for child, raw in zip(config.datastore.children, section.get("children") or [], strict=False):
        if isinstance(raw, Mapping):
            object.__setattr__(child, "given", frozenset(raw))


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where ``loc`` (a pydantic error location ending in a key) points."""
    import typing

    kind: Any = ButlerConfig
    for part in loc[:-1]:
        if dataclasses.is_dataclass(kind) and isinstance(part, str):
            kind = typing.get_type_hints(kind).get(part)
        elif typing.get_origin(kind) in (list, dict):
            kind = typing.get_args(kind)[-1]
        else:
            return []
    if not dataclasses.is_dataclass(kind):
        return []
    return [f.name for f in dataclasses.fields(kind) if f.init]


def _problem(err: Mapping[str, Any]) -> str:
    loc = tuple(err["loc"])
    path = ".".join(str(p) for p in loc)
    if err["type"] == "unexpected_keyword_argument":
        known = _known_keys(loc)
        return f"{path}: unknown key" + (f" (known keys: {', '.join(known)})" if known else "")
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{path}: {message}" if path else message


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
        sections = ", ".join(f.name for f in dataclasses.fields(ButlerConfig))
        raise ConfigError(
            f"Invalid {source}: expected a mapping with keys among {sections}, got {type(repo_file).__name__}."
        )
    data: dict[str, Any] = {}
    for layer in (
        repo_file or {},
        overrides or {},
        _from_environment(os.environ if environ is None else environ),
    ):
        data = merge(data, _layer(layer))
    config = _defaults_but_where(data)
    if config is not None:  # the defaults, or the butler.yaml a create wrote of them: no need for pydantic
        _record_given(config, data)
        return config
    key = None
    if _disk_cache.enabled():
        try:
            key = json.dumps(data, sort_keys=True, default=repr)
        except (TypeError, ValueError):  # keys YAML made of other types than text: not worth keeping
            key = None
        cached = None if key is None else _VALIDATED.load(key)
        if isinstance(cached, ButlerConfig):
            return cached
    from pydantic import ValidationError

    try:
        config = _adapter().validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"Invalid {source}: {problems}.") from None
    _record_given(config, data)
    if key is not None:
        _VALIDATED.save(key, config)
    return config


def _defaults_but_where(data: Mapping[str, Any]) -> ButlerConfig | None:
    """The configuration of ``data`` without pydantic, when it is the defaults but for where the registry is.

    That is: nothing, or what ``butler.yaml`` holds for the defaults (`config_data`), either with the
    registry's ``db`` URL and ``db_schema`` given as text (a PostgreSQL repository made with the defaults).
    pydantic's validation of these gives the same (tested against it in tests/test_config.py): a repository
    made and opened so then costs no pydantic import or validator (60-100 ms on a process's first create or
    open).  None for anything else, which pydantic validates.
    """
    if not data:
        return ButlerConfig()
    default = _default_data()
    if any(key != "registry" and (key not in default or value != default[key]) for key, value in data.items()):
        return None
    registry = data.get("registry", default["registry"])
    if not isinstance(registry, Mapping) or not set(registry) <= {"db", "db_schema", "busy_timeout"}:
        return None
    db = registry.get("db", RegistryConfig.db)
    schema = registry.get("db_schema")
    timeout = registry.get("busy_timeout", RegistryConfig.busy_timeout)
    if type(db) is not str or not (schema is None or type(schema) is str):
        return None
    if type(timeout) not in (int, float) or timeout != RegistryConfig.busy_timeout:
        return None
    return ButlerConfig(registry=RegistryConfig(db=db, db_schema=schema))


@functools.cache
def _default_data() -> dict[str, Any]:
    return config_data(ButlerConfig())


def config_data(config: ButlerConfig) -> dict[str, Any]:
    """The configuration as plain data: what ``butler.yaml`` holds (see `dump_config`)."""
    data: dict[str, Any] = _plain(config)
    data["registry"] = {("schema" if k == "db_schema" else k): v for k, v in data["registry"].items()}
    data["datastore"]["children"] = [
        {"name": c.name, "type": c.type, **{k: v for k, v in _plain(c).items() if k in c.given}}
        for c in config.datastore.children
    ]
    return data


def _plain(value: Any) -> Any:
    """Dataclasses, lists and dicts as plain dicts and lists, leaving out fields that are None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.init and item is not None:
                out[f.name] = _plain(item)
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def dump_config(config: ButlerConfig) -> str:
    """Return the configuration as YAML (what ``butler.yaml`` holds).

    Everything is written out except what a chained datastore's children inherit: a child lists only its
    own settings, so a later change of the chain's (``config=`` or ``SKYBUTLER_DATASTORE__...``) reaches it.
    """
    import yaml

    # libyaml's emitter when PyYAML has it (as `parse_yaml` reads): a fifth of the pure-Python one's 1.2 ms
    return yaml.dump(config_data(config), Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)
