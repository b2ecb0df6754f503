"""Schema migrations through Alembic: report the pending revisions and apply them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skybutler.registry._engines import Database

__all__ = ["head_revision", "migrate"]

_SCRIPTS = Path(__file__).parent / "migrations"


def _config() -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def head_revision() -> str:
    """The newest revision among the migration scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()  # type: ignore[arg-type]
    assert head is not None
    return head


def migrate(db: Database, *, dry_run: bool = False) -> list[str]:
    """Upgrade the registry to the head revision; return the revisions applied (or pending, when dry)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = _config()
    script = ScriptDirectory.from_config(config)  # type: ignore[arg-type]
    with db.transaction() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    pending = [s.revision for s in script.iterate_revisions("head", current)][::-1]
    if dry_run or not pending:
        return pending
    with db.transaction() as conn:
        config.attributes["connection"] = conn  # type: ignore[attr-defined]
        command.upgrade(config, "head")  # type: ignore[arg-type]
    return pending
