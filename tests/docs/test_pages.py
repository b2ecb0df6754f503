"""Every page of the documentation runs as written: README.md and docs/*.md, page by page, block by block.

The conventions a page follows are in docs/README.md ("Writing a page"); in short:

- each page runs in a fresh temporary folder (its *page folder*), with a namespace of its own, from top to bottom;
- a ``python`` block runs; when the text after it is ``Output:`` and then a plain fenced block, what the block
  printed must be that output (an exception counts as printed, as the interpreter shows it: ``Name: message``);
- a block of ``>>>`` lines is a doctest;
- a ``console`` block is a shell session: each ``$ command`` runs in the page folder and what it printed (stdout and
  stderr together) must be the lines under it; a ``skybutler`` command runs in process (fast), anything else in
  ``bash``; a command may fail only when its shown output says so (an ``error [code]: ...`` line);
- ``$ cat FILE`` of a file that does not exist yet writes the shown content to it first, so a page shows the
  input files it uses the way a terminal shows them;
- every other block (``text``, ``yaml``, plain, ...) is illustration, and ``<!-- skip: next -->`` before a block
  says it must not run (and why, in the text);
- shown output is compared after replacing, on both sides, the placeholders of `normalize`.

Sybil (a maintained doc-testing library) finds the blocks; the evaluators below run them.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sybil import Document, Example, Region, Sybil
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer
from sybil.parsers.markdown.skip import SkipParser

from skybutler.cli._main import cli
from skybutler.testing.fixtures import POSTGRES_URL, require_postgres

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: How the page folder is written in shown output (the real one is a fresh temporary folder).
PAGE_FOLDER = "/tmp/tut"

_PLACEHOLDERS = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<UUID>"),
    # a transaction time or a file's modification time: an ISO time with a fraction of a second
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d+\b"), "<TIME>"),
    # how long something took: "in 0.07 s"
    (re.compile(r"\b\d+\.\d+ s\b"), "<SECONDS> s"),
    # a size for people: "1.5 KiB", "12 B"
    (re.compile(r"\b\d+(\.\d+)? (B|KiB|MiB|GiB|TiB)\b"), "<SIZE>"),
]


def normalize(text: str, page_folder: str | None = None) -> str:
    """The text with its placeholders replaced, trailing spaces and blank edges dropped.

    Placeholders: UUIDs (``<UUID>``), ISO times with a fraction of a second (``<TIME>``: transaction and file
    times), durations such as ``0.07 s`` and sizes such as ``1.5 KiB``; the real page folder reads as `PAGE_FOLDER`.
    """
    if page_folder is not None:
        for form in {page_folder, os.path.realpath(page_folder)}:
            text = text.replace(form, PAGE_FOLDER)
    for pattern, placeholder in _PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()).strip("\n")


def _compare(what: str, shown: str, printed: str, page_folder: str) -> str | None:
    """None if ``printed`` is what the page shows, else a failure message with both."""
    if normalize(shown, page_folder) == normalize(printed, page_folder):
        return None
    return f"{what}\n--- the page shows:\n{shown.rstrip()}\n--- it printed:\n{printed.rstrip()}"


@dataclass
class PythonBlock:
    """A python block and the output shown after it (None: nothing shown, so nothing compared)."""

    source: str
    line: int
    output: str | None


@dataclass
class Session:
    """A console block: commands with their shown output."""

    steps: list[tuple[str, str]]


def _python_code(path: str, block: PythonBlock) -> Any:
    # leading newlines so that a traceback names the page's own line
    return compile("\n" * block.line + block.source, path, "exec")


def _run_python(example: Example) -> str | None:
    block: PythonBlock = example.parsed
    namespace = example.namespace
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            exec(_python_code(example.path, block), namespace)
        except Exception as exc:
            if block.output is None:
                raise
            printed.write(f"{type(exc).__name__}: {exc}\n")  # as the interpreter's last line shows it
    if block.output is None:
        return None
    return _compare(f"the python block at line {block.line + 1}", block.output, printed.getvalue(), str(Path.cwd()))


@dataclass
class DocTest:
    """A block of ``>>>`` examples."""

    examples: list[doctest.Example]
    line: int


_CHECKER = doctest.OutputChecker()


def _run_doctest(example: Example) -> str | None:
    """Each example runs as the interpreter runs it: an expression shows its repr, an exception its last line."""
    block: DocTest = example.parsed
    page_folder = str(Path.cwd())
    for case in block.examples:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            try:
                source = "\n" * (block.line + case.lineno) + case.source
                exec(compile(source, example.path, "single"), example.namespace)
            except Exception as exc:
                printed.write(f"{type(exc).__name__}: {exc}\n")
        want, got = normalize(case.want, page_folder) + "\n", normalize(printed.getvalue(), page_folder) + "\n"
        if not _CHECKER.check_output(want, got, doctest.ELLIPSIS):
            shown = f"--- the page shows:\n{case.want.rstrip()}"
            return f">>> {case.source.rstrip()}\n{shown}\n--- it printed:\n{got.rstrip()}"
    return None


def _shell(command: str) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    done = subprocess.run(
        ["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=120,
        check=False,
    )  # fmt: skip
    return done.returncode, done.stdout


def _in_process(command: str) -> list[str] | None:
    """The arguments of a plain ``skybutler`` command (no shell syntax), else None."""
    if re.search(r"[|<>;&$`*?]", command):
        return None
    argv = shlex.split(command)
    return argv[1:] if argv and argv[0] == "skybutler" else None


def _run_console(example: Example) -> str | None:
    session: Session = example.parsed
    for command, shown in session.steps:
        match = re.fullmatch(r"cat (\S+)", command)
        if match and not Path(match[1]).exists():
            Path(match[1]).write_text(shown.strip("\n") + "\n")
        argv = _in_process(command)
        if argv is not None:
            result = CliRunner().invoke(cli, argv, catch_exceptions=False)
            status, printed = result.exit_code, result.output
        else:
            status, printed = _shell(command)
        failure = _compare(f"$ {command}", shown, printed, str(Path.cwd()))
        if failure:
            return failure
        if status != 0 and not re.search(r"^(error \[|Error: )", shown, re.MULTILINE):
            return f"$ {command}\nexited {status} although its shown output shows no error:\n{printed}"
    return None


class DocsParser:
    """Finds the runnable blocks of a page: python (with the output shown after it), doctests and console."""

    def __init__(self) -> None:
        self.lexer = FencedCodeBlockLexer(language=r"[^\n]*", mapping={"language": "language", "source": "source"})

    def __call__(self, document: Document) -> Iterable[Region]:
        blocks = list(self.lexer(document))
        used: set[int] = set()
        for i, region in enumerate(blocks):
            if i in used:
                continue
            language = region.lexemes["language"].strip()
            source = region.lexemes["source"]
            line = document.text.count("\n", 0, region.start) + 1
            if language in ("python", "") and source.lstrip().startswith(">>>"):
                examples = doctest.DocTestParser().get_examples(str(source))
                yield Region(region.start, region.end, DocTest(examples, line), _run_doctest)
            elif language == "python":
                end, output = region.end, None
                if i + 1 < len(blocks):
                    after = blocks[i + 1]
                    between = document.text[region.end : after.start].strip()
                    if between.endswith("Output:") and after.lexemes["language"].strip() in ("", "text"):
                        end, output = after.end, str(after.lexemes["source"])
                        used.add(i + 1)
                yield Region(region.start, end, PythonBlock(str(source), line, output), _run_python)
            elif language == "console":
                yield Region(region.start, region.end, _session(str(source)), _run_console)


def _session(source: str) -> Session:
    steps: list[tuple[str, str]] = []
    lines = iter(source.splitlines())
    command: str | None = None
    shown: list[str] = []
    for line in lines:
        if line.startswith("$ "):
            if command is not None:
                steps.append((command, "\n".join(shown)))
            command, shown = line[2:], []
            while command.endswith("\\"):
                command = command[:-1] + next(lines).strip()
        elif command is not None:
            shown.append(line)
    if command is not None:
        steps.append((command, "\n".join(shown)))
    return Session(steps)


SYBIL = Sybil(parsers=[DocsParser(), SkipParser()], patterns=["*.md"])


def _close_butlers(namespace: dict[str, Any]) -> None:
    from skybutler.butler import Butler

    for value in namespace.values():
        if isinstance(value, Butler):
            value.close()


@pytest.fixture
def page_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh folder the page runs in; the environment a reader has (no test configuration).

    A page may register plug-ins in its process (docs/plugins.md does); they are dropped when it ends, so no
    other page or test sees them.
    """
    from skybutler.cli._main import commands
    from skybutler.datasets._storage_class import storage_classes
    from skybutler.formatters import formatters
    from skybutler.transfer._translators import metadata_translators
    from skybutler.transports import transports

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKYBUTLER_NO_PROGRESS", "1")
    registries: list[Any] = [commands, storage_classes, formatters, metadata_translators, transports]
    saved = [(dict(r._specs), dict(r._loaded)) for r in registries]
    yield tmp_path
    for registry, (specs, loaded) in zip(registries, saved, strict=True):
        registry._specs, registry._loaded = specs, loaded


#: Pages that do not run as written yet, with what is wrong (issue 19 item 10); strict: a page that starts to run
#: fails here until its line is removed.
PENDING: dict[str, str] = {}


def _pages() -> Iterator[Any]:
    for page in PAGES:
        name = str(page.relative_to(ROOT))
        marks = [pytest.mark.xfail(reason=PENDING[name], strict=True)] if name in PENDING else []
        yield pytest.param(page, id=name, marks=marks)


def _s3(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local S3 server (moto's) as AWS_ENDPOINT_URL, with the bucket ``survey-data`` the page uses."""
    import boto3

    endpoint = request.getfixturevalue("s3_endpoint")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="survey-data")


def _postgres(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh PostgreSQL database as ``DATABASE_URL``, on the test server; dropped, with all in it, at the end.

    A database of its own (not a schema) lets the page name its schemas as a reader would, while runs of the
    suite side by side never meet. The server is ``SKYBUTLER_TEST_POSTGRES_URL``'s; without one the page is
    skipped (a failure where ``CI`` is set), as every PostgreSQL test is.
    """
    import uuid

    import sqlalchemy as sa

    require_postgres()
    name = f"docs_{uuid.uuid4().hex[:12]}"
    server = sa.make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    request.addfinalizer(drop)
    monkeypatch.setenv("DATABASE_URL", sa.make_url(POSTGRES_URL).set(database=name).render_as_string(False))


#: What a page needs that a reader brings (a server, a store), set up as the page says.
PAGE_NEEDS = {"docs/concepts.md": [_postgres], "docs/storage.md": [_s3, _postgres]}


@pytest.mark.parametrize("page", _pages())
def test_page_runs_as_written(
    page: Path, page_folder: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    for need in PAGE_NEEDS.get(str(page.relative_to(ROOT)), []):
        need(request, monkeypatch)
    document = SYBIL.parse(page)
    try:
        for example in document.examples():
            example.evaluate()
    finally:
        _close_butlers(document.namespace)


#: Pages allowed a ``<!-- skip: next -->``, with why no fixture can serve (a block that needs what no test machine
#: has); a server, a store or another package gets a need in `PAGE_NEEDS` instead.
SKIPS_ALLOWED: dict[str, str] = {}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_no_block_is_skipped_where_a_fixture_can_serve(page: Path) -> None:
    """Issue 19: "pages that need a server, a cluster or a browser get fixtures, not skips"."""
    name = str(page.relative_to(ROOT))
    skips = page.read_text().count("<!-- skip: next -->")
    if name == "docs/README.md":  # the conventions page names the marker, in a sentence, without using it
        skips -= page.read_text().count("`<!-- skip: next -->`")
    assert skips == 0 or name in SKIPS_ALLOWED, f"{name} skips {skips} block(s): give the page a need in PAGE_NEEDS"


def test_normalize_replaces_only_the_documented_placeholders() -> None:
    shown = "0f290e1d-8e96-486f-aca4-dd5252dcb504,2025-01-01T00:00:00,2026-11-29T21:42:27.557077 in 0.07 s, 1.5 KiB"
    printed = "da25d069-7402-4bc8-8b60-15a356f37e4b,2025-01-01T00:00:00,2026-12-06T20:00:01.000001 in 1.20 s, 12 B"
    assert normalize(shown) == normalize(printed)
    # a time without a fraction is data (a valid time, a timespan), compared as is
    assert normalize("2025-01-01T00:00:00") != normalize("2025-01-02T00:00:00")
    assert normalize("Created a repository at /tmp/x1/repo.", "/tmp/x1") == "Created a repository at /tmp/tut/repo."


def test_a_session_is_split_into_commands_and_their_output() -> None:
    session = _session("$ cat a.csv\nx\n1\n$ skybutler create \\\n    repo\nCreated.\n$ true")
    assert session.steps == [("cat a.csv", "x\n1"), ("skybutler create repo", "Created."), ("true", "")]


def test_a_wrong_output_fails_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "page.md"
    page.write_text("```python\nprint(1 + 1)\n```\n\nOutput:\n\n```\n3\n```\n")
    examples = list(SYBIL.parse(page).examples())
    assert len(examples) == 1
    with pytest.raises(AssertionError, match="the page shows:\n3\n--- it printed:\n2"):
        examples[0].evaluate()


def _run_page(page: Path) -> None:
    for example in SYBIL.parse(page).examples():
        example.evaluate()


def test_a_failing_command_fails_unless_its_error_is_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "page.md"
    page.write_text("```console\n$ skybutler verify nothere\n```\n")
    with pytest.raises(AssertionError, match="nothere"):
        _run_page(page)
    page.write_text("```console\n$ skybutler verify nothere\nerror [no-repository]: No repository\n```\n")
    with pytest.raises(AssertionError, match="the page shows"):  # the message shown must be the real one
        _run_page(page)
