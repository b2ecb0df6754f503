"""The error hierarchy: unique codes, builtin bases, round trips by code, and one docs anchor per code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import skybutler.errors as errors_module
from skybutler.errors import (
    ArtifactNotFoundError,
    CollectionError,
    ConfigError,
    ConflictError,
    CorruptArtifactError,
    DataIdError,
    DatasetNotFoundError,
    DatasetTypeError,
    ExportFormatError,
    FormatterError,
    MigrationRequiredError,
    MissingDependencyError,
    PermissionDeniedError,
    PluginNotFoundError,
    QuerySyntaxError,
    SkyButlerError,
    StorageError,
    error_for_code,
)

ERRORS_DOC = Path(__file__).parents[1] / "docs" / "errors.md"

ALL_ERRORS: list[type[SkyButlerError]] = [
    getattr(errors_module, name) for name in errors_module.__all__ if name != "error_for_code"
]

# The builtin each class must also be (DESIGN.md §9.2), and its parent in our hierarchy.
BUILTIN_BASES: dict[type[SkyButlerError], tuple[type[BaseException], ...]] = {
    DataIdError: (ValueError,),
    DatasetTypeError: (ValueError,),
    QuerySyntaxError: (ValueError,),
    ExportFormatError: (ValueError,),
    ConfigError: (ValueError,),
    PluginNotFoundError: (ConfigError, ValueError, LookupError),
    MissingDependencyError: (ConfigError, ValueError, ImportError),
    DatasetNotFoundError: (LookupError,),
    CollectionError: (LookupError,),
    ConflictError: (),
    PermissionDeniedError: (PermissionError,),
    StorageError: (OSError,),
    ArtifactNotFoundError: (StorageError, OSError, FileNotFoundError),
    CorruptArtifactError: (StorageError, OSError),
    FormatterError: (),
    MigrationRequiredError: (),
    SkyButlerError: (Exception,),
}


def _id(cls: type[SkyButlerError]) -> str:
    return cls.__name__


def test_every_error_class_is_listed_and_exported() -> None:
    assert set(ALL_ERRORS) == set(BUILTIN_BASES)
    # Nothing in the hierarchy escapes __all__.
    found: set[type[SkyButlerError]] = set()
    todo: list[type[SkyButlerError]] = [SkyButlerError]
    while todo:
        cls = todo.pop()
        if cls.__module__ == "skybutler.errors":
            found.add(cls)
        todo.extend(cls.__subclasses__())
    assert found == set(ALL_ERRORS)


def test_codes_are_unique_and_well_formed() -> None:
    codes = [cls.code for cls in ALL_ERRORS]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", code), code


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=_id)
def test_builtin_bases(cls: type[SkyButlerError]) -> None:
    assert issubclass(cls, SkyButlerError)
    for base in BUILTIN_BASES[cls]:
        assert issubclass(cls, base), (cls, base)


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=_id)
def test_error_for_code_round_trips(cls: type[SkyButlerError]) -> None:
    assert error_for_code(cls.code) is cls


def test_unknown_code_falls_back_to_the_base_class() -> None:
    assert error_for_code("no-such-code") is SkyButlerError
    assert error_for_code("") is SkyButlerError


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=_id)
def test_status_and_exit_codes(cls: type[SkyButlerError]) -> None:
    assert 400 <= cls.http_status < 600
    # Issue 8: the CLI exits 1 for every error it reports (2 is click's usage errors, 70 a bug).
    assert cls.exit_code == 1
    # Caller mistakes are 4xx; our own or the environment's failures are 5xx.
    if cls.http_status < 500:
        assert cls.user_error


@pytest.mark.parametrize(
    ("cls", "http_status"),
    [
        (DataIdError, 422),
        (DatasetNotFoundError, 404),
        (CollectionError, 404),
        (ConflictError, 409),
        (PermissionDeniedError, 403),
        (StorageError, 502),
        (ArtifactNotFoundError, 502),
        (MigrationRequiredError, 503),
        (QuerySyntaxError, 400),
        (ConfigError, 500),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else str(value),
)
def test_documented_http_status(cls: type[SkyButlerError], http_status: int) -> None:
    assert cls.http_status == http_status


def test_callers_catching_builtins_still_catch_ours() -> None:
    with pytest.raises(LookupError, match="no raw"):
        raise DatasetNotFoundError("no raw in run/a")
    with pytest.raises(FileNotFoundError):
        raise ArtifactNotFoundError("gone.fits")
    with pytest.raises(ImportError):
        raise MissingDependencyError("needs h5py")
    error = ArtifactNotFoundError("gone.fits")
    assert isinstance(error, OSError)
    assert str(error) == "gone.fits"


def test_every_code_has_an_anchor_in_docs_errors_md() -> None:
    assert ERRORS_DOC.is_file(), f"{ERRORS_DOC} is missing; it needs one '## <code>' heading per error code"
    lines = ERRORS_DOC.read_text(encoding="utf-8").splitlines()
    headings = {line.strip().removeprefix("## ").strip("`") for line in lines if line.startswith("## ")}
    missing = [f"{cls.code} ({cls.__name__})" for cls in ALL_ERRORS if cls.code not in headings]
    assert not missing, f"docs/errors.md has no '## <code>' heading for: {', '.join(missing)}"


def test_an_os_error_reading_a_local_artifact_is_a_storage_error(tmp_path: Path) -> None:
    """Not a raw OSError: a directory stands where the dataset's file was (permissions would do the same, but
    the tests run as root)."""
    from skybutler import Butler
    from skybutler.testing.sample import populate_sample

    Butler.create(tmp_path / "repo")
    with Butler(tmp_path / "repo", run="r") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        ref = butler.put({"a": 1}, "meta", instrument="Cam", visit=1, detector=1)
        path = Path(butler.get_uri(ref).removeprefix("file://"))
        path.unlink()
        (path / "inside").mkdir(parents=True)
        with pytest.raises(StorageError, match=r"Cannot .*permissions"):
            butler.get(ref)
