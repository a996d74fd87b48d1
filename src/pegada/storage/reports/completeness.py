"""Completeness of the collected hits: those known missing (gaps in the tracker's sequence
numbers, from `report_gaps`) and those refused (`ingest_drops`). The hits stored per day
are the overview's page views (storage/reports/visits.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from pegada.storage.reports.span import Span
from pegada.storage.tables import ingest_drops, report_gaps


def missing_hits(conn: Connection, span: Span) -> list[Row[Any]]:
    """(last hit's time, hits missing) of each (session, site) that lost hits and whose
    last hit falls in the range: what never arrived is counted on the day of the last hit,
    so a session that goes on losing hits moves its count to the day it went on to."""
    query = select(report_gaps.c.last_at, report_gaps.c.missing).where(
        report_gaps.c.tenant_id == span.tenant_id,
        report_gaps.c.last_at >= span.start,
        report_gaps.c.last_at < span.end,
    )
    return list(conn.execute(query))


def drops(conn: Connection, span: Span) -> list[Row[Any]]:
    """Refused hits per day (the day they were refused, UTC) and reason."""
    query = select(
        ingest_drops.c.day, ingest_drops.c.reason, ingest_drops.c.count.label("hits")
    ).where(
        ingest_drops.c.tenant_id == span.tenant_id,
        ingest_drops.c.day >= span.first_day,
        ingest_drops.c.day <= span.last_day,
    )
    return list(conn.execute(query))
