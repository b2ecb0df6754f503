"""DimensionUniverse: loading YAML, dependency order, validation errors and dimension groups."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from skybutler.dimensions import DimensionUniverse
from skybutler.errors import ConfigError, DataIdError


@pytest.fixture
def universe() -> DimensionUniverse:
    """The small universe of ``tests/mini_universe.yaml``."""
    return DimensionUniverse.from_yaml((Path(__file__).parents[1] / "mini_universe.yaml").read_text())


def _universe(elements: str, *, header: str = "namespace: t\nversion: 3\n") -> DimensionUniverse:
    """Build a universe from an ``elements:`` body written at column zero."""
    return DimensionUniverse.from_yaml(header + "elements:\n" + textwrap.indent(textwrap.dedent(elements), "  "))


# -- loading and order ------------------------------------------------------------------------------------------


def test_mini_universe_has_its_elements_namespace_and_version(universe: DimensionUniverse) -> None:
    names = [e.name for e in universe.elements]
    assert names[:7] == [
        "instrument",
        "band",
        "physical_filter",
        "detector",
        "day_obs",
        "visit",
        "visit_detector_region",
    ]
    assert names[7:] == [f"htm{level}" for level in range(1, 9)]
    assert universe.namespace == "skybutler-tests"
    assert universe.version == 1


def test_elements_come_after_everything_they_require_or_imply(universe: DimensionUniverse) -> None:
    position = {e.name: i for i, e in enumerate(universe.elements)}
    for element in universe.elements:
        assert element.index == position[element.name]
        for dep in (*element.requires, *element.implies):
            assert position[dep] < position[element.name], (dep, element.name)


def test_topological_order_does_not_depend_on_yaml_order() -> None:
    forward = _universe(
        """
        a: {keys: [{name: id, type: int}]}
        b: {requires: [a], keys: [{name: id, type: int}]}
        c: {requires: [b], implies: [d], keys: [{name: id, type: int}]}
        d: {keys: [{name: name, type: string}]}
        """
    )
    backward = _universe(
        """
        c: {requires: [b], implies: [d], keys: [{name: id, type: int}]}
        d: {keys: [{name: name, type: string}]}
        b: {requires: [a], keys: [{name: id, type: int}]}
        a: {keys: [{name: id, type: int}]}
        """
    )
    for u in (forward, backward):
        order = [e.name for e in u.elements]
        assert order.index("a") < order.index("b") < order.index("c")
        assert order.index("d") < order.index("c")
        assert u["c"].required == ("a", "b", "c")


def test_dimensions_governors_and_keyless_elements(universe: DimensionUniverse) -> None:
    dimension_names = {d.name for d in universe.dimensions}
    assert "visit_detector_region" not in dimension_names
    assert {"instrument", "band", "physical_filter", "detector", "day_obs", "visit", "htm7"} <= dimension_names
    assert [g.name for g in universe.governors] == ["instrument"]
    vdr = universe["visit_detector_region"]
    assert not vdr.is_dimension
    assert vdr.has_region
    assert vdr.required == ("instrument", "visit", "detector")
    assert vdr.parents == ("instrument", "visit", "detector")


def test_element_required_keys_and_record_fields(universe: DimensionUniverse) -> None:
    visit = universe["visit"]
    assert visit.required == ("instrument", "visit")
    assert visit.parents == ("instrument",)
    assert visit.primary_key.name == "id"
    assert visit.primary_key.type == "int"
    assert [k.name for k in visit.alternate_keys] == ["name"]
    assert visit.has_timespan
    assert visit.has_region
    assert visit.record_fields() == (
        "instrument",
        "id",
        "name",
        "physical_filter",
        "day_obs",
        "exposure_time",
        "timespan",
        "region",
    )
    # Columns copying other dimensions' keys take their type; timespan and region have no spec.
    specs = dict(zip(visit.record_fields(), visit.field_specs, strict=True))
    assert specs["instrument"] is not None
    assert specs["instrument"].type == "string"
    assert specs["day_obs"] is not None
    assert specs["day_obs"].type == "int"
    assert specs["timespan"] is None
    assert specs["region"] is None
    assert specs["exposure_time"] is not None
    assert specs["exposure_time"].nullable
    assert specs["id"] is not None
    assert not specs["id"].nullable


def test_skypix_systems_expand_to_one_dimension_per_level(universe: DimensionUniverse) -> None:
    assert universe.skypix_common == "htm7"
    for level in range(1, 9):
        pix = universe[f"htm{level}"]
        assert pix.is_skypix
        assert pix.is_dimension
        assert pix.primary_key.type == "int"
        assert pix.required == (f"htm{level}",)
    assert "htm0" not in universe
    assert "htm9" not in universe


def test_unknown_element_lookup_suggests_close_names(universe: DimensionUniverse) -> None:
    with pytest.raises(DataIdError, match=r"Unknown dimension element 'vist'; did you mean 'visit'\?"):
        universe["vist"]
    with pytest.raises(DataIdError, match=r"Unknown dimension element 'zzzz'\.$"):
        universe["zzzz"]
    assert "visit" in universe
    assert "vist" not in universe


def test_from_yaml_is_cached_per_text(universe: DimensionUniverse) -> None:
    again = DimensionUniverse.from_yaml(universe.text)
    assert again is universe
    other = _universe("a: {keys: [{name: id, type: int}]}")
    assert other is not universe
    assert other.digest != universe.digest
    assert len(universe.digest) == 16


# -- validation errors ------------------------------------------------------------------------------------------


def test_dependency_cycle_is_a_config_error_naming_the_path() -> None:
    with pytest.raises(ConfigError, match="dependency cycle") as info:
        _universe(
            """
            a: {requires: [c], keys: [{name: id, type: int}]}
            b: {requires: [a], keys: [{name: id, type: int}]}
            c: {implies: [b], keys: [{name: id, type: int}]}
            """
        )
    message = str(info.value)
    for name in ("a", "b", "c"):
        assert f"{name}" in message
    assert "a → c → b → a" in message


def test_self_cycle_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cycle: a → a"):
        _universe("a: {requires: [a], keys: [{name: id, type: int}]}")


@pytest.mark.parametrize("relation", ["requires", "implies"])
def test_unknown_reference_is_a_config_error_naming_both_elements(relation: str) -> None:
    with pytest.raises(ConfigError, match="element 'a' refers to unknown element 'nosuch'"):
        _universe(f"a: {{{relation}: [nosuch], keys: [{{name: id, type: int}}]}}")


def test_unknown_field_type_is_a_config_error_listing_the_types() -> None:
    with pytest.raises(ConfigError, match=r"field 'id' has unknown type 'integer'") as info:
        _universe("a: {keys: [{name: id, type: integer}]}")
    assert "'int'" in str(info.value)
    assert "'string'" in str(info.value)


def test_unknown_metadata_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="field 'm' has unknown type 'decimal'"):
        _universe("a: {keys: [{name: id, type: int}], metadata: [{name: m, type: decimal}]}")


def test_field_without_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="each key needs at least a 'name'"):
        _universe("a: {keys: [{type: int}]}")


def test_depending_on_a_keyless_element_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="depends on 'r', which has no keys"):
        _universe(
            """
            a: {keys: [{name: id, type: int}]}
            r: {requires: [a]}
            b: {requires: [r], keys: [{name: id, type: int}]}
            """
        )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("elements: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping with an 'elements' mapping"),
        ("namespace: x\n", "must be a YAML mapping with an 'elements' mapping"),
        ("elements: [a, b]\n", "'elements' must be a mapping"),
        ("elements:\n  a: 3\n", "element 'a' must be a mapping"),
    ],
)
def test_malformed_universe_yaml_is_a_config_error(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DimensionUniverse.from_yaml(text)


def test_config_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="cycle"):
        _universe("a: {implies: [a], keys: [{name: id, type: int}]}")


# -- groups ---------------------------------------------------------------------------------------------------


def test_group_splits_required_and_implied(universe: DimensionUniverse) -> None:
    group = universe.group(["visit", "detector"])
    assert group.required == ("instrument", "detector", "visit")
    assert set(group.implied) == {"physical_filter", "band", "day_obs"}
    assert group.names == group.required + group.implied
    assert len(group) == 6
    assert list(group) == list(group.names)
    assert "band" in group
    assert "htm7" not in group
    for i, name in enumerate(group.names):
        assert group.index(name) == i
    assert group.key == "instrument_detector_visit"


def test_group_elements_include_keyless_elements_only_when_all_parents_are_present(
    universe: DimensionUniverse,
) -> None:

    assert "visit_detector_region" in universe.group(["visit", "detector"]).elements
    assert "visit_detector_region" not in universe.group(["visit"]).elements
    assert "visit_detector_region" not in universe.group(["detector"]).elements


def test_group_of_implied_dimension_alone_has_it_required(universe: DimensionUniverse) -> None:
    group = universe.group(["physical_filter"])
    assert group.required == ("instrument", "physical_filter")
    assert group.implied == ("band",)
    band = universe.group(["band"])
    assert band.required == ("band",)
    assert band.implied == ()


def test_groups_are_cached_whatever_the_order_or_closure(universe: DimensionUniverse) -> None:
    group = universe.group(["visit", "detector"])
    assert universe.group(["detector", "visit"]) is group
    assert universe.group(("detector", "visit", "visit")) is group
    assert universe.group(group.names) is group
    assert universe.group(["visit"]) is not group


def test_one_group_object_per_closure_whichever_subset_came_first(universe: DimensionUniverse) -> None:
    with_implied = universe.group(["visit", "band"])
    assert universe.group(["visit"]) is with_implied
    assert universe.group(["visit", "physical_filter", "day_obs"]) is with_implied


def test_empty_group(universe: DimensionUniverse) -> None:
    empty = universe.empty
    assert empty is universe.group([])
    assert empty.required == ()
    assert empty.implied == ()
    assert len(empty) == 0
    assert empty.key == "empty"


def test_group_refuses_keyless_and_unknown_elements(universe: DimensionUniverse) -> None:
    with pytest.raises(DataIdError, match="without keys"):
        universe.group(["visit_detector_region"])
    with pytest.raises(DataIdError, match="did you mean 'detector'"):
        universe.group(["detectr"])
