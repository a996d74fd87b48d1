"""Events that happened in the range (`(tenant_id, occurred_at)` index) by type, with the
channel each was credited to (the visit its session was in) and the contacts behind them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, func, select

from pegada.storage.reports.span import Span
from pegada.storage.tables import event_types, events


def events_by_type(conn: Connection, span: Span) -> list[Row[Any]]:
    """Events that happened in the span per type and credited channel."""
    query = (
        select(
            event_types.c.type_id,
            event_types.c.codigo,
            event_types.c.titulo,
            events.c.channel_type,
            func.count().label("events"),
        )
        .join(event_types, event_types.c.id == events.c.event_type_id)
        .where(
            events.c.tenant_id == span.tenant_id,
            event_types.c.tenant_id == span.tenant_id,
            events.c.occurred_at >= span.start,
            events.c.occurred_at < span.end,
        )
        .group_by(
            event_types.c.type_id,
            event_types.c.codigo,
            event_types.c.titulo,
            events.c.channel_type,
        )
    )
    return list(conn.execute(query))


def distinct_event_contacts(conn: Connection, span: Span) -> dict[int, int]:
    """type id → distinct contacts with an event of that type in the span (a contact
    credited to two channels counts once)."""
    query = (
        select(event_types.c.type_id, func.count(events.c.contact_id.distinct()))
        .join(event_types, event_types.c.id == events.c.event_type_id)
        .where(
            events.c.tenant_id == span.tenant_id,
            events.c.occurred_at >= span.start,
            events.c.occurred_at < span.end,
        )
        .group_by(event_types.c.type_id)
    )
    return {int(type_id): int(n) for type_id, n in conn.execute(query)}
