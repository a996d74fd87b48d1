"""Visitors, visits and page views over a range of days, from `report_visits`.

A visit belongs to the day it started (`local_day`; a visit never spans a local midnight,
so all its page views are on that day). A session is a visitor of a key in a range on the
one visit of that key whose previous visit with the same key came before the range (or
never): a plain count, where a DISTINCT over sessions would need a second aggregation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from pegada.storage.reports.dimensions import key_columns, prev_day_column
from pegada.storage.reports.span import Span
from pegada.storage.tables import report_visits


def in_days(span: Span) -> ColumnElement[bool]:
    return and_(
        report_visits.c.tenant_id == span.tenant_id,
        report_visits.c.local_day >= span.first_day,
        report_visits.c.local_day <= span.last_day,
    )


def visit_totals(conn: Connection, span: Span, dimension: str | None) -> list[Row[Any]]:
    """Per key (one row without a dimension): visits, visitors, page views."""
    keys = key_columns(report_visits, dimension)
    previous = report_visits.c[prev_day_column(dimension)]
    first_in_range = or_(previous.is_(None), previous < span.first_day)
    query = (
        select(
            *keys,
            func.count().label("visits"),
            func.count().filter(first_in_range).label("visitors"),
            func.coalesce(func.sum(report_visits.c.page_count), 0).label("pageviews"),
        )
        .where(in_days(span))
        .group_by(*keys)
    )
    return list(conn.execute(query))


def daily_visits(conn: Connection, span: Span) -> list[Row[Any]]:
    """Per day: visits, visitors (sessions whose first visit of the day it is), page views."""
    previous = report_visits.c.prev_day
    day = report_visits.c.local_day
    query = (
        select(
            day.label("day"),
            func.count().label("visits"),
            func.count().filter(or_(previous.is_(None), previous < day)).label("visitors"),
            func.sum(report_visits.c.page_count).label("pageviews"),
        )
        .where(in_days(span))
        .group_by(day)
    )
    return list(conn.execute(query))
