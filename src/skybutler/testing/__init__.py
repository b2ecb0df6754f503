"""Shipped test support: pytest fixtures (``skybutler.testing.fixtures``) and conformance suites."""

from __future__ import annotations

__all__: list[str] = []
