"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def insert_ignoring_conflicts(conn: Connection, table: Table, index: list[str]) -> Insert:
    """`INSERT … ON CONFLICT (index) DO NOTHING` for the connection's dialect.

    On PostgreSQL a conflicting insert waits for the transaction holding the other row and
    then does nothing: the race-free way to claim a unique key.
    """
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=index)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=index)


def for_update(conn: Connection, query: Select[Any]) -> Select[Any]:
    """Row lock on PostgreSQL; SQLite's write transaction already holds the database."""
    return query.with_for_update() if conn.dialect.name == "postgresql" else query
