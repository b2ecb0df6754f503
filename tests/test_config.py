"""load_config: defaults ← repository file ← overrides ← environment, validation errors, and dump round trips."""

from __future__ import annotations

import os
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import pytest
import yaml

from skybutler.config import (
    DEFAULT_TEMPLATE,
    ButlerConfig,
    RegistryConfig,
    _defaults_but_where,
    _layer,
    dump_config,
    load_config,
    merge,
)
from skybutler.errors import ConfigError


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SKYBUTLER_* variables from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("SKYBUTLER_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    config = load_config(environ={})
    assert config == ButlerConfig()
    assert config.registry.db == "sqlite:///{root}/registry.sqlite3"
    assert config.registry.db_schema is None
    assert config.registry.busy_timeout == 60.0
    assert config.datastore.root == "{root}"
    assert config.datastore.templates == {"default": DEFAULT_TEMPLATE}
    assert config.datastore.formatters == {}
    assert config.datastore.checksum == "xxh3_128"
    assert config.universe == "default"


def test_layers_override_in_order_and_merge_deeply() -> None:
    repo_file = {
        "registry": {"db": "sqlite:////data/repo.sqlite3", "busy_timeout": 10},
        "datastore": {"templates": {"raw": "{run}/{dataset_type}/{dimensions_path}"}},
    }
    overrides = {"registry": {"busy_timeout": 20}, "datastore": {"checksum": "none"}}
    config = load_config(repo_file, overrides, environ={"SKYBUTLER_REGISTRY__BUSY_TIMEOUT": "5"})
    assert config.registry.busy_timeout == 5.0  # environment beats overrides beats the file
    assert config.registry.db == "sqlite:////data/repo.sqlite3"  # untouched keys of lower layers survive
    assert config.datastore.checksum == "none"
    assert config.datastore.templates == {"raw": "{run}/{dataset_type}/{dimensions_path}"}
    without_env = load_config(repo_file, overrides, environ={})
    assert without_env.registry.busy_timeout == 20.0
    assert load_config(repo_file, environ={}).registry.busy_timeout == 10.0


@pytest.mark.usefixtures("clean_environment")
def test_process_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBUTLER_REGISTRY__BUSY_TIMEOUT", "5")
    monkeypatch.setenv("SKYBUTLER_DATASTORE__CHECKSUM", "none")
    config = load_config({"registry": {"busy_timeout": 30}})
    assert config.registry.busy_timeout == 5.0
    assert config.datastore.checksum == "none"


def test_environment_values_are_yaml_and_keys_are_case_insensitive() -> None:
    environ = {
        "SKYBUTLER_REGISTRY__SCHEMA": "repo_a",
        "SKYBUTLER_DATASTORE__FORMATTERS": "{calexp: pickle}",
        "SKYBUTLER_DATASTORE__TEMPLATES__DEFAULT": "{run}/{dataset_type}",
        "skybutler_universe__ignored": "lower-case prefix is not ours",
    }
    config = load_config(environ=environ)
    assert config.registry.db_schema == "repo_a"
    assert config.datastore.formatters == {"calexp": "pickle"}
    assert config.datastore.templates == {"default": "{run}/{dataset_type}"}
    assert config.universe == "default"


def test_environment_without_a_level_separator_is_not_configuration() -> None:
    environ = {"SKYBUTLER_DISABLE_PLUGINS": "1", "SKYBUTLER_TEST_POSTGRES_URL": "x", "OTHER__BUSY_TIMEOUT": "1"}
    assert load_config(environ=environ) == ButlerConfig()


def test_schema_alias_and_field_name_are_both_accepted() -> None:
    assert load_config({"registry": {"schema": "s1"}}, environ={}).registry.db_schema == "s1"
    assert load_config({"registry": {"db_schema": "s2"}}, environ={}).registry.db_schema == "s2"


@pytest.mark.parametrize(
    ("repo_file", "path"),
    [
        ({"registry": {"bogus": 1}}, "registry.bogus"),
        ({"datastore": {"checksums": "none"}}, "datastore.checksums"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_unknown_keys_are_config_errors_naming_the_key_path(repo_file: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError, match=rf"Invalid butler\.yaml: .*{path}: unknown key \(known keys: "):
        load_config(repo_file, environ={}, source="butler.yaml")


def test_unknown_key_from_the_environment_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"registry\.busy_timout"):
        load_config(environ={"SKYBUTLER_REGISTRY__BUSY_TIMOUT": "5"})


@pytest.mark.parametrize(
    ("repo_file", "path"),
    [
        ({"registry": {"busy_timeout": 0}}, "registry.busy_timeout"),
        ({"registry": {"busy_timeout": -1}}, "registry.busy_timeout"),
        ({"registry": {"busy_timeout": "soon"}}, "registry.busy_timeout"),
        # issue 17 item 6: these reached the drivers and raised OverflowError on opening
        ({"registry": {"busy_timeout": float("inf")}}, "registry.busy_timeout"),
        ({"registry": {"busy_timeout": float("nan")}}, "registry.busy_timeout"),
        ({"registry": {"busy_timeout": 1e300}}, "registry.busy_timeout"),
        ({"registry": {"busy_timeout": 86_401}}, "registry.busy_timeout"),
        ({"datastore": {"checksum": "md5"}}, "datastore.checksum"),
        ({"datastore": {"templates": "{run}"}}, "datastore.templates"),
        ({"registry": "sqlite://"}, "registry"),
        ({"universe": ["default"]}, "universe"),
    ],
)
def test_invalid_values_are_config_errors_naming_the_key_path(repo_file: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError, match=rf"Invalid configuration: {path}: ") as info:
        load_config(repo_file, environ={})
    assert info.value.__cause__ is None  # the pydantic traceback is not chained into the user's message


def test_several_problems_are_all_reported() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"registry": {"busy_timeout": 0, "extra": 1}, "datastore": {"checksum": "md5"}}, environ={})
    message = str(info.value)
    for path in ("registry.busy_timeout", "registry.extra", "datastore.checksum"):
        assert path in message


def test_invalid_environment_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"registry\.busy_timeout"):
        load_config(environ={"SKYBUTLER_REGISTRY__BUSY_TIMEOUT": "-3"})


def test_dump_round_trips() -> None:
    config = load_config(
        {
            "registry": {"db": "postgresql://user@host/db", "schema": "repo_a", "busy_timeout": 2.5},
            "datastore": {"root": "s3://bucket/repo", "formatters": {"calexp": "pickle"}, "checksum": "none"},
            "universe": "/path/to/universe.yaml",
        },
        environ={},
    )
    text = dump_config(config)
    data = yaml.safe_load(text)
    assert data["registry"]["schema"] == "repo_a"  # written under its alias, as users write it
    assert "db_schema" not in data["registry"]
    assert load_config(data, environ={}) == config


def test_dump_of_defaults_leaves_out_none_and_round_trips() -> None:
    text = dump_config(ButlerConfig())
    assert "schema" not in text
    assert "null" not in text
    assert load_config(yaml.safe_load(text), environ={}) == ButlerConfig()


def test_configuration_is_frozen() -> None:
    config = load_config(environ={})
    with pytest.raises(FrozenInstanceError):
        config.registry.busy_timeout = 1  # type: ignore[misc]
    assert config.registry.busy_timeout == 60.0


def test_merge_is_deep_and_does_not_modify_its_inputs() -> None:
    base = {"a": {"b": 1, "c": {"d": 2}}, "e": 3}
    over = {"a": {"c": {"f": 4}}, "e": {"g": 5}}
    merged = merge(base, over)
    assert merged == {"a": {"b": 1, "c": {"d": 2, "f": 4}}, "e": {"g": 5}}
    assert base == {"a": {"b": 1, "c": {"d": 2}}, "e": 3}
    assert over == {"a": {"c": {"f": 4}}, "e": {"g": 5}}


def test_an_unknown_key_is_named_with_the_keys_allowed_there() -> None:
    repo_file = {"datastore": {"type": "chained", "children": [{"name": "a", "type": "memory", "chekcsum": "none"}]}}
    with pytest.raises(ConfigError) as info:
        load_config(repo_file, environ={})
    message = str(info.value)
    assert "datastore.children.0.chekcsum: unknown key (known keys: type, name, root," in message
    assert "checksum" in message.split("known keys:")[1]


def test_schema_given_twice_in_one_layer_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'schema' or 'db_schema', not both"):
        load_config({"registry": {"schema": "a", "db_schema": "b"}}, environ={})
    # in different layers the higher one wins, whichever spelling it uses
    assert (
        load_config({"registry": {"schema": "a"}}, {"registry": {"db_schema": "b"}}, environ={}).registry.db_schema
        == "b"
    )


def test_an_infinite_busy_timeout_in_butler_yaml_is_a_config_error(tmp_path: Path) -> None:
    """``busy_timeout: .inf`` in butler.yaml: opening the repository said OverflowError (issue 17 item 6)."""
    from skybutler.butler import Butler

    root = Butler.create(tmp_path / "repo")
    config = Path(root) / "butler.yaml"
    text = config.read_text()
    assert "busy_timeout: 60.0" in text
    config.write_text(text.replace("busy_timeout: 60.0", "busy_timeout: .inf"))
    with pytest.raises(ConfigError, match=r"registry\.busy_timeout: .*less than or equal to 86400"):
        Butler(root)
    config.write_text(text.replace("busy_timeout: 60.0", "busy_timeout: 86400"))
    Butler(root).close()  # the longest allowed


def _validated(data: dict[str, Any]) -> ButlerConfig:
    """What pydantic makes of ``data``, as `load_config` does without its shortcut for the defaults."""
    from skybutler.config import _adapter, _record_given

    config = _adapter().validate_python(data)
    _record_given(config, data)
    return config


@pytest.mark.parametrize("form", ["nothing", "butler.yaml of the defaults"])
def test_the_defaults_need_no_pydantic_and_equal_its_result(form: str) -> None:
    """A repository made and opened with the defaults skips pydantic: the shortcut gives what pydantic gives."""
    data = {} if form == "nothing" else yaml.safe_load(dump_config(ButlerConfig()))
    fast = load_config(data, environ={})
    slow = _validated(data)
    assert fast == slow
    assert (fast.datastore.given, fast.datastore.children) == (slow.datastore.given, slow.datastore.children)
    assert dump_config(fast) == dump_config(slow)
    # one value away from the defaults takes the validating path, with its checks
    data = yaml.safe_load(dump_config(ButlerConfig()))
    data["registry"]["busy_timeout"] = -1
    with pytest.raises(ConfigError, match="busy_timeout"):
        load_config(data, environ={})


@pytest.mark.parametrize("form", ["given to create", "butler.yaml of a PostgreSQL repository"])
def test_a_registry_location_alone_needs_no_pydantic_and_equals_its_result(form: str) -> None:
    """A PostgreSQL repository made and opened with the defaults but for its registry's URL and schema skips
    pydantic too (60-100 ms of W1's create_repo): the shortcut gives what pydantic gives."""
    where = RegistryConfig(db="postgresql://someone@somewhere/db", db_schema="repo_1")
    if form == "given to create":
        data: dict[str, Any] = {"registry": {"db": where.db, "schema": where.db_schema}}
    else:
        data = yaml.safe_load(dump_config(ButlerConfig(registry=where)))
    assert _defaults_but_where(_layer(data)) is not None  # the shortcut is taken
    fast = load_config(data, environ={})
    slow = _validated(dict(_layer(data)))
    assert fast == slow
    assert fast.registry == where
    assert dump_config(fast) == dump_config(slow)
    # a value pydantic would refuse, or one away from the defaults elsewhere, takes the validating path
    for section, key, value in (("registry", "schema", 5), ("registry", "busy_timeout", 0), ("universe", "", 3)):
        bad = yaml.safe_load(dump_config(ButlerConfig(registry=where)))
        if key:
            bad[section][key] = value
        else:
            bad[section] = value
        assert _defaults_but_where(_layer(bad)) is None
        with pytest.raises(ConfigError):
            load_config(bad, environ={})
