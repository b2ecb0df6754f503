"""Run records and software environments in the registry: each environment stored once, shared by runs.

A run record says who made a RUN collection, where and with what: host, user, command line, working folder,
start and end, an optional configuration, and the environments (distributions and versions) it ran in; a
run written by several workers lists each distinct one.  The environment rows are found by the digest of
their content, and by the cheap fingerprint of an installation (`skybutler.butler._environment`) so that a
known one costs one read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.registry._pg_writes import queue_insert

if TYPE_CHECKING:
    from skybutler.datasets import DatasetRef
    from skybutler.registry._engines import Database
    from skybutler.registry._schema import StaticTables

__all__ = ["Environment", "RunRecord", "RunRecords"]


@dataclass(frozen=True)
class Environment:
    """A software environment: the Python version, platform and every installed distribution's version."""

    digest: str
    """SHA-256 of the content: equal environments have equal digests, wherever they were recorded."""
    python: str
    platform: str
    packages: Mapping[str, str] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """A plain mapping (for export and for a worker's output record)."""
        return {
            "digest": self.digest,
            "python": self.python,
            "platform": self.platform,
            "packages": dict(self.packages),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Environment:
        """The inverse of `to_json`."""
        return cls(data["digest"], data["python"], data["platform"], dict(data["packages"]))


@dataclass(frozen=True)
class RunRecord:
    """Who made a run, where, when and with what (`Butler.run_info`)."""

    run: str
    host: str
    user: str
    command: str
    cwd: str
    started: int
    """UTC ns of the first write (or of entering `Butler.run_context`)."""
    ended: int | None
    """UTC ns of leaving `Butler.run_context`; for runs written outside one, of the last write."""
    config: Mapping[str, Any] | None
    environments: Sequence[Environment] = field(default_factory=tuple)
    task_configs: Mapping[str, DatasetRef] = field(default_factory=dict)
    """Task label → the ``<label>_config`` dataset stored in the run (`Butler.put_config`)."""


class RunRecords:
    """Store and read environments and run records."""

    def __init__(self, db: Database, tables: StaticTables) -> None:
        self._db = db
        self._t = tables.provenance
        self._dataset = tables.dataset
        self._dataset_type = tables.dataset_type
        self.known_fingerprints: dict[str, int] = {}
        """Installation fingerprints this process has resolved to environment ids in this registry."""

    # -- environments -------------------------------------------------------------------------------------------
    def env_by_fingerprint(self, fingerprint: str) -> int | None:
        """The id of the environment recorded for an installation fingerprint (None: never seen here)."""
        f = self._t.fingerprint
        rows = self._db.read_rows(
            sa.select(f.c.env_id).where(f.c.fingerprint == sa.bindparam("fp")), {"fp": fingerprint}
        )
        return rows[0][0] if rows else None

    def store_environment(self, env: Environment, fingerprint: str | None = None) -> int:
        """The id of ``env``, stored if new (once per digest); ``fingerprint`` is remembered to point at it."""
        t, f = self._t.environment, self._t.fingerprint
        with self._db.transaction() as conn:
            env_id = conn.execute(sa.select(t.c.env_id).where(t.c.digest == env.digest)).scalar()
            if env_id is None:
                row = {
                    "digest": env.digest, "python": env.python, "platform": env.platform,
                    "packages": json.dumps(dict(sorted(env.packages.items()))), "created": time.time_ns(),
                }  # fmt: skip
                conn.execute(self._db.insert_ignore(t, ["digest"]), [row])
                env_id = conn.execute(sa.select(t.c.env_id).where(t.c.digest == env.digest)).scalar_one()
            if fingerprint is not None:
                conn.execute(
                    self._db.insert_ignore(f, ["fingerprint"]), [{"fingerprint": fingerprint, "env_id": env_id}]
                )
        return int(env_id)

    def environments(self, env_ids: Sequence[int] | None = None) -> dict[int, Environment]:
        """Environments by id (all when ``env_ids`` is None)."""
        t = self._t.environment
        stmt = sa.select(t)
        if env_ids is not None:
            stmt = stmt.where(t.c.env_id.in_(list(env_ids)))
        with self._db.transaction(write=False) as conn:
            return {
                r.env_id: Environment(r.digest, r.python, r.platform, json.loads(r.packages))
                for r in conn.execute(stmt.order_by(t.c.env_id))
            }

    # -- runs ---------------------------------------------------------------------------------------------------
    def ensure(self, run_id: int, info: Mapping[str, Any], env_id: int | None) -> None:
        """Record a run's origin unless it has one, and link an environment to it (both idempotent).

        ``info`` has ``host``, ``user_name``, ``command``, ``cwd``, ``started`` and optionally ``config``
        (a mapping) and ``ended``.  Inside the caller's transaction when there is one.
        """
        r, re_ = self._t.run, self._t.run_environment
        row = dict(info, run_id=run_id)
        if row.get("config") is not None:
            row["config"] = json.dumps(row["config"], sort_keys=True, default=str)
        row = {k: v for k, v in row.items() if k in r.c}
        with self._db.transaction() as conn:  # in a pipelined put (a run's first), queued with its inserts
            queue_insert(conn, self._db._pipeline, self._db.insert_ignore(r, ["run_id"]), row)
            if env_id is not None:
                link = {"run_id": run_id, "env_id": env_id}
                queue_insert(conn, self._db._pipeline, self._db.insert_ignore(re_, ["run_id", "env_id"]), link)

    def set_config(self, run_id: int, config: Mapping[str, Any]) -> None:
        """Replace a run's configuration mapping."""
        r = self._t.run
        with self._db.transaction() as conn:
            conn.execute(
                r.update().where(r.c.run_id == run_id).values(config=json.dumps(config, sort_keys=True, default=str))
            )

    def finish(self, run_id: int, ended: int) -> None:
        """Set a run's end time (leaving `Butler.run_context`)."""
        r = self._t.run
        with self._db.transaction() as conn:
            conn.execute(r.update().where(r.c.run_id == run_id).values(ended=ended))

    def extend_end(self, run_id: int, ended: int) -> None:
        """Move a run's end time to ``ended`` unless it ends later already (a merge of workers' outputs)."""
        r = self._t.run
        with self._db.transaction() as conn:
            conn.execute(
                r.update()
                .where(r.c.run_id == run_id, sa.or_(r.c.ended.is_(None), r.c.ended < ended))
                .values(ended=ended)
            )

    def get(self, run_id: int, run_name: str) -> RunRecord | None:
        """The record of a run with its environments (None: the run has none).

        A run written outside `Butler.run_context` has no end time of its own: its last write stands for it.
        """
        r, re_, d = self._t.run, self._t.run_environment, self._dataset
        with self._db.transaction(write=False) as conn:
            row = conn.execute(sa.select(r).where(r.c.run_id == run_id)).first()
            if row is None:
                return None
            env_ids = list(conn.execute(sa.select(re_.c.env_id).where(re_.c.run_id == run_id)).scalars())
            ended = row.ended
            if ended is None:
                # One seek to the end of each (run, dataset type) range of `dataset_run_type_date`, not a
                # walk over the run's datasets (a million of them took a second).
                t = self._dataset_type
                last = (
                    sa.select(sa.func.max(d.c.ingest_date))
                    .where(d.c.run_id == run_id, d.c.dataset_type_id == t.c.dataset_type_id)
                    .scalar_subquery()
                )
                ended = conn.execute(sa.select(sa.func.max(last)).select_from(t)).scalar()
        envs = self.environments(env_ids)
        config = None if row.config is None else json.loads(row.config)
        return RunRecord(
            run_name, row.host, row.user_name, row.command, row.cwd, row.started, ended, config,
            tuple(envs[i] for i in sorted(envs)),
        )  # fmt: skip

    def records(self) -> list[tuple[int, dict[str, Any], list[int]]]:
        """Every run record as ``(run id, row, environment ids)`` (for export)."""
        r, re_ = self._t.run, self._t.run_environment
        with self._db.transaction(write=False) as conn:
            links: dict[int, list[int]] = {}
            for run_id, env_id in conn.execute(sa.select(re_.c.run_id, re_.c.env_id)):
                links.setdefault(run_id, []).append(env_id)
            return [(row.run_id, dict(row._mapping), links.get(row.run_id, [])) for row in conn.execute(sa.select(r))]
