"""SQL for events and their place on a contact's timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, Select, func, select

from pegada.storage.dialect import for_update
from pegada.storage.tables import event_types, events, sessions


def event_by_codigo(conn: Connection, tenant_id: int, codigo: str) -> Row[Any] | None:
    query = select(events).where(events.c.tenant_id == tenant_id, events.c.codigo == codigo)
    return conn.execute(for_update(conn, query)).first()


def insert_event(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(events.insert().values(**values).returning(events.c.id)).scalar_one())


def update_event(conn: Connection, tenant_id: int, event_id: int, values: dict[str, Any]) -> None:
    conn.execute(
        events.update()
        .where(events.c.tenant_id == tenant_id, events.c.id == event_id)
        .values(**values)
    )


def attach_session_events(
    conn: Connection, tenant_id: int, session_pk: int, contact_id: int
) -> int:
    """Hand the events that waited on an anonymous session to its new contact."""
    result = conn.execute(
        events.update()
        .where(
            events.c.tenant_id == tenant_id,
            events.c.session_id == session_pk,
            events.c.contact_id.is_(None),
        )
        .values(contact_id=contact_id)
    )
    return int(result.rowcount)


def contact_events(tenant_id: int, contact_id: int) -> Select[Any]:
    """The contact's events with their type and session hash, unordered: the CRM's contact
    view reads them all and the timeline a page at a time, so each caller adds its own
    order and bounds, while both show the same columns."""
    return (
        select(
            events,
            event_types.c.type_id,
            event_types.c.codigo.label("type_codigo"),
            event_types.c.titulo.label("type_titulo"),
            sessions.c.session_hash,
        )
        .join(event_types, event_types.c.id == events.c.event_type_id)
        .outerjoin(sessions, sessions.c.id == events.c.session_id)
        .where(events.c.tenant_id == tenant_id, events.c.contact_id == contact_id)
    )


def events_of(conn: Connection, tenant_id: int, contact_id: int) -> list[Row[Any]]:
    """The contact's events with their type and session hash, oldest first."""
    query = contact_events(tenant_id, contact_id).order_by(events.c.occurred_at, events.c.id)
    return list(conn.execute(query))


def count_events(conn: Connection, tenant_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(events).where(events.c.tenant_id == tenant_id)
        ).scalar_one()
    )
