"""Conversions: sessions identified in the range that were visitors, counted on the day of
identification and credited to the visit under way then (the latest one started by that
moment, else the session's first). `report_visits.credited_at` carries the identification
on that one visit, so both are read from the visit rows; a session without visits has no
row, and was never a visitor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, and_, func, select
from sqlalchemy.sql.elements import ColumnElement

from pegada.storage.reports.dimensions import key_columns
from pegada.storage.reports.span import Span, local_date
from pegada.storage.tables import report_visits


def _identified(span: Span) -> ColumnElement[bool]:
    return and_(
        report_visits.c.tenant_id == span.tenant_id,
        report_visits.c.credited_at >= span.start,
        report_visits.c.credited_at < span.end,
    )


def conversion_totals(conn: Connection, span: Span, dimension: str | None) -> list[Row[Any]]:
    """Conversions per key of the visit each was credited to (one row without a key)."""
    keys = key_columns(report_visits, dimension)
    query = (
        select(*keys, func.count().label("conversions")).where(_identified(span)).group_by(*keys)
    )
    return list(conn.execute(query))


def daily_conversions(conn: Connection, span: Span) -> list[Row[Any]]:
    day = local_date(conn, report_visits.c.credited_at, span.zone).label("day")
    query = select(day, func.count().label("value")).where(_identified(span)).group_by(day)
    return list(conn.execute(query))
