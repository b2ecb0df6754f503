"""The command line's bytecode of skybutler's modules in the per-user cache, when Python writes none itself."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybutler import _bytecode

SRC = Path(__file__).parent.parent / "src"


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path, list[str]]]:
    """A package ``bcpkg`` (source only) on sys.path, bytecode writing off, a `Finder` for it; and the names
    of the modules it compiled from source (``compiled``)."""
    root = tmp_path / "src" / "bcpkg"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "mod.py").write_text("VALUE = 1\n")
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    monkeypatch.syspath_prepend(str(root.parent))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    compiled: list[str] = []
    original = _bytecode.CachingLoader.source_to_code

    def counting(self: _bytecode.CachingLoader, data: object, path: object, **kwargs: object) -> object:
        compiled.append(self.name)
        return original(self, data, path)  # type: ignore[arg-type]

    monkeypatch.setattr(_bytecode.CachingLoader, "source_to_code", counting)
    finder = _bytecode.Finder(folder, "bcpkg")
    sys.meta_path.insert(0, finder)
    try:
        yield root, folder, compiled
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n == "bcpkg" or n.startswith("bcpkg.")]:
            del sys.modules[name]


def _fresh_import(name: str) -> Any:
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return importlib.import_module(name)


def test_a_module_is_compiled_once_and_its_code_read_back(package: tuple[Path, Path, list[str]]) -> None:
    root, folder, compiled = package
    assert _fresh_import("bcpkg.mod").VALUE == 1
    assert compiled == ["bcpkg.mod"]
    assert (folder / "bcpkg.mod.pyc").exists()
    assert not (root / "__pycache__").exists()  # nothing beside the sources: the user's setting holds there
    assert _fresh_import("bcpkg.mod").VALUE == 1
    assert compiled == ["bcpkg.mod"]  # read back, not compiled again


def test_a_changed_source_is_compiled_again(package: tuple[Path, Path, list[str]]) -> None:
    root, _folder, compiled = package
    _fresh_import("bcpkg.mod")
    before = (root / "mod.py").stat()
    (root / "mod.py").write_text("VALUE = 2\n")  # same size: the modification time tells
    os.utime(root / "mod.py", ns=(before.st_atime_ns, before.st_mtime_ns + 1))
    assert _fresh_import("bcpkg.mod").VALUE == 2
    (root / "mod.py").write_text("VALUE = 33\n")
    os.utime(root / "mod.py", ns=(before.st_atime_ns, before.st_mtime_ns + 1))  # same time: the size tells
    assert _fresh_import("bcpkg.mod").VALUE == 33
    assert compiled == ["bcpkg.mod"] * 3


def test_a_damaged_or_foreign_entry_is_compiled_again(package: tuple[Path, Path, list[str]]) -> None:
    _root, folder, compiled = package
    _fresh_import("bcpkg.mod")
    entry = folder / "bcpkg.mod.pyc"
    entry.write_bytes(entry.read_bytes()[:-5])  # cut short
    assert _fresh_import("bcpkg.mod").VALUE == 1
    entry.write_bytes(b"not bytecode")
    assert _fresh_import("bcpkg.mod").VALUE == 1
    assert compiled == ["bcpkg.mod"] * 3
    assert _fresh_import("bcpkg.mod").VALUE == 1
    assert len(compiled) == 3  # the last compilation replaced the damaged entry


def test_an_unwritable_folder_costs_compilations_not_imports(package: tuple[Path, Path, list[str]]) -> None:
    _root, folder, compiled = package
    if os.geteuid() == 0:
        shutil.rmtree(folder)
        folder.write_text("a file where the folder should be")  # root writes to a read-only folder anyway
    else:
        folder.chmod(0o500)
    try:
        assert _fresh_import("bcpkg.mod").VALUE == 1
        assert _fresh_import("bcpkg.mod").VALUE == 1
    finally:
        if folder.is_dir():
            folder.chmod(0o700)
    assert compiled == ["bcpkg.mod"] * 2


def test_python_s_own_bytecode_and_setting_are_left_alone(
    package: tuple[Path, Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, folder, compiled = package
    import py_compile

    py_compile.compile(str(root / "mod.py"), doraise=True)  # as pip or compileall leave it
    assert type(_fresh_import("bcpkg.mod").__loader__) is not _bytecode.CachingLoader
    shutil.rmtree(root / "__pycache__")
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # Python writes bytecode itself: no hook
    assert type(_fresh_import("bcpkg.mod").__loader__) is not _bytecode.CachingLoader
    assert compiled == []
    assert not (folder / "bcpkg.mod.pyc").exists()


def test_install_needs_bytecode_off_and_a_private_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SKYBUTLER_NO_CACHE", raising=False)
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, _bytecode.Finder)])
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    assert _bytecode.install() is None
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setenv("SKYBUTLER_NO_CACHE", "1")
    assert _bytecode.install() is None
    monkeypatch.delenv("SKYBUTLER_NO_CACHE")
    (tmp_path / "skybutler").mkdir(mode=0o777)
    (tmp_path / "skybutler").chmod(0o777)  # others could plant code there: never load from it
    assert _bytecode.install() is None
    (tmp_path / "skybutler").chmod(0o700)
    finder = _bytecode.install()
    assert finder is not None
    assert finder.folder.parent == tmp_path / "skybutler" / f"bytecode-{sys.implementation.cache_tag}"
    assert _bytecode.install() is finder  # once per process
    assert sys.meta_path[0] is finder


def test_command_processes_share_the_cache(tmp_path: Path) -> None:
    # four processes at once on an empty cache, then one more: the same output, entries written whole
    src = tmp_path / "src"
    shutil.copytree(SRC, src, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1", "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("SKYBUTLER_NO_CACHE", None)
    argv = [sys.executable, "-m", "skybutler.cli", "config", "--help"]
    runs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs)
    again = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    assert len(set(outputs)) == 1
    assert again == outputs[0]
    (folder,) = (tmp_path / "skybutler" / f"bytecode-{sys.implementation.cache_tag}").iterdir()
    assert (folder / "skybutler.cli._repo.pyc").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no partial file left
    assert not list(src.rglob("__pycache__"))


def test_a_library_process_uses_the_cache_too(tmp_path: Path) -> None:
    # `import skybutler` puts the hook in place: a program's first Butler.create / open reads its modules' code
    src = tmp_path / "src"
    shutil.copytree(SRC, src, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1", "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("SKYBUTLER_NO_CACHE", None)
    code = (
        "import sys, skybutler.butler._direct as d; from skybutler import _bytecode; "
        "print(type(d.__loader__).__name__, _bytecode.installed() is not None)"
    )
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.split() == ["CachingLoader", "True"]
    (folder,) = (tmp_path / "skybutler" / f"bytecode-{sys.implementation.cache_tag}").iterdir()
    entry = folder / "skybutler.butler._direct.pyc"
    written = entry.stat().st_mtime_ns
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert again.stdout == first.stdout
    assert entry.stat().st_mtime_ns == written  # read back, not compiled and written again
    assert (folder / "skybutler.errors.pyc").exists()  # imported after the hook, by skybutler itself
    assert not list(src.rglob("__pycache__"))
    env["SKYBUTLER_NO_CACHE"] = "1"
    off = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert off.stdout.split() == ["SourceFileLoader", "False"]
