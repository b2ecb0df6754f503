"""`sqlite_insert`: the INSERT text of a table and column list, and where its UUID columns are."""

from __future__ import annotations

import sqlalchemy as sa

from skybutler.registry._insert_sql import sqlite_insert


def test_text_and_uuid_positions_are_made_once() -> None:
    table = sa.Table(
        "t", sa.MetaData(), sa.Column("a", sa.Integer), sa.Column("id", sa.Uuid), sa.Column("b", sa.String)
    )
    sql, uuids = sqlite_insert(table, ["b", "id", "a"])
    assert sql == 'INSERT INTO "t" ("b", "id", "a") VALUES (?, ?, ?)'
    assert uuids == (1,)
    assert sqlite_insert(table, ("b", "id", "a")) is sqlite_insert(table, ["b", "id", "a"])
    assert sqlite_insert(table, ["a"]) == ('INSERT INTO "t" ("a") VALUES (?)', ())
