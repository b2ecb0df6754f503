"""Creating repositories: butler.yaml, the registry schema and the datastore root."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skybutler.config import CONFIG_FILE, ButlerConfig, dump_config, load_config, parse_yaml
from skybutler.dimensions import DimensionUniverse
from skybutler.errors import ArtifactNotFoundError, ConfigError, ConflictError, StorageError
from skybutler.registry import create_registry
from skybutler.transports import open_transport

if TYPE_CHECKING:
    from collections.abc import Mapping

    from skybutler.transports import Transport
    from skybutler.types import UriLike

__all__ = ["create_repository", "migrate_repository", "read_config", "root_text"]


def root_text(root: UriLike) -> str:
    """A repository root as text: URIs as given, local paths made absolute."""
    text = str(root)
    return text if "://" in text else str(Path(text).absolute())


def create_repository(
    root: UriLike,
    *,
    registry: str | None = None,
    schema: str | None = None,
    universe: DimensionUniverse | str | None = None,
    config: Mapping[str, Any] | None = None,
    datastore: str | None = None,
) -> str:
    """Create a new, empty repository and return its root (see `Butler.create`)."""
    if not str(root).strip():  # "" would be the current folder, whatever it holds: say so instead
        raise ConfigError("The repository root is empty; give the folder or URI to create it at ('.' for here).")
    root_text_ = root_text(root)
    transport = open_transport(root_text_)
    if transport.exists(CONFIG_FILE):
        raise ConflictError(f"A repository already exists at {root_text_}; open it with Butler().")
    if transport.is_local:
        _refuse_nesting(transport.local_path(""))
    layers: dict[str, Any] = dict(config or {})
    if registry is not None or schema is not None:
        layers.setdefault("registry", {})
        layers["registry"] = {**layers["registry"]}
        if registry is not None:
            layers["registry"]["db"] = registry
        if schema is not None:
            layers["registry"]["schema"] = schema
    if datastore is not None:
        layers["datastore"] = {**layers.get("datastore", {}), "root": datastore}
    if isinstance(universe, str):
        layers["universe"] = universe
    cfg = load_config({}, layers, source="repository configuration")
    universe_obj = universe if isinstance(universe, DimensionUniverse) else DimensionUniverse.load(cfg.universe)
    if not transport.is_local and "{root}" in cfg.registry.db:
        raise ConfigError(
            f"A repository at {root_text_} cannot hold a SQLite registry; pass registry='postgresql://...'."
        )
    from skybutler.datastore import FileTemplate

    children = cfg.datastore.effective_children()
    files = [cfg.datastore] if cfg.datastore.type == "file" else [c for c in children if c.type == "file"]
    for file_config in files:  # a chained datastore's file children too
        datastore_root = file_config.root.replace("{root}", root_text_)
        if datastore_root != root_text_:
            open_transport(datastore_root, **file_config.transport)  # a bad scheme or option fails before any write
        for name in file_config.templates.values():
            FileTemplate(name)
    made = _make_local_root(transport)
    try:
        create_registry(
            cfg.registry.db.replace("{root}", root_text_),
            universe=universe_obj,
            schema=cfg.registry.db_schema,
            busy_timeout=cfg.registry.busy_timeout,
        )
        transport.put(CONFIG_FILE, dump_config(cfg).encode())
    except BaseException:
        for folder in made:  # a refused creation (an unreachable server) leaves no empty folders behind
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return root_text_


def _make_local_root(transport: Transport) -> list[Path]:
    """Make a local repository's folder and any missing parents; return those made, deepest first."""
    if not transport.is_local:
        return []
    root = transport.local_path("")
    missing = [folder for folder in (root, *root.parents) if not folder.exists()]
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # /proc/x, a read-only disk, a file in the way: the user's to fix
        raise StorageError(
            f"Cannot create the repository folder {root}: {exc.strerror or exc}; choose a folder you can write."
        ) from None
    return missing


#: How many folders `_refuse_nesting` looks through below a new root for another repository.
_NESTING_SCAN_LIMIT = 10_000


def _refuse_nesting(root: Path) -> None:
    """Refuse a repository inside another's datastore, or around another repository.

    Its files would be the other's "unknown artifacts": ``verify`` lists them and ``reconcile --remove-unknown``
    deletes them, which destroys the inner repository.
    """
    for parent in root.parents:
        if (parent / CONFIG_FILE).is_file() and _datastore_holds(parent, root):
            raise ConflictError(
                f"{root} is inside the datastore of the repository at {parent}, which would take its files for "
                "unknown artifacts; create it outside that folder."
            )
    if not root.is_dir():
        return
    for seen, (folder, names, files) in enumerate(os.walk(root)):
        if CONFIG_FILE in files and Path(folder) != root:
            raise ConflictError(
                f"{root} holds the repository at {folder}, whose files would be taken for unknown artifacts; "
                "create the new repository in another folder."
            )
        if seen >= _NESTING_SCAN_LIMIT:
            return
        names[:] = [n for n in names if not n.startswith(".")]


def _datastore_holds(repo: Path, path: Path) -> bool:
    """Whether a local file datastore of the repository at ``repo`` contains ``path`` (an unreadable config: yes)."""
    try:
        _, cfg = read_config(repo)
    except ConfigError:
        return True
    children = cfg.datastore.effective_children()
    files = [cfg.datastore] if cfg.datastore.type == "file" else [c for c in children if c.type == "file"]
    for file_config in files:
        store = file_config.root.replace("{root}", str(repo))
        if "://" in store and not store.startswith("file://"):
            continue
        store_path = Path(store.removeprefix("file://"))
        if path == store_path or store_path in path.parents:
            return True
    return False


def read_repo_file(transport: Transport, root: str) -> Any:
    """The parsed ``butler.yaml`` of the repository at ``root`` (``transport`` opened on it), not yet checked.

    Raises
    ------
    ConfigError
        There is no ``butler.yaml``, or it is not valid YAML.
    """
    try:
        raw = transport.get(CONFIG_FILE)
    except ArtifactNotFoundError:
        raise ConfigError(
            f"No repository at {root} (no {CONFIG_FILE}); create one with Butler.create() or `skybutler create`."
        ) from None
    try:
        return parse_yaml(raw)
    except Exception as exc:
        import yaml

        if not isinstance(exc, yaml.YAMLError):
            raise
        raise ConfigError(f"{root}/{CONFIG_FILE} is not valid YAML: {exc}".replace("\n", " ")) from None


def read_config(root: UriLike) -> tuple[str, ButlerConfig]:
    """A repository's root (as text) and its configuration, without opening the registry.

    Raises
    ------
    ConfigError
        There is no ``butler.yaml`` at ``root``, or it is invalid.
    """
    text = root_text(root)
    repo_file = read_repo_file(open_transport(text), text)
    return text, load_config(repo_file, source=f"{text}/{CONFIG_FILE}")


def migrate_repository(root: UriLike, *, dry_run: bool = False) -> list[str]:
    """Upgrade a repository's registry schema to this code's; return the revisions applied (pending, if dry).

    Works on a registry that `Butler` refuses to open (`MigrationRequiredError`): it connects to the database
    named in ``butler.yaml`` directly.
    """
    from skybutler.registry import Database
    from skybutler.registry._migrate import migrate

    text, cfg = read_config(root)
    db = Database(cfg.registry.db.replace("{root}", text), schema=cfg.registry.db_schema)
    try:
        return migrate(db, dry_run=dry_run)
    finally:
        db.close()
