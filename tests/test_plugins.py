"""PluginRegistry: lazy built-ins, registration, errors that help, and third-party entry points."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler.errors import ConfigError, MissingDependencyError, PluginNotFoundError
from skybutler.plugins import PluginRegistry, SkyButlerWarning


@pytest.fixture
def plugins_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry-point scanning on, whatever the environment running the tests says."""
    monkeypatch.delenv("SKYBUTLER_DISABLE_PLUGINS", raising=False)


@pytest.fixture
def module_name() -> Iterator[str]:
    """A fresh importable module name, forgotten by ``sys.modules`` after the test."""
    name = f"skybutler_test_plugin_{uuid.uuid4().hex[:12]}"
    yield name
    sys.modules.pop(name, None)


def _write_module(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body))


def _write_distribution(directory: Path, project: str, entry_points: str) -> None:
    """An installed distribution as pip leaves it: a ``.dist-info`` folder with METADATA and entry_points.txt."""
    info = directory / f"{project}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


# -- built-ins and registration ---------------------------------------------------------------------------------


def test_builtins_are_imported_only_when_first_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module_name: str
) -> None:
    _write_module(tmp_path, module_name, "class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: PluginRegistry[type] = PluginRegistry("things", {"thing": f"{module_name}:Thing"})
    monkeypatch.setenv("SKYBUTLER_DISABLE_PLUGINS", "1")
    assert registry.names() == ["thing"]
    assert module_name not in sys.modules
    thing = registry.get("thing")
    assert module_name in sys.modules
    assert thing.__name__ == "Thing"
    assert thing is sys.modules[module_name].Thing
    assert registry.get("thing") is thing


def test_builtin_spec_resolves_module_attribute() -> None:
    registry: PluginRegistry[type] = PluginRegistry("maps", {"ordered": "collections:OrderedDict"})
    assert registry.get("ordered") is OrderedDict


def test_non_string_is_returned_as_it_is() -> None:
    registry: PluginRegistry[object] = PluginRegistry("things", {})
    value = object()
    assert registry.get(value) is value


def test_register_object_and_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBUTLER_DISABLE_PLUGINS", "1")
    registry: PluginRegistry[type] = PluginRegistry("maps", {})
    registry.register("plain", dict)
    registry.register("ordered", "collections:OrderedDict")
    assert registry.names() == ["ordered", "plain"]
    assert registry.get("plain") is dict
    assert registry.get("ordered") is OrderedDict


@pytest.mark.parametrize("existing", ["builtin", "registered", "loaded"])
def test_register_refuses_to_shadow_an_existing_name(existing: str) -> None:
    registry: PluginRegistry[type] = PluginRegistry("maps", {"builtin": "collections:OrderedDict"})
    registry.register("registered", "collections:Counter")
    registry.register("loaded", dict)
    with pytest.raises(ConfigError, match=f"A maps plug-in named '{existing}' already exists; pass replace=True"):
        registry.register(existing, list)
    assert registry.get(existing) is not list


@pytest.mark.parametrize("existing", ["builtin", "loaded"])
def test_register_with_replace_overrides(existing: str) -> None:
    registry: PluginRegistry[type] = PluginRegistry("maps", {"builtin": "collections:OrderedDict"})
    registry.register("loaded", dict)
    registry.get("builtin")  # loaded once: the replacement must also drop the cached value
    registry.register(existing, list, replace=True)
    assert registry.get(existing) is list
    registry.register(existing, "collections:deque", replace=True)
    assert registry.get(existing).__name__ == "deque"


def test_unknown_name_lists_the_known_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBUTLER_DISABLE_PLUGINS", "1")
    registry: PluginRegistry[type] = PluginRegistry(
        "formatters", {"json": "json:JSONDecoder", "yaml": "collections:OrderedDict"}
    )
    registry.register("npy", dict)
    with pytest.raises(
        PluginNotFoundError, match=r"No formatters plug-in named 'fits'; known names: json, npy, yaml\.$"
    ):
        registry.get("fits")
    with pytest.raises(LookupError):
        registry.get("fits")


def test_missing_module_says_what_to_install() -> None:
    registry: PluginRegistry[type] = PluginRegistry("things", {"thing": "definitely_missing_mod_xyz:Thing"})
    assert "thing" in registry.names()
    with pytest.raises(MissingDependencyError) as info:
        registry.get("thing")
    message = str(info.value)
    assert "The things plug-in 'thing' needs the package 'definitely_missing_mod_xyz'" in message
    assert "pip install definitely_missing_mod_xyz" in message
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_missing_optional_dependency_names_the_extra() -> None:
    # pyarrow belongs to the 'parquet' extra; the submodule never exists, so this fails with or without pyarrow.
    registry: PluginRegistry[type] = PluginRegistry("formatters", {"pq": "pyarrow.no_such_submodule_xyz:Formatter"})
    with pytest.raises(MissingDependencyError, match=r"run: pip install 'skybutler\[parquet\]'"):
        registry.get("pq")


# -- entry points ------------------------------------------------------------------------------------------------


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module_name: str) -> str:
    """A third-party package installed on sys.path, with ``skybutler.formatters`` entry points."""
    _write_module(
        tmp_path,
        module_name,
        """
        class CsvFormatter:
            extension = ".csv"

        class JsonImpostor:
            pass
        """,
    )
    _write_distribution(
        tmp_path,
        f"{module_name}_dist",
        f"""
        [skybutler.formatters]
        csv = {module_name}:CsvFormatter
        json = {module_name}:JsonImpostor

        [skybutler.transports]
        gopher = {module_name}:CsvFormatter
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return module_name


@pytest.mark.usefixtures("plugins_enabled")
def test_third_party_entry_points_are_found(third_party: str) -> None:
    registry: PluginRegistry[type] = PluginRegistry("formatters", {"json": "json:JSONDecoder"})
    assert "csv" in registry.names()
    csv = registry.get("csv")
    assert csv.__name__ == "CsvFormatter"
    assert csv.__module__ == third_party
    assert "gopher" not in registry.names()  # another kind's group


@pytest.mark.usefixtures("plugins_enabled")
def test_builtins_win_over_entry_points_of_the_same_name(third_party: str) -> None:
    registry: PluginRegistry[type] = PluginRegistry("formatters", {"json": "json:JSONDecoder"})
    assert registry.get("csv").__module__ == third_party  # the scan ran
    assert registry.get("json").__name__ == "JSONDecoder"


@pytest.mark.usefixtures("plugins_enabled")
def test_each_kind_reads_its_own_entry_point_group(third_party: str) -> None:
    registry: PluginRegistry[type] = PluginRegistry("transports", {})
    assert "gopher" in registry.names()
    assert "csv" not in registry.names()


def test_disable_plugins_skips_entry_points(third_party: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBUTLER_DISABLE_PLUGINS", "1")
    registry: PluginRegistry[type] = PluginRegistry("formatters", {"json": "json:JSONDecoder"})
    assert registry.names() == ["json"]
    with pytest.raises(PluginNotFoundError, match=r"No formatters plug-in named 'csv'; known names: json\.$"):
        registry.get("csv")
    assert third_party not in sys.modules


@pytest.mark.parametrize("value", ["0", ""])
def test_only_one_disables_plugins(third_party: str, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SKYBUTLER_DISABLE_PLUGINS", value)
    registry: PluginRegistry[type] = PluginRegistry("formatters", {})
    assert registry.get("csv").__module__ == third_party


@pytest.mark.usefixtures("plugins_enabled")
def test_entry_point_without_module_attr_is_ignored_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_distribution(
        tmp_path,
        f"broken_{uuid.uuid4().hex[:8]}",
        """
        [skybutler.formatters]
        broken = nocolonnodot
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: PluginRegistry[type] = PluginRegistry("formatters", {"json": "json:JSONDecoder"})
    with pytest.warns(SkyButlerWarning, match="Ignoring skybutler.formatters entry point 'broken'"):
        names = registry.names()
    assert "broken" not in names
    assert "json" in names


@pytest.mark.usefixtures("plugins_enabled")
def test_entry_points_are_scanned_once(third_party: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry: PluginRegistry[type] = PluginRegistry("formatters", {})
    assert "csv" in registry.names()
    later = tmp_path / "later"
    later.mkdir()
    _write_distribution(later, f"late_{uuid.uuid4().hex[:8]}", "[skybutler.formatters]\nlate = collections:deque\n")
    monkeypatch.syspath_prepend(str(later))
    assert "late" not in registry.names()
    assert "late" in PluginRegistry("formatters", {}).names()  # a new registry scans again


def test_the_cheap_check_finds_declared_groups_and_rules_out_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.machinery import PathFinder

    from skybutler.plugins import _maybe_declared

    # the check answers True for what it cannot look into; start from plain folders and the standard finder,
    # whatever earlier tests of this process (engines, servers) put on sys.path or sys.meta_path
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").is_dir()])
    monkeypatch.setattr(
        sys, "meta_path", [f for f in sys.meta_path if not hasattr(f, "find_distributions") or f is PathFinder]
    )
    group = f"skybutler.test_{uuid.uuid4().hex[:8]}"
    assert not _maybe_declared(group)
    _write_distribution(tmp_path, "declares", f"[{group}]\nx = m:X\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _maybe_declared(group)
    zipped = tmp_path / "bundle.zip"
    zipped.write_bytes(b"")
    monkeypatch.setattr(sys, "path", [str(zipped)])
    assert _maybe_declared("skybutler.anything")  # cannot look inside: let importlib.metadata decide


@pytest.mark.parametrize(
    ("code", "message"),
    [
        # ingest_raws raised a bare ModuleNotFoundError without astropy
        (
            "from skybutler import Butler\nb = Butler(Butler.create(sys.argv[1]), writeable=True)\n"
            "open(sys.argv[1] + '.fits', 'wb').close()\nb.ingest_raws([sys.argv[1] + '.fits'])",
            "MissingDependencyError Raw ingest (reading FITS headers) needs the package 'astropy', which is not "
            "installed; run: pip install astropy",
        ),
        # CompletenessTable.to_pandas() without pandas, the same
        (
            "from skybutler.query._missing import CompletenessTable\nCompletenessTable((), (), []).to_pandas()",
            "MissingDependencyError CompletenessTable.to_pandas() needs the package 'pandas', which is not installed;"
            " run: pip install 'skybutler[parquet]'",
        ),
    ],
)
def test_a_missing_library_is_named_with_what_to_install(tmp_path: Path, code: str, message: str) -> None:
    script = (
        "import sys\nsys.modules['astropy'] = None\nsys.modules['pandas'] = None\n"
        f"try:\n{textwrap.indent(code, '    ')}\nexcept ImportError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "r")], capture_output=True, text=True, check=False, env=env
    )
    assert done.stdout.strip() == message, done.stderr
