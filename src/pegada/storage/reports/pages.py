"""Top pages: page views per page (host and path, without the query string) of the visits
of the range — the page views the overview counts — and the sessions that viewed each,
from `report_pages` (one row per visit and page). A session is a visitor of a page on its
one row whose previous visit to the page came before the range, as in `report_visits`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, func, or_, select

from pegada.storage.reports.span import Span
from pegada.storage.tables import report_pages


def top_pages(conn: Connection, span: Span, limit: int, offset: int) -> list[Row[Any]]:
    """Pages by page views (ties by host and path), with their visitors."""
    views = func.sum(report_pages.c.views)
    previous = report_pages.c.prev_day
    query = (
        select(
            report_pages.c.host,
            report_pages.c.path,
            views.label("pageviews"),
            func.count()
            .filter(or_(previous.is_(None), previous < span.first_day))
            .label("visitors"),
        )
        .where(
            report_pages.c.tenant_id == span.tenant_id,
            report_pages.c.local_day >= span.first_day,
            report_pages.c.local_day <= span.last_day,
        )
        .group_by(report_pages.c.host, report_pages.c.path)
        .order_by(views.desc(), report_pages.c.host, report_pages.c.path)
        .limit(limit)
        .offset(offset)
    )
    return list(conn.execute(query))
