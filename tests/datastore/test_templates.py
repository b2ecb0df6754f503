"""File templates: the paths they render, and the per-run plans giving the same paths as field-by-field rendering."""

from __future__ import annotations

import pytest

from skybutler.config import DEFAULT_TEMPLATE
from skybutler.datasets import DatasetType
from skybutler.datastore import key_problem
from skybutler.datastore._templates import FileTemplate
from skybutler.dimensions import DataCoordinate, DimensionUniverse
from skybutler.errors import ConfigError

UNIVERSE = DimensionUniverse.default()
GROUP = UNIVERSE.group(["instrument", "visit", "detector"])
CALEXP = DatasetType("calexp", GROUP, "StructuredDataDict")


def _data_id(visit: int, detector: int, instrument: str = "Cam") -> DataCoordinate:
    values: dict[str, str | int] = {"instrument": instrument, "visit": visit, "detector": detector}
    return DataCoordinate(GROUP, tuple(values[d] for d in GROUP.required))


@pytest.mark.parametrize(
    ("template", "run", "component", "expected"),
    [
        (DEFAULT_TEMPLATE, "run1", "", "run1/calexp/Cam/{detector}/calexp_Cam_{detector}_{visit}"),
        ("{run}/{dataset_type}/{visit}/{dataset_type}_{visit}_{detector}", "u/me/r", "",
         "u/me/r/calexp/{visit}/calexp_{visit}_{detector}"),
        ("{run}/{dataset_type}_{component:?}_{visit}", "r", "", "r/calexp_{visit}"),
        ("{run}/{dataset_type}_{component:?}_{visit}", "r", "wcs", "r/calexp_wcs_{visit}"),
        ("{run}/{id}", "r", "", "r/abc123"),
        ("{run}/{band:?}/{dataset_type}_{dimensions_name}", "r", "", "r/calexp_Cam_{detector}_{visit}"),
        ("{run}/{dataset_type}/{visit}", "a b{c}", "", "a%20b%7Bc%7D/calexp/{visit}"),
    ],
)  # fmt: skip
def test_paths(template: str, run: str, component: str, expected: str) -> None:
    tmpl = FileTemplate(template)
    for visit, detector in [(12, 3), (7, 0)]:
        want = expected.format(visit=visit, detector=detector)
        # twice: the first call makes the run's plan, the second uses it
        for _ in range(2):
            assert tmpl.render(CALEXP, _data_id(visit, detector), run, "abc123", component) == want


def test_plans_are_per_run_and_dataset_type() -> None:
    tmpl = FileTemplate(DEFAULT_TEMPLATE)
    other = DatasetType("raw", GROUP, "StructuredDataDict")
    data_id = _data_id(1, 2)
    assert tmpl.render(CALEXP, data_id, "a", "x") == "a/calexp/Cam/2/calexp_Cam_2_1"
    assert tmpl.render(CALEXP, data_id, "b", "x") == "b/calexp/Cam/2/calexp_Cam_2_1"
    assert tmpl.render(other, data_id, "a", "x") == "a/raw/Cam/2/raw_Cam_2_1"


def test_values_are_escaped_in_plans_too() -> None:
    group = UNIVERSE.group(["instrument", "detector"])
    flat = DatasetType("flat", group, "StructuredDataDict")
    data_id = DataCoordinate(group, ("My Cam/1", 4))
    tmpl = FileTemplate(DEFAULT_TEMPLATE)
    for _ in range(2):
        assert tmpl.render(flat, data_id, "r", "x") == "r/flat/My%20Cam%2F1/flat_My%20Cam%2F1_4"


def test_a_missing_dimension_that_is_not_optional_is_refused() -> None:
    tmpl = FileTemplate("{run}/{band}/{dataset_type}_{dimensions_name}")
    with pytest.raises(ConfigError, match="needs 'band'"):
        tmpl.render(CALEXP, _data_id(1, 2), "r", "x")


def test_a_dimension_that_is_not_required_comes_from_a_full_data_id() -> None:
    group = UNIVERSE.group(["instrument", "physical_filter"])
    flat = DatasetType("flat", group, "StructuredDataDict")
    values = {"instrument": "Cam", "physical_filter": "Cam-r", "band": "r"}
    full = DataCoordinate.from_full(group, tuple(values[n] for n in group.names))
    minimal = DataCoordinate(group, tuple(values[n] for n in group.required))
    tmpl = FileTemplate("{run}/{band:?}/{dataset_type}_{dimensions_name}")
    assert tmpl.render(flat, full, "r", "x") == "r/r/flat_Cam_Cam-r"
    assert tmpl.render(flat, minimal, "r", "x") == "r/flat_Cam_Cam-r"  # same plan, band absent: optional
    with pytest.raises(ConfigError, match="needs 'band'"):
        FileTemplate("{run}/{band}/{dataset_type}_{dimensions_name}").render(flat, minimal, "r", "x")


# -- injectivity (issue 17 item 1) and safe segments (item 3) ----------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from skybutler.datastore._templates import MAX_SEGMENT, SUFFIX_ROOM  # noqa: E402

#: Values that broke rendering: separators, escapes, hidden and reserved names, segments over 255 bytes.
HOSTILE = [
    "a_b", "a__b", "a_", "_a", "F", "F_", "F__", "a/b", "a//b", "a/", "a%5Fb", "a%b", ".", "..", ".staging",
    "butler.yaml", "registry.sqlite3", "registry.sqlite3-wal", "REGISTRY.SQLITE3-shm", "ü" * 43, "x" * 256,
    "x" * 255, "x" * 200 + "_", "a.b", "a-b", "a~b", "Cam_1", "1_1",
]  # fmt: skip
NAMES = st.one_of(
    st.sampled_from(HOSTILE), st.text(alphabet="ab_/%.-ü~ ", min_size=1, max_size=12), st.text(min_size=1, max_size=300)
)
TYPES = [DatasetType(n, GROUP, "StructuredDataDict") for n in ("calexp", "calexp_", "cal_exp", "cal__exp", "c")]
TEMPLATES = [
    DEFAULT_TEMPLATE,
    "{run}/{dataset_type}_{visit}_{detector}_{instrument}",
    "{run}/{dataset_type}/{instrument}-{visit}.{detector}",
    "{run}/{dataset_type}_{component:?}_{dimensions_name}",
    "{run}_{dataset_type}_{component:?}/{band:?}/{dimensions_path}/x{dimensions_name}",
    "{run}/{dataset_type}/{visit}/{dataset_type}_{visit}_{detector}_{instrument}",
    "{dataset_type}/{run}/{dataset_type}_{instrument}-{visit}-{detector}",
]
Key = tuple[str, str, str, str, int, int]
KEYS = st.tuples(
    NAMES, st.sampled_from([t.name for t in TYPES]), st.sampled_from(["", "wcs", "w_cs", "wcs_"]), NAMES,
    st.sampled_from([0, 1, 10, 11]), st.sampled_from([0, 1, 10, 11]),
)  # fmt: skip


def _render(tmpl: FileTemplate, key: Key) -> str:
    run, type_name, component, instrument, visit, detector = key
    dataset_type = next(t for t in TYPES if t.name == type_name)
    data_id = _data_id(visit, detector, instrument)
    return tmpl.render(dataset_type, data_id, run, "0123456789abcdef", component, ext=".json")


@pytest.mark.parametrize("template", TEMPLATES)
@settings(max_examples=200, deadline=None)
@given(keys=st.lists(KEYS, min_size=2, max_size=12, unique=True))
def test_distinct_datasets_never_render_one_path(template: str, keys: list[Key]) -> None:
    tmpl = FileTemplate(template)
    uses_component = "{component" in template
    keys = list({(k if uses_component else (k[0], k[1], "", *k[3:])) for k in keys})
    paths = {_render(tmpl, k): k for k in keys}
    assert len(paths) == len(keys), "two datasets rendered one path"
    for path in paths:
        segments = path.split("/")
        assert all(segments), path
        assert not any(s.startswith(".") for s in segments), path
        assert key_problem(path) is None, path  # the one rule of imports and reads: no repository file
        assert all(len(s.encode()) <= MAX_SEGMENT for s in segments[:-1]), path
        assert len(segments[-1].encode()) + SUFFIX_ROOM <= MAX_SEGMENT, path


def test_dataset_type_names_stay_readable_where_a_segment_of_their_own_tells_them_apart() -> None:
    bkg = DatasetType("calexp_bkg", GROUP, "StructuredDataDict")
    tmpl = FileTemplate(DEFAULT_TEMPLATE)
    assert tmpl.render(bkg, _data_id(1, 2), "r", "x") == "r/calexp_bkg/Cam/2/calexp_bkg_Cam_2_1"
    tmpl = FileTemplate("{run}/{dataset_type}_{dimensions_name}")  # no segment of its own: escaped
    assert tmpl.render(bkg, _data_id(1, 2), "r", "x") == "r/calexp%5Fbkg_Cam_2_1"


def test_runs_and_filters_that_differ_by_underscores_render_apart() -> None:
    tmpl = FileTemplate(DEFAULT_TEMPLATE)
    assert tmpl.render(CALEXP, _data_id(1, 1), "a_b", "x") == "a_b/calexp/Cam/1/calexp_Cam_1_1"
    assert tmpl.render(CALEXP, _data_id(1, 1), "a__b", "x") == "a__b/calexp/Cam/1/calexp_Cam_1_1"
    assert tmpl.render(CALEXP, _data_id(1, 1, "F"), "r", "x") == "r/calexp/F/1/calexp_F_1_1"
    assert tmpl.render(CALEXP, _data_id(1, 1, "F_"), "r", "x") == "r/calexp/F_/1/calexp_F%5F_1_1"


@pytest.mark.parametrize(
    ("run", "first"),
    [(".staging", "%2Estaging"), ("butler.yaml", "butler%2Eyaml"), ("registry.sqlite3-wal", "registry%2Esqlite3-wal"),
     ("Registry.SQLite3", "Registry%2ESQLite3"), ("..", "%2E."), ("butler.yaml.d", "butler.yaml.d")],
)  # fmt: skip
def test_reserved_and_hidden_first_segments_are_escaped(run: str, first: str) -> None:
    path = FileTemplate(DEFAULT_TEMPLATE).render(CALEXP, _data_id(1, 2), run, "x", ext=".json")
    assert path.split("/")[0] == first


def test_a_one_segment_template_never_names_the_repository_config() -> None:
    group = UNIVERSE.group(["instrument"])
    dataset_type = DatasetType("butler", group, "StructuredDataDict")
    path = FileTemplate("{dataset_type}_{run}_{instrument}").render(
        dataset_type, DataCoordinate(group, ("Cam",)), "r", "x", ext=".json"
    )
    assert path == "butler_r_Cam.json"
    path = FileTemplate("{run}").render(dataset_type, DataCoordinate(group, ("Cam",)), "butler", "x", ext=".yaml")
    assert path == "%62utler.yaml"


@pytest.mark.parametrize("run", ["ü" * 43, "x" * 256, "x" * 1000])
def test_over_long_segments_are_cut_with_a_hash(run: str) -> None:
    tmpl = FileTemplate("{run}/{dataset_type}_{run}_{dimensions_name}")
    path = tmpl.render(CALEXP, _data_id(1, 2), run, "x", ext=".fits")
    first, last = path.split("/")
    assert len(first) <= MAX_SEGMENT
    assert "~" in first
    assert len(last) + SUFFIX_ROOM <= MAX_SEGMENT
    assert last.endswith(".fits")
    assert "~" in last
    other = tmpl.render(CALEXP, _data_id(1, 2), run + "y", "x", ext=".fits")
    assert other != path


def test_fields_side_by_side_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"\{visit\} and \{detector\} side by side"):
        FileTemplate("{run}/{dataset_type}_{visit}{detector}")


def test_hidden_literal_segments_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"starting with '\.'"):
        FileTemplate(".hidden/{run}/{dataset_type}_{dimensions_name}")


def test_empty_optional_fields_take_one_separator_with_them() -> None:
    tmpl = FileTemplate("{run}/{dataset_type}_{component:?}_{visit}_{detector}")
    assert tmpl.render(CALEXP, _data_id(3, 4), "r", "x") == "r/calexp_3_4"
    assert tmpl.render(CALEXP, _data_id(3, 4), "r", "x", "w_cs") == "r/calexp_w%5Fcs_3_4"
    group = UNIVERSE.group(["instrument"])
    one = DatasetType("cam", group, "StructuredDataDict")
    assert FileTemplate(DEFAULT_TEMPLATE).render(one, DataCoordinate(group, ("Cam",)), "r", "x") == "r/cam/cam_Cam"
    none = DatasetType("g", UNIVERSE.group([]), "StructuredDataDict")
    assert FileTemplate(DEFAULT_TEMPLATE).render(none, DataCoordinate(UNIVERSE.group([]), ()), "r", "x") == "r/g/g"
