"""The dimension universe: every element, loaded from YAML, validated and put in dependency order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from skybutler.dimensions._elements import FIELD_TYPES, DimensionElement, FieldSpec
from skybutler.dimensions._parsed import parse_universe_text
from skybutler.errors import ConfigError, DataIdError

__all__ = ["DimensionGroup", "DimensionUniverse"]


class DimensionGroup:
    """A set of dimensions closed under ``requires`` and ``implies``, split into required and implied.

    A dimension is *implied* when another dimension of the group implies it (visit → physical_filter → band);
    the others are *required*: together they identify a data ID.  Groups are cached by the universe, so
    compare them with ``is`` or ``==`` cheaply.
    """

    __slots__ = ("_index", "elements", "implied", "key", "names", "required", "universe")

    def __init__(self, universe: DimensionUniverse, names: Iterable[str]) -> None:
        closure = universe._closure(names)
        implied = {i for d in closure for i in universe[d].implies}
        ordered = sorted(closure, key=lambda n: universe[n].index)
        self.universe = universe
        self.required: tuple[str, ...] = tuple(n for n in ordered if n not in implied)
        self.implied: tuple[str, ...] = tuple(n for n in ordered if n in implied)
        self.names: tuple[str, ...] = self.required + self.implied
        self._index = {n: i for i, n in enumerate(self.names)}
        self.elements: tuple[str, ...] = tuple(
            e.name
            for e in universe.elements
            if (e.is_dimension and e.name in closure)
            or (not e.is_dimension and e.required and set(e.required) <= closure)
        )
        self.key = "_".join(self.required) if self.required else "empty"

    def index(self, name: str) -> int:
        """Position of dimension ``name`` in `names` (required first, then implied)."""
        return self._index[name]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __repr__(self) -> str:
        return f"DimensionGroup({list(self.required)}, implied={list(self.implied)})"


class DimensionUniverse:
    """Every dimension element of a repository, in dependency order.

    Built from YAML (see ``universes/default.yaml`` for the format); the same text is stored in the registry,
    so a repository always opens with the universe it was created with.

    Examples
    --------
    >>> u = DimensionUniverse.default()
    >>> u.group(["visit", "detector"]).required
    ('instrument', 'detector', 'visit')
    """

    def __init__(self, config: Mapping[str, Any], *, text: str | None = None) -> None:
        self.namespace: str = str(config.get("namespace", "skybutler"))
        self.version: int = int(config.get("version", 0))
        if text is None:
            import yaml

            text = yaml.safe_dump(dict(config), sort_keys=False)
        self.text: str = text
        self.digest = hashlib.sha256(self.text.encode()).hexdigest()[:16]
        self._elements: dict[str, DimensionElement] = {}
        self.skypix_common: str | None = None
        self._groups: dict[frozenset[str], DimensionGroup] = {}
        self._load(config)

    # -- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, text: str) -> DimensionUniverse:
        """Parse a universe from YAML text (once per distinct text: the same object is returned after)."""
        known = _BY_TEXT.get(text)
        if known is not None:
            return known
        try:
            config = parse_universe_text(text)
        except Exception as exc:
            import yaml

            if not isinstance(exc, yaml.YAMLError):
                raise
            raise ConfigError(f"The dimension universe is not valid YAML: {exc}") from exc
        if not isinstance(config, dict) or "elements" not in config:
            raise ConfigError("A dimension universe must be a YAML mapping with an 'elements' mapping.")
        return _BY_TEXT.setdefault(text, DimensionUniverse(config, text=text))

    @classmethod
    def default(cls) -> DimensionUniverse:
        """Return the default universe (the same elements as the reference butler's version 8)."""
        text = resources.files("skybutler.dimensions.universes").joinpath("default.yaml").read_text()
        return _cached(text)

    @classmethod
    def load(cls, name: str) -> DimensionUniverse:
        """Return a universe by name: ``default``, a path to a YAML file, or a ``skybutler.universes`` plug-in.

        A plug-in entry point names a `DimensionUniverse` object or a string of universe YAML.
        """
        if name == "default":
            return cls.default()
        path = Path(name)
        if path.suffix in (".yaml", ".yml"):
            if not path.exists():
                raise ConfigError(f"No universe file {path}.")
            return cls.from_yaml(path.read_text())
        from skybutler.plugins import PluginRegistry

        plugins: PluginRegistry[Any] = PluginRegistry("universes", {})
        value = plugins.get(name)
        if isinstance(value, DimensionUniverse):
            return value
        if isinstance(value, str):
            return cls.from_yaml(value)
        raise ConfigError(
            f"Universe plug-in {name!r} must be a DimensionUniverse or YAML text, got {type(value).__name__}."
        )

    def _load(self, config: Mapping[str, Any]) -> None:
        raw = config["elements"]
        if not isinstance(raw, dict):
            raise ConfigError("The universe's 'elements' must be a mapping of element name to definition.")
        specs: dict[str, dict[str, Any]] = {}
        for name, body in raw.items():
            if not isinstance(body, dict):
                raise ConfigError(f"Universe element {name!r} must be a mapping, got {body!r}.")
            specs[str(name)] = body
        for name, body in self._skypix_specs(config.get("skypix") or {}).items():
            specs[name] = body
        order = self._topological(specs)
        for i, name in enumerate(order):
            body = specs[name]
            element = self._build(name, body, i)
            self._elements[name] = element

    def _skypix_specs(self, skypix: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        self.skypix_common = skypix.get("common")
        for system, body in (skypix.get("systems") or {}).items():
            lo, hi = int(body.get("min_level", 0)), int(body.get("max_level", 0))
            for level in range(lo, hi + 1):
                out[f"{system}{level}"] = {
                    "doc": f"{system} pixel at level {level}",
                    "keys": [{"name": "id", "type": "int"}],
                    "skypix": True,
                }
        return out

    @staticmethod
    def _topological(specs: Mapping[str, Mapping[str, Any]]) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, path: tuple[str, ...]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise ConfigError(f"The universe has a dependency cycle: {' → '.join((*path, name))}.")
            if name not in specs:
                raise ConfigError(f"Universe element {path[-1]!r} refers to unknown element {name!r}.")
            state[name] = 1
            body = specs[name]
            for dep in [*(body.get("requires") or []), *(body.get("implies") or [])]:
                visit(str(dep), (*path, name))
            state[name] = 2
            order.append(name)

        for name in specs:
            visit(name, ())
        return order

    def _build(self, name: str, body: Mapping[str, Any], index: int) -> DimensionElement:
        def fields(items: Any, what: str) -> tuple[FieldSpec, ...]:
            out = []
            for item in items or []:
                if not isinstance(item, dict) or "name" not in item:
                    raise ConfigError(f"Universe element {name!r}: each {what} needs at least a 'name'.")
                kind = str(item.get("type", "string"))
                if kind not in FIELD_TYPES:
                    raise ConfigError(
                        f"Universe element {name!r} field {item['name']!r} has unknown type {kind!r}; "
                        f"use one of {sorted(FIELD_TYPES)}."
                    )
                out.append(
                    FieldSpec(
                        name=str(item["name"]),
                        type=kind,
                        length=item.get("length"),
                        nullable=bool(item.get("nullable", what == "metadata field")),
                        doc=str(item.get("doc", "")),
                    )
                )
            return tuple(out)

        requires = tuple(str(r) for r in body.get("requires") or ())
        implies = tuple(str(r) for r in body.get("implies") or ())
        keys = fields(body.get("keys"), "key")
        metadata = fields(body.get("metadata"), "metadata field")
        for dep in (*requires, *implies):
            if not self._elements[dep].is_dimension:
                raise ConfigError(f"Universe element {name!r} depends on {dep!r}, which has no keys.")
        required: list[str] = []
        for parent in requires:
            for r in self._elements[parent].required:
                if r not in required:
                    required.append(r)
        if keys:
            required.append(name)
        specs: list[FieldSpec | None] = []
        for parent in required[:-1] if keys else required:
            specs.append(self._key_column(parent))
        specs.extend(replace(k, nullable=False) for k in keys)
        specs.extend(self._key_column(i) for i in implies)
        specs.extend(metadata)
        element = DimensionElement(
            name=name,
            doc=str(body.get("doc", "")),
            keys=keys,
            requires=requires,
            implies=implies,
            metadata=metadata,
            governor=bool(body.get("governor", False)),
            has_timespan=bool(body.get("timespan", False)),
            has_region=bool(body.get("region", False)),
            populated_by=body.get("populated_by"),
            always_join=bool(body.get("always_join", False)),
            is_skypix=bool(body.get("skypix", False)),
            index=index,
            required=tuple(required),
        )
        specs.extend([None] * (element.has_timespan + element.has_region))
        names = element.record_fields()
        return replace(element, field_specs=tuple(specs), field_index={n: i for i, n in enumerate(names)})

    def _key_column(self, dimension: str) -> FieldSpec:
        """The spec of a column holding ``dimension``'s primary key in another element's records."""
        pk = self._elements[dimension].primary_key
        return FieldSpec(name=dimension, type=pk.type, length=pk.length, nullable=False)

    # -- lookup ---------------------------------------------------------------------------------------------
    @property
    def elements(self) -> tuple[DimensionElement, ...]:
        """Every element, dependencies first."""
        return tuple(self._elements.values())

    @property
    def dimensions(self) -> tuple[DimensionElement, ...]:
        """Every element that can be a data ID key."""
        return tuple(e for e in self._elements.values() if e.is_dimension)

    @property
    def governors(self) -> tuple[DimensionElement, ...]:
        """Dimensions that partition the others (instrument, skymap)."""
        return tuple(e for e in self._elements.values() if e.governor)

    def __getitem__(self, name: str) -> DimensionElement:
        try:
            return self._elements[name]
        except KeyError:
            raise DataIdError(f"Unknown dimension element {name!r}{self.suggest(name)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._elements

    def suggest(self, name: str, among: Iterable[str] | None = None) -> str:
        """Return "; did you mean ...?" for the closest names, or ``"."``."""
        pool = list(among) if among is not None else [e for e in self._elements if not self[e].is_skypix]
        import difflib  # only for an error message: not on every command's start-up

        close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
        return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."

    def _closure(self, names: Iterable[str]) -> set[str]:
        todo = list(names)
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            element = self[name]
            if not element.is_dimension:
                raise DataIdError(
                    f"{name!r} is a dimension element without keys; it cannot be a dimension of a data ID."
                )
            seen.add(name)
            todo.extend(element.requires)
            todo.extend(element.implies)
        return seen

    def group(self, names: Iterable[str]) -> DimensionGroup:
        """Return the (cached) group of these dimensions with everything they require and imply."""
        key = frozenset(names)
        found = self._groups.get(key)
        if found is None:
            # One group object per closure, whichever subset named it first: groups compare by identity.
            built = DimensionGroup(self, key)
            found = self._groups.setdefault(frozenset(built.names), built)
            self._groups[key] = found
        return found

    @property
    def empty(self) -> DimensionGroup:
        """The group with no dimensions."""
        return self.group(())

    def __repr__(self) -> str:
        return f"DimensionUniverse(namespace={self.namespace!r}, version={self.version})"


_BY_TEXT: dict[str, DimensionUniverse] = {}
"""One universe object per distinct text, so groups and records are shared across butlers."""


def _cached(text: str) -> DimensionUniverse:
    """The universe of ``text``, parsed the first time (pickled data IDs name this function: keep its name)."""
    known = _BY_TEXT.get(text)
    if known is None:
        known = _BY_TEXT.setdefault(text, DimensionUniverse(parse_universe_text(text), text=text))
    return known
