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

from sqlalchemy import Column, Connection, Row, Select, and_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from pegada.storage.contacts_repo import contact_row
from pegada.storage.events_repo import contact_events
from pegada.storage.merges_repo import took_part
from pegada.storage.tables import (
    channels,
    contact_merges,
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


def live_contact(conn: Connection, tenant_id: int, contact_id: int) -> Row[Any] | None:
    """The contact, or the survivor it was merged into (following the chain)."""
    row = contact_row(conn, tenant_id, contact_id)
    for _ in range(MAX_MERGE_CHAIN):
        if row is None or row.merged_into is None:
            return row
        row = contact_row(conn, tenant_id, int(row.merged_into))
    return None


@dataclass(frozen=True)
class _Source:
    """Where one kind of item sorts in the timeline: its kind and its (time, id) columns."""

    kind: str
    at: Column[Any]
    id: Column[Any]


_VISITS = _Source("visit", visits.c.started_at, visits.c.id)
_EVENTS = _Source("event", events.c.occurred_at, events.c.id)
_SUBMISSIONS = _Source("submission", submissions.c.created_at, submissions.c.id)
_MERGES = _Source("merge", contact_merges.c.merged_at, contact_merges.c.id)


def _beyond(source: _Source, boundary: Boundary | None, descending: bool) -> ColumnElement[bool]:
    """Rows of one source that come after `boundary` in the page order."""
    if boundary is None:
        return true()
    at, row_id, kind = source.at, source.id, source.kind
    strictly = at < boundary.at if descending else at > boundary.at
    if kind == boundary.kind:
        tie = row_id < boundary.id if descending else row_id > boundary.id
        return or_(strictly, and_(at == boundary.at, tie))
    # Kinds sort by name; in descending order the smaller name comes later.
    later_kind = kind < boundary.kind if descending else kind > boundary.kind
    return or_(strictly, at == boundary.at) if later_kind else strictly


def _page(
    conn: Connection,
    query: Select[Any],
    source: _Source,
    boundary: Boundary | None,
    descending: bool,
    limit: int,
) -> list[Row[Any]]:
    """The next `limit` rows of one source's `query`, after `boundary` in the page order.
    Every source pages the same way, so the merged timeline neither skips nor repeats an
    item at a page's edge; only what each source selects differs."""
    query = query.where(_beyond(source, boundary, descending))
    if descending:
        query = query.order_by(source.at.desc(), source.id.desc())
    else:
        query = query.order_by(source.at, source.id)
    return list(conn.execute(query.limit(limit)))


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
        )
    )
    return _page(conn, query, _VISITS, boundary, descending, limit)


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
    return _page(conn, contact_events(tenant_id, contact_id), _EVENTS, boundary, descending, limit)


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
        .where(submissions.c.tenant_id == tenant_id, submissions.c.contact_id == contact_id)
    )
    return _page(conn, query, _SUBMISSIONS, boundary, descending, limit)


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
    ).where(contact_merges.c.tenant_id == tenant_id, took_part(contact_id))
    return _page(conn, query, _MERGES, boundary, descending, limit)
