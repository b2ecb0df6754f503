"""`Butler` is the one interface: every implementation defines all of it, with the same signatures, and no more.

A public method added to `DirectButler` or `RemoteButler` (or to their collections objects) but not to the
interface fails here, so a later issue cannot widen one implementation and leave the other behind.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from skybutler.butler import Butler, ButlerCollections, DirectButler, butler_implementations
from skybutler.butler._collections import DirectButlerCollections
from skybutler.client import RemoteButler
from skybutler.client._collections import RemoteCollections
from skybutler.errors import ConfigError, SkyButlerError

PAIRS = [
    (Butler, DirectButler),
    (ButlerCollections, DirectButlerCollections),
    (Butler, RemoteButler),
    (ButlerCollections, RemoteCollections),
]
IDS = ["Butler", "ButlerCollections", "RemoteButler", "RemoteCollections"]


def _public(cls: type) -> dict[str, Any]:
    """Public callables and properties of ``cls`` (inherited ones included), by name."""
    return {
        name: inspect.getattr_static(cls, name)
        for name in dir(cls)
        if not name.startswith("_") and name not in {"registry", "datastore", "config"}
    }


@pytest.mark.parametrize(("interface", "implementation"), PAIRS, ids=IDS)
def test_the_implementation_defines_every_abstract_method(interface: type, implementation: type) -> None:
    assert interface.__abstractmethods__, "the interface declares its methods abstract"  # type: ignore[attr-defined]
    assert implementation.__abstractmethods__ == frozenset()  # type: ignore[attr-defined]
    for name in interface.__abstractmethods__:  # type: ignore[attr-defined]
        assert name in implementation.__dict__ or any(
            name in base.__dict__ for base in implementation.__mro__ if not issubclass(interface, base)
        ), f"{implementation.__name__}.{name} is only the interface's abstract declaration"


@pytest.mark.parametrize(("interface", "implementation"), PAIRS, ids=IDS)
def test_the_implementation_has_exactly_the_interface_public_names_and_signatures(
    interface: type, implementation: type
) -> None:
    declared, defined = _public(interface), _public(implementation)
    assert sorted(set(defined) - set(declared)) == [], "public methods missing from the interface"
    assert sorted(set(declared) - set(defined)) == []
    for name, member in declared.items():
        if isinstance(member, property) or not callable(getattr(interface, name)):
            continue
        want = inspect.signature(getattr(interface, name))
        got = inspect.signature(getattr(implementation, name))
        assert str(got) == str(want), f"{implementation.__name__}.{name}{got} differs from the interface's {want}"


def test_butler_opens_the_direct_implementation_for_a_root(tmp_path: Path) -> None:
    root = Butler.create(tmp_path / "repo")
    with Butler(root, run="r") as butler:
        assert type(butler) is DirectButler
        assert isinstance(butler, Butler)
        assert repr(butler).startswith("DirectButler(")
    with DirectButler(root) as direct:  # the implementation can be named too
        assert direct.default_collections == []


def test_the_interface_alone_cannot_be_made_without_an_implementation() -> None:
    class Partial(Butler):
        def close(self) -> None:
            pass

    with pytest.raises(TypeError, match="abstract"):
        Partial()


def test_a_registered_implementation_answers_the_urls_it_claims(tmp_path: Path) -> None:
    """The rule of `Butler.__new__`: http(s) roots go to an implementation that claims them, others to direct."""
    made: list[tuple[str, dict[str, Any]]] = []

    class Claiming(DirectButler):
        @classmethod
        def accepts_root(cls, root: str) -> bool:
            return root.startswith("https://claimed.example")

        def __init__(self, root: Any, **kwargs: Any) -> None:  # records the call instead of connecting anywhere
            made.append((str(root), kwargs))

    butler_implementations.register("remote", Claiming, replace=True)  # in place of the built-in client
    try:
        butler = Butler("https://claimed.example/repo", run="r")
        assert type(butler) is Claiming
        assert made == [("https://claimed.example/repo", {"run": "r"})]
        remote = Butler.from_server("https://other.example", token="t")
        assert type(remote) is Claiming
        given = {"token": "t", "run": None, "collections": None, "writeable": None}
        assert made[-1] == ("https://other.example", given)
        local = Butler.create(tmp_path / "repo")
        with Butler(local) as direct:
            assert type(direct) is DirectButler  # a local root never asks the others
    finally:
        butler_implementations.register("remote", "skybutler.client:RemoteButler", replace=True)


def test_from_server_without_a_remote_implementation_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(butler_implementations._specs, "remote")  # as where the client is not installed
    with pytest.raises(ConfigError, match=r"skybutler\[client\]") as info:
        Butler.from_server("https://example.org/repo")
    assert isinstance(info.value, SkyButlerError)
