"""Alembic migrations of the registry's static schema (see docs/concepts.md, "Schema versions")."""
