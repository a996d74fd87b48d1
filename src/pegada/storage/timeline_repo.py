"""SQL of a contact's timeline: its visits (with their page views), events, submissions and
merges, each read a page at a time in (time, kind, id) order.

Every source is read through an index that starts with the contact (or its sessions) and
the time, so a page costs a few short index range scans whatever the contact's history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from pegada.storage.tables import (
    channels,
    contact_merges,
    contacts,
    event_types,
    events,
    page_views,
    sessions,
    submissions,
    visits,
)

#: How far a merged contact's `merged_into` is followed (longer is corrupt data).
MAX_MERGE_CHAIN = 100


@dataclass(frozen=True)
class Boundary:
    """The (time, kind, id) of the last item of the previous page."""

    at: datetime
    kind: str
    id: int


def contact(conn: Connection, tenant_id: int, contact_id: int) -> Row[Any] | None:
    return conn.execute(
        select(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)
    ).first()


def live_contact(conn: Connection, tenant_id: int, contact_id: int) -> Row[Any] | None:
    """The contact, or the survivor it was merged into (following the chain)."""
    row = contact(conn, tenant_id, contact_id)
    for _ in range(MAX_MERGE_CHAIN):
        if row is None or row.merged_into is None:
            return row
        row = contact(conn, tenant_id, int(row.merged_into))
    return None


def _beyond(
    at: Any, row_id: Any, kind: str, boundary: Boundary | None, descending: bool
) -> ColumnElement[bool]:
    """Rows of one source (all of `kind`) that come after `boundary` in the page order."""
    if boundary is None:
        return true()
    strictly = at < boundary.at if descending else at > boundary.at
    if kind == boundary.kind:
        tie = row_id < boundary.id if descending else row_id > boundary.id
        return or_(strictly, and_(at == boundary.at, tie))
    # Kinds sort by name; in descending order the smaller name comes later.
    later_kind = kind < boundary.kind if descending else kind > boundary.kind
    return or_(strictly, at == boundary.at) if later_kind else strictly


def _ordered(query: Any, at: Any, row_id: Any, descending: bool, limit: int) -> Any:
    if descending:
        return query.order_by(at.desc(), row_id.desc()).limit(limit)
    return query.order_by(at, row_id).limit(limit)


def visits_of(
    conn: Connection,
    tenant_id: int,
    contact_id: int,
    boundary: Boundary | None,
    descending: bool,
    limit: int,
) -> list[Row[Any]]:
    query = (
        select(visits, sessions.c.session_hash)
        .join(sessions, sessions.c.id == visits.c.session_id)
        .where(
            sessions.c.tenant_id == tenant_id,
            sessions.c.contact_id == contact_id,
            visits.c.tenant_id == tenant_id,
            _beyond(visits.c.started_at, visits.c.id, "visit", boundary, descending),
        )
    )
    return list(conn.execute(_ordered(query, visits.c.started_at, visits.c.id, descending, limit)))


def pages_of(conn: Connection, tenant_id: int, visit_ids: Iterable[int]) -> list[Row[Any]]:
    """The page views of the given visits, in time order."""
    ids = sorted(set(visit_ids))
    if not ids:
        return []
    query = (
        select(
            page_views.c.visit_id,
            page_views.c.occurred_at,
            page_views.c.url,
            page_views.c.host,
            page_views.c.path,
            page_views.c.title,
            page_views.c.seq,
        )
        .where(page_views.c.tenant_id == tenant_id, page_views.c.visit_id.in_(ids))
        .order_by(page_views.c.visit_id, page_views.c.occurred_at, page_views.c.seq)
    )
    return list(conn.execute(query))


def events_of(
    conn: Connection,
    tenant_id: int,
    contact_id: int,
    boundary: Boundary | None,
    descending: bool,
    limit: int,
) -> list[Row[Any]]:
    query = (
        select(
            events,
            event_types.c.type_id,
            event_types.c.codigo.label("type_codigo"),
            event_types.c.titulo.label("type_titulo"),
            sessions.c.session_hash,
        )
        .join(event_types, event_types.c.id == events.c.event_type_id)
        .outerjoin(sessions, sessions.c.id == events.c.session_id)
        .where(
            events.c.tenant_id == tenant_id,
            events.c.contact_id == contact_id,
            _beyond(events.c.occurred_at, events.c.id, "event", boundary, descending),
        )
    )
    return list(conn.execute(_ordered(query, events.c.occurred_at, events.c.id, descending, limit)))


def submissions_of(
    conn: Connection,
    tenant_id: int,
    contact_id: int,
    boundary: Boundary | None,
    descending: bool,
    limit: int,
) -> list[Row[Any]]:
    query = (
        select(
            submissions,
            channels.c.origem,
            channels.c.name.label("channel_name"),
            sessions.c.session_hash,
        )
        .outerjoin(channels, channels.c.id == submissions.c.channel_id)
        .outerjoin(sessions, sessions.c.id == submissions.c.session_id)
        .where(
            submissions.c.tenant_id == tenant_id,
            submissions.c.contact_id == contact_id,
            _beyond(submissions.c.created_at, submissions.c.id, "submission", boundary, descending),
        )
    )
    return list(
        conn.execute(_ordered(query, submissions.c.created_at, submissions.c.id, descending, limit))
    )


def merges_of(
    conn: Connection,
    tenant_id: int,
    contact_id: int,
    boundary: Boundary | None,
    descending: bool,
    limit: int,
) -> list[Row[Any]]:
    """Merges the contact took part in, as survivor or as the merged one."""
    query = select(
        contact_merges.c.id,
        contact_merges.c.survivor_id,
        contact_merges.c.merged_id,
        contact_merges.c.reason,
        contact_merges.c.merged_at,
        contact_merges.c.unmerged_at,
    ).where(
        contact_merges.c.tenant_id == tenant_id,
        or_(contact_merges.c.survivor_id == contact_id, contact_merges.c.merged_id == contact_id),
        _beyond(contact_merges.c.merged_at, contact_merges.c.id, "merge", boundary, descending),
    )
    return list(
        conn.execute(
            _ordered(query, contact_merges.c.merged_at, contact_merges.c.id, descending, limit)
        )
    )
