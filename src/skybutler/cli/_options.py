"""Options shared by the subcommands, shell completion of names, and opening the repository.

Nothing here imports the library at module level: the Butler is imported inside `open_butler`, so loading a
command module for ``--help`` costs only click.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.shell_completion import CompletionItem

if TYPE_CHECKING:
    from skybutler.butler import Butler, DirectButler
    from skybutler.datasets import DatasetRef

__all__ = [
    "collections_option",
    "complete_collections",
    "complete_dataset_types",
    "confirm",
    "creating_collection",
    "data_id_option",
    "dataset_type_argument",
    "direct",
    "find_refs",
    "limit_option",
    "merged_data_id",
    "open_butler",
    "order_by_option",
    "parse_data_id",
    "read_text",
    "repo_argument",
    "resolve_collections",
    "split_names",
    "where_option",
    "yes_dry_run_options",
]

F = TypeVar("F", bound=Callable[..., Any])

_GLOB = frozenset("*?[")


def open_butler(ctx: click.Context, repo: str, *, writeable: bool = False) -> Butler:
    """Open the repository for this command; it is closed when the command ends."""
    from skybutler.butler import Butler
    from skybutler.cli._main import started

    butler = ctx.with_resource(Butler(repo, writeable=writeable))
    started()
    return butler


def direct(butler: Butler, what: str) -> DirectButler:
    """``butler`` as the `DirectButler` that ``what`` (a phrase: "verify the cache") needs, or a `ConfigError`.

    Some commands work on the repository's database or files themselves, which only a direct butler holds.
    """
    from skybutler.butler import DirectButler
    from skybutler.errors import ConfigError

    if not isinstance(butler, DirectButler):
        raise ConfigError(f"To {what}, open the repository by its root (not through a server): {butler!r}.")
    return butler


def split_names(values: Iterable[str]) -> list[str]:
    """Names given as repeated options and/or comma-separated lists, in order, without duplicates."""
    out: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    return out


def resolve_collections(butler: Butler, values: Iterable[str]) -> list[str]:
    """Collection names with globs expanded (sorted within each glob); exact names are kept as given.

    Raises
    ------
    CollectionError
        A glob matches no collection (an exact name is checked by the call that uses it).
    """
    from skybutler.errors import CollectionError

    out: list[str] = []
    for name in split_names(values):
        if _GLOB & set(name):
            matched = butler.query_collections(name)
            if not matched:
                raise CollectionError(f"No collection matches {name!r}; see `skybutler query-collections`.")
            out.extend(m for m in matched if m not in out)
        elif name not in out:
            out.append(name)
    return out


def parse_data_id(text: str) -> dict[str, str]:
    """``"instrument=Cam,visit=12"`` -> ``{"instrument": "Cam", "visit": "12"}`` (values typed later, by field)."""
    out: dict[str, str] = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE[,KEY=VALUE...], got {text!r}")
        out[key.strip()] = value.strip()
    return out


# -- shell completion -----------------------------------------------------------------------------------------
def _repo_of(ctx: click.Context) -> str | None:
    repo = ctx.params.get("repo")
    if isinstance(repo, str):
        return repo
    # Completing an option's value (``-c <TAB>``) stops click's parse early, leaving the arguments unparsed.
    return next((a for a in ctx.args if not a.startswith("-")), None)


def _complete(ctx: click.Context, incomplete: str, names: Callable[[Butler], list[str]]) -> list[CompletionItem]:
    """Names from the repository given earlier on the line; nothing (not an error) when it cannot be opened."""
    repo = _repo_of(ctx)
    if repo is None:
        return []
    prefix = incomplete.rpartition(",")[0]
    prefix = prefix + "," if prefix else ""
    last = incomplete.rpartition(",")[2]
    try:
        from skybutler.butler import Butler

        with Butler(repo) as butler:
            found = names(butler)
    except Exception:  # completion must never print a traceback into the user's shell
        return []
    return [CompletionItem(prefix + n) for n in found if n.startswith(last)]


def complete_collections(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion of collection names (comma-separated lists complete their last item)."""
    return _complete(ctx, incomplete, lambda b: b.query_collections())


def complete_dataset_types(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion of dataset type names."""
    return _complete(ctx, incomplete, lambda b: [dt.name for dt in b.query_dataset_types()])


# -- options --------------------------------------------------------------------------------------------------
repo_argument = click.argument("repo", metavar="REPO", type=str)

collections_option = click.option(
    "--collections",
    "-c",
    multiple=True,
    metavar="NAMES",
    shell_complete=complete_collections,
    help="Collections to search, in order (repeat or comma-separate; globs allowed).",
)


def _keep_parses(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A command given a where expression keeps its parse on disk, so the same shape needs no lark next time."""
    if value.strip():
        from skybutler.query import enable_parse_cache

        enable_parse_cache()
    return value


where_option = click.option(
    "--where", "-w", default="", metavar="EXPR", callback=_keep_parses,
    help="Query expression, e.g. \"visit > 5 AND band = 'r'\".",
)  # fmt: skip

data_id_option = click.option(
    "--data-id",
    "-d",
    "data_id",
    multiple=True,
    metavar="KEY=VALUE,...",
    help="Data ID constraints, e.g. instrument=Cam,detector=3 (repeatable).",
)

limit_option = click.option("--limit", type=click.IntRange(min=1), default=None, help="Return at most this many.")

order_by_option = click.option(
    "--order-by", multiple=True, metavar="FIELD", help="Sort by a dimension or field; '-visit' for descending."
)


def dataset_type_argument(name: str = "dataset_type", *, nargs: int = 1, required: bool = True) -> Callable[[F], F]:
    """A dataset-type-name argument that completes from the repository."""
    metavar = "DATASET_TYPE" + ("..." if nargs != 1 else "")
    return click.argument(
        name, nargs=nargs, required=required, metavar=metavar if required else f"[{metavar}]",
        shell_complete=complete_dataset_types,
    )  # fmt: skip


def yes_dry_run_options(func: F) -> F:
    """``--yes`` (do not ask) and ``--dry-run`` (say what would be removed, change nothing)."""
    func = click.option("--dry-run", is_flag=True, help="Print what would be removed and change nothing.")(func)
    return click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")(func)


def confirm(what: Sequence[str], action: str, *, yes: bool, dry_run: bool) -> bool:
    """List what an operation would touch, then ask (unless ``yes``); return whether to go ahead.

    With ``dry_run`` the list is the command's output (stdout) and the answer is always no.  Otherwise the
    list goes to stderr with the question: stdout keeps only the outcome (a ``--format json`` report stays
    parseable), and with stdout redirected the user still sees what they are asked to confirm.  Without a
    terminal and without ``yes`` click's prompt reads end-of-file and aborts (exit 1), so a script never
    deletes by accident.
    """
    if not what:
        click.echo("Nothing matches: nothing was changed.")
        return False
    click.echo(f"Would {action}:" if dry_run else f"About to {action}:", err=not dry_run)
    for line in what:
        click.echo(f"  {line}", err=not dry_run)
    if dry_run:
        click.echo("Dry run: nothing was changed.")
        return False
    if not yes:
        click.confirm(f"{action.capitalize()}?", abort=True, err=True)
    return True


@contextmanager
def creating_collection(butler: Butler, name: str, collection_type: str) -> Iterator[bool]:
    """Register ``name`` if missing, for a block that fills it; yield whether it is new.

    The registration and the block are one registry transaction, so a command whose work is refused (a
    conflict, a dataset type that is not a calibration) does not leave a new, empty collection behind.
    """
    registry = direct(butler, f"create the collection {name!r} with its contents").registry
    try:
        with registry.db.transaction():
            yield butler.collections.register(name, collection_type)
    except BaseException:
        registry.collections.forget_cached()  # the registration may have been rolled back
        raise


def merged_data_id(values: Iterable[str]) -> dict[str, str]:
    """Every ``--data-id`` given, merged into one set of constraints."""
    out: dict[str, str] = {}
    for value in values:
        out.update(parse_data_id(value))
    return out


def find_refs(
    butler: Butler,
    dataset_types: Sequence[str],
    collections: Sequence[str],
    *,
    where: str = "",
    data_id: Iterable[str] = (),
    find_first: bool = True,
    limit: int | None = None,
    order_by: Sequence[str] = (),
    at: str | None = None,
) -> tuple[list[DatasetRef], Any]:
    """The datasets the shared options select (each once), and the query result (for `explain_no_results`).

    Without ``--collections`` every RUN collection is searched, and all datasets are kept (each dataset lives
    in exactly one run, so nothing is found twice); with them, the first along the path unless ``find_first``
    is off.  CALIBRATION collections in the path are searched only with ``at`` (the certification valid then).
    """
    from skybutler.registry import CollectionType

    names = resolve_collections(butler, collections)
    if not names:
        names = butler.query_collections(types=[CollectionType.RUN])
        find_first = False
    types = split_names(dataset_types) or ["*"]
    if not names:
        return [], None
    results = butler.query_datasets(
        types, collections=names, where=where, data_id=merged_data_id(data_id), find_first=find_first,
        limit=limit, order_by=list(order_by) or None, at=at,
    )  # fmt: skip
    # Without find-first a dataset reached through several collections comes once per collection: list it once.
    return list({ref.id: ref for ref in results}.values()), results


def read_text(path: object, *, encoding: str = "utf-8") -> str:
    """The text of an input file named on the command line (``-``: stdin).

    A file that cannot be read or is not text in ``encoding`` is the user's to fix, so it is a one-line
    `ConfigError` naming the file and the first bad byte, never a traceback.
    """
    from skybutler.errors import ConfigError

    try:
        with click.open_file(str(path), "rb") as stream:
            data: bytes = stream.read()
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8."
        ) from None


def yaml_rows(text: str, path: object, key: str, what: str) -> list[dict[str, Any]]:
    """Rows of a YAML table: a list of mappings, or ``{key: [...]}``; anything else is a one-line `ConfigError`.

    ``what`` describes a row for the message (``"records (mappings of field: value)"``).
    """
    import yaml

    from skybutler.errors import ConfigError

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if isinstance(data, dict) and isinstance(data.get(key), list):
        data = data[key]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ConfigError(f"{path} must hold a list of {what}, or {{{key}: [...]}}.")
    return [dict(r) for r in data]
