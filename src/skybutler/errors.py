"""Every exception skybutler raises on purpose, in one hierarchy.

::

    SkyButlerError                                    HTTP
    ├── DataIdError (ValueError)                      422  missing, unknown or conflicting keys
    ├── DatasetTypeError (ValueError)                 422  unregistered, or re-registered differently
    ├── QuerySyntaxError (ValueError)                 400  position and caret under the expression
    ├── ExportFormatError (ValueError)                422  malformed export file; says where in it
    ├── ConfigError (ValueError)                      500  invalid configuration or repository layout
    │   ├── PluginNotFoundError (LookupError)              lists the installed names
    │   └── MissingDependencyError (ImportError)           says which extra to install
    ├── DatasetNotFoundError (LookupError)            404  collections searched; where it does exist
    ├── CollectionError (LookupError)                 404  missing collection or wrong collection type
    ├── ConflictError                                 409  uniqueness; overlapping validity ranges
    ├── PermissionDeniedError (PermissionError)       403  read-only butler, or no run to write into
    ├── StorageError (OSError)                        502  the bytes could not be written or read
    │   ├── ArtifactNotFoundError (FileNotFoundError)      registered dataset, missing file
    │   └── CorruptArtifactError                           size or checksum differs from the record
    ├── FormatterError                                500  cannot read or write; wrong Python type on put
    └── MigrationRequiredError                        503  repository schema differs from the code's

Each class has a stable ``code`` (documented in ``docs/errors.md``), the ``exit_code`` the CLI uses and the
``http_status`` a server answers with.  Every class also derives from the builtin exception that callers
already catch, so ``except LookupError`` keeps working.

The exit code is 1 for every class, as issue 8 asks (0 ok, 1 an error with a one-line message, 2 a usage
error): a script tells the kinds apart by the ``error [<code>]:`` prefix the CLI prints on stderr, not by
the status.  Usage errors (a missing argument, an unknown option) are click's and exit 2; an unexpected
exception (a bug) exits 70 (``EX_SOFTWARE``).  The attribute stays (DESIGN §9.2): the CLI exits with it.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ArtifactNotFoundError",
    "CollectionError",
    "ConfigError",
    "ConflictError",
    "CorruptArtifactError",
    "DataIdError",
    "DatasetNotFoundError",
    "DatasetTypeError",
    "ExportFormatError",
    "FormatterError",
    "MigrationRequiredError",
    "MissingDependencyError",
    "PermissionDeniedError",
    "PluginNotFoundError",
    "QuerySyntaxError",
    "SkyButlerError",
    "StorageError",
    "error_for_code",
]


class SkyButlerError(Exception):
    """Base class of every error skybutler raises on purpose."""

    code: ClassVar[str] = "skybutler-error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1
    user_error: ClassVar[bool] = False


class DataIdError(SkyButlerError, ValueError):
    """A data ID has missing, unknown, ill-typed or conflicting keys, or names no known record."""

    code = "data-id"
    http_status = 422
    user_error = True


class DatasetTypeError(SkyButlerError, ValueError):
    """A dataset type is not registered, or is re-registered with a different definition."""

    code = "dataset-type"
    http_status = 422
    user_error = True


class QuerySyntaxError(SkyButlerError, ValueError):
    """A query expression could not be parsed."""

    code = "query-syntax"
    http_status = 400
    user_error = True


class ExportFormatError(SkyButlerError, ValueError):
    """An export file to import is malformed: the message gives the place in it (``data[3].records[0].id``)."""

    code = "export-format"
    http_status = 422
    user_error = True


class ConfigError(SkyButlerError, ValueError):
    """The configuration or repository layout is invalid."""

    code = "config"
    user_error = True


class PluginNotFoundError(ConfigError, LookupError):
    """No built-in or installed plug-in has the requested name."""

    code = "plugin-not-found"


class MissingDependencyError(ConfigError, ImportError):
    """A plug-in exists but the optional package it needs is not installed."""

    code = "missing-dependency"


class DatasetNotFoundError(SkyButlerError, LookupError):
    """No dataset matches the dataset type, data ID and collections given."""

    code = "dataset-not-found"
    http_status = 404
    user_error = True


class CollectionError(SkyButlerError, LookupError):
    """A collection does not exist, or has the wrong type for the operation."""

    code = "collection"
    http_status = 404
    user_error = True


class ConflictError(SkyButlerError):
    """An operation would break a uniqueness rule (same dataset type, data ID and run; same name)."""

    code = "conflict"
    http_status = 409
    user_error = True


class PermissionDeniedError(SkyButlerError, PermissionError):
    """The butler may not perform this operation (read-only, or no run to write into)."""

    code = "permission-denied"
    http_status = 403
    user_error = True


class StorageError(SkyButlerError, OSError):
    """Bytes could not be written to or read from the datastore."""

    code = "storage"
    http_status = 502


class ArtifactNotFoundError(StorageError, FileNotFoundError):
    """A registered dataset's file is missing from storage."""

    code = "artifact-not-found"


class CorruptArtifactError(StorageError):
    """A dataset's file differs from what was recorded when it was written (size or checksum)."""

    code = "corrupt-artifact"


class FormatterError(SkyButlerError):
    """An object could not be written or read by its formatter (including a put of the wrong Python type)."""

    code = "formatter"
    user_error = True


class MigrationRequiredError(SkyButlerError):
    """The repository's schema version differs from the one this code expects."""

    code = "migration-required"
    http_status = 503


def _all_subclasses(cls: type[SkyButlerError]) -> list[type[SkyButlerError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


def error_for_code(code: str) -> type[SkyButlerError]:
    """Return the error class with this ``code``, or `SkyButlerError` when none has it.

    Used to rebuild errors that crossed a process boundary (CLI JSON output, the HTTP API).
    """
    for cls in _all_subclasses(SkyButlerError):
        if cls.code == code:
            return cls
    return SkyButlerError
