"""The reference's formatter class paths of imported files, kept so that our exports write them back.

A file the reference butler wrote is recorded here with the formatter that reads it (``afw_fits``,
``opaque``, ...), a name the reference does not know.  So that the reference can import what we export, the
class path its export named (``lsst.obs.base.formatters.fitsExposure.FitsExposureFormatter``) is kept per
dataset type and our formatter, in the registry's ``butler_attributes`` table (one row, a JSON object: no
schema change), written in the import's transaction; the export writes it in place of our name.

A repository's files of one dataset type come from one formatter in practice; if an import brings a second
class path for the same dataset type and reader, the first is kept.  The row is read and rewritten whole, so
writers take a lock on it first: without it two imports at once on PostgreSQL would each read the row as it was,
and the second to commit would drop the first's keys (or fail on the row's key when neither found one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from skybutler.registry import Registry

__all__ = ["load_origins", "save_origins"]

ATTRIBUTE = "reference_formatters"
_SEP = "\x1f"  # between the dataset type name and our formatter name in a key (in neither)


def load_origins(registry: Registry) -> dict[tuple[str, str], str]:
    """(dataset type, our formatter) → the reference's formatter class path of the files imported so."""
    t = registry.tables.attributes
    with registry.db.transaction(write=False) as conn:
        value = conn.execute(sa.select(t.c.value).where(t.c.name == ATTRIBUTE)).scalar_one_or_none()
    if value is None:
        return {}
    out: dict[tuple[str, str], str] = {}
    for key, path in json.loads(value).items():
        dataset_type, _, formatter = key.partition(_SEP)
        out[dataset_type, formatter] = path
    return out


def save_origins(registry: Registry, origins: Mapping[tuple[str, str], str]) -> None:
    """Add ``origins`` to the kept ones (the first kept for a key wins), in the caller's transaction."""
    if not origins:
        return
    t = registry.tables.attributes
    with registry.db.transaction() as conn:
        registry.db.lock(conn, f"attribute:{ATTRIBUTE}")  # read after the lock: READ COMMITTED sees the last writer's
        value = conn.execute(sa.select(t.c.value).where(t.c.name == ATTRIBUTE)).scalar_one_or_none()
        kept: dict[str, str] = {} if value is None else json.loads(value)
        added = {f"{d}{_SEP}{f}": path for (d, f), path in origins.items() if f"{d}{_SEP}{f}" not in kept}
        if not added:
            return
        text = json.dumps({**kept, **added}, sort_keys=True)
        if value is None:
            conn.execute(t.insert().values(name=ATTRIBUTE, value=text))
        else:
            conn.execute(t.update().where(t.c.name == ATTRIBUTE).values(value=text))
