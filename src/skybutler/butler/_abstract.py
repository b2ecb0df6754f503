"""`interface_method`: an abstract method of `Butler` that the type checker does not count as abstract."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["interface_method"]

F = TypeVar("F", bound=Callable[..., Any])


def interface_method(func: F) -> F:
    """`abc.abstractmethod` at run time (a subclass missing one cannot be made), a plain method to mypy.

    ``Butler(root)`` is how users open a repository: `Butler.__new__` picks the implementation, so calling the
    abstract class is right.  mypy refuses any call of a class it sees as abstract ("Cannot instantiate
    abstract class"), which would make every typed ``Butler(root)`` an error (the reference butler documents
    that mypy complains about exactly this).  Declaring the interface's methods through this function keeps
    Python's check and lets typed code call ``Butler(root)``; tests/butler/test_interface.py checks that
    every implementation defines every one of them, with the same signature.
    """
    return abstractmethod(func)
