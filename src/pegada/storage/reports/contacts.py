"""New contacts: created in the range and not merged into another one since, by their first
touch — the channel they carry (`first_channel`, "Desconhecida" without tracking), or the
attributes of their first visit (looked up in `report_visits`, one row per visit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, and_, func, select
from sqlalchemy.sql.elements import ColumnElement

from pegada.storage.reports.dimensions import key_columns
from pegada.storage.reports.span import Span, local_date
from pegada.storage.tables import contacts, report_visits


def _new_contacts(span: Span) -> ColumnElement[bool]:
    return and_(
        contacts.c.tenant_id == span.tenant_id,
        contacts.c.created_at >= span.start,
        contacts.c.created_at < span.end,
        contacts.c.merged_into.is_(None),
    )


def contact_totals(conn: Connection, span: Span, dimension: str | None) -> list[Row[Any]]:
    """New contacts per key of their first touch (one row without a dimension)."""
    if dimension is None:
        query = select(func.count().label("contacts")).where(_new_contacts(span))
        return list(conn.execute(query))
    if dimension == "channel":
        keys: list[Any] = [contacts.c.first_channel.label("k_channel")]
        source: Any = contacts
    else:
        first = report_visits.alias("first_visit")
        keys = key_columns(first, dimension)
        source = contacts.outerjoin(
            first,
            and_(
                first.c.visit_id == contacts.c.first_touch["visit_id"].as_integer(),
                first.c.tenant_id == span.tenant_id,
            ),
        )
    query = (
        select(*keys, func.count().label("contacts"))
        .select_from(source)
        .where(_new_contacts(span))
        .group_by(*keys)
    )
    return list(conn.execute(query))


def daily_contacts(conn: Connection, span: Span) -> list[Row[Any]]:
    day = local_date(conn, contacts.c.created_at, span.zone).label("day")
    query = select(day, func.count().label("value")).where(_new_contacts(span)).group_by(day)
    return list(conn.execute(query))
