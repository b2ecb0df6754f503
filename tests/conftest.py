"""Test configuration: the shipped skybutler fixtures."""

from __future__ import annotations

pytest_plugins = ["skybutler.testing.fixtures"]
