"""The contacts list: live contacts newest first through `(tenant_id, created_at)`,
filtered by first-touch channel, campaign (first or last touch), creation range, having an
event of a type, and search words over the accent-free `search_text`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, literal, or_, select

from pegada.storage.tables import contacts, event_types, events


@dataclass(frozen=True)
class ContactFilter:
    channel: str | None = None
    campaign: str | None = None
    created_from: datetime | None = None  # UTC instant, inclusive
    created_before: datetime | None = None  # UTC instant, exclusive
    event_type: int | None = None
    terms: Sequence[str] = ()


def contact_page(
    conn: Connection,
    tenant_id: int,
    where: ContactFilter,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Row[Any]]:
    """Live contacts, newest first, that pass every filter; `after` is the (created_at,
    id) of the last contact of the previous page."""
    conditions: list[Any] = [contacts.c.tenant_id == tenant_id, contacts.c.merged_into.is_(None)]
    if where.channel is not None:
        conditions.append(contacts.c.first_channel == where.channel)
    if where.campaign is not None:
        conditions.append(
            or_(
                contacts.c.first_touch["campaign"].as_string() == where.campaign,
                contacts.c.last_touch["campaign"].as_string() == where.campaign,
            )
        )
    if where.created_from is not None:
        conditions.append(contacts.c.created_at >= where.created_from)
    if where.created_before is not None:
        conditions.append(contacts.c.created_at < where.created_before)
    if where.event_type is not None:
        conditions.append(
            select(literal(1))
            .select_from(events.join(event_types, event_types.c.id == events.c.event_type_id))
            .where(
                events.c.contact_id == contacts.c.id,
                events.c.tenant_id == tenant_id,
                event_types.c.tenant_id == tenant_id,
                event_types.c.type_id == where.event_type,
            )
            .exists()
        )
    for term in where.terms:
        conditions.append(contacts.c.search_text.contains(term, autoescape=True))
    if after is not None:
        created_at, contact_id = after
        conditions.append(
            or_(
                contacts.c.created_at < created_at,
                and_(contacts.c.created_at == created_at, contacts.c.id < contact_id),
            )
        )
    query = (
        select(contacts)
        .where(*conditions)
        .order_by(contacts.c.created_at.desc(), contacts.c.id.desc())
        .limit(limit)
    )
    return list(conn.execute(query))
