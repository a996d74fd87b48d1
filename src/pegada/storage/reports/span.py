"""The range of days a report covers, and putting stored UTC times on the tenant's local
days — which PostgreSQL does itself (`timezone()`) and SQLite through a small Python
function registered on the connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Date, cast, func
from sqlalchemy.sql.elements import ColumnElement


@dataclass(frozen=True)
class Span:
    """A range of local days and the UTC instants it covers: [start, end)."""

    tenant_id: int
    first_day: date
    last_day: date
    start: datetime
    end: datetime
    zone: str


def tune_for_reports(conn: Connection) -> None:
    """PostgreSQL: room for the hash aggregates of a year's rows in memory (instead of
    spilling sorts to disk), and no JIT compilation, which costs more than it saves on
    queries of this size. Scoped to the current (read) transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _sqlite_local_date(value: str | None, zone: str) -> str | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return moment.astimezone(_zone(zone)).date().isoformat()


def local_date(conn: Connection, column: Any, zone: str) -> ColumnElement[date]:
    """The tenant-local calendar day of a stored UTC timestamp column."""
    if conn.dialect.name == "postgresql":
        return cast(func.timezone(zone, column), Date)
    conn.connection.driver_connection.create_function(  # type: ignore[union-attr]
        "pegada_local_date", 2, _sqlite_local_date, deterministic=True
    )
    return func.pegada_local_date(column, zone, type_=Date)
