"""SQL for regrouping stored page views into visits: a late hit's stretch of a session
(the hit path) or every session of a tenant (`pegada attribution recompute`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select

from pegada.storage.tables import contacts, events, page_views, sessions, visits

#: What regrouping reads of a page view: its place, what classifies it, what it was given.
VIEW_COLUMNS = (
    page_views.c.id,
    page_views.c.session_id,
    page_views.c.visit_id,
    page_views.c.seq,
    page_views.c.occurred_at,
    page_views.c.received_at,
    page_views.c.url,
    page_views.c.host,
    page_views.c.path,
    page_views.c.referrer,
    page_views.c.referrer_host,
    page_views.c.utm,
    page_views.c.channel_type,
    page_views.c.source,
    page_views.c.medium,
    page_views.c.campaign,
    page_views.c.device_type,
    page_views.c.os,
    page_views.c.browser,
)
_VIEW_ORDER = (page_views.c.occurred_at, page_views.c.seq, page_views.c.id)
_EVENT_COLUMNS = (events.c.id, events.c.session_id, events.c.visit_id, events.c.channel_type)


def sessions_of_tenant(conn: Connection, tenant_id: int) -> list[tuple[int, int | None]]:
    """(session id, contact id) of every session of the tenant, a contact's sessions next to
    each other (identified first, by contact), so a batch can hold all of a contact's."""
    rows = conn.execute(
        select(sessions.c.id, sessions.c.contact_id)
        .where(sessions.c.tenant_id == tenant_id)
        .order_by(sessions.c.contact_id.is_(None), sessions.c.contact_id, sessions.c.id)
    )
    return [(int(r.id), None if r.contact_id is None else int(r.contact_id)) for r in rows]


def contacts_without_sessions(conn: Connection, tenant_id: int) -> list[int]:
    """Live (not merged) contacts of the tenant that no session belongs to."""
    owned = select(sessions.c.id).where(sessions.c.contact_id == contacts.c.id).exists()
    rows = conn.execute(
        select(contacts.c.id)
        .where(contacts.c.tenant_id == tenant_id, contacts.c.merged_into.is_(None), ~owned)
        .order_by(contacts.c.id)
    )
    return [int(r.id) for r in rows]


def count_visits(conn: Connection, tenant_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(visits).where(visits.c.tenant_id == tenant_id)
        ).scalar_one()
    )


def visits_of_sessions(conn: Connection, session_ids: Iterable[int]) -> dict[int, list[Row[Any]]]:
    """Each session's visits, oldest first."""
    found: dict[int, list[Any]] = defaultdict(list)
    ids = sorted(set(session_ids))
    if ids:
        rows = conn.execute(
            select(visits)
            .where(visits.c.session_id.in_(ids))
            .order_by(visits.c.session_id, visits.c.started_at, visits.c.id)
        )
        for row in rows:
            found[int(row.session_id)].append(row)
    return found


def page_views_of_sessions(
    conn: Connection, tenant_id: int, session_ids: Iterable[int]
) -> dict[int, list[Row[Any]]]:
    """Every page view of each session, in time order."""
    found: dict[int, list[Any]] = defaultdict(list)
    ids = sorted(set(session_ids))
    if ids:
        rows = conn.execute(
            select(*VIEW_COLUMNS)
            .where(page_views.c.tenant_id == tenant_id, page_views.c.session_id.in_(ids))
            .order_by(page_views.c.session_id, *_VIEW_ORDER)
        )
        for row in rows:
            found[int(row.session_id)].append(row)
    return found


def page_views_of_visits(
    conn: Connection, session_id: int, visit_ids: Iterable[int]
) -> list[Row[Any]]:
    ids = sorted(set(visit_ids))
    if not ids:
        return []
    return list(
        conn.execute(
            select(*VIEW_COLUMNS)
            .where(page_views.c.session_id == session_id, page_views.c.visit_id.in_(ids))
            .order_by(*_VIEW_ORDER)
        )
    )


def events_of_sessions(
    conn: Connection, tenant_id: int, session_ids: Iterable[int]
) -> dict[int, list[Row[Any]]]:
    """Every event recorded through each session, with the time it is credited at."""
    found: dict[int, list[Any]] = defaultdict(list)
    ids = sorted(set(session_ids))
    if ids:
        rows = conn.execute(
            select(*_EVENT_COLUMNS, events.c.occurred_at)
            .where(events.c.tenant_id == tenant_id, events.c.session_id.in_(ids))
            .order_by(events.c.session_id, events.c.id)
        )
        for row in rows:
            found[int(row.session_id)].append(row)
    return found


def events_of_visits(conn: Connection, session_id: int, visit_ids: Iterable[int]) -> list[Row[Any]]:
    ids = sorted(set(visit_ids))
    if not ids:
        return []
    return list(
        conn.execute(
            select(*_EVENT_COLUMNS, events.c.occurred_at)
            .where(events.c.session_id == session_id, events.c.visit_id.in_(ids))
            .order_by(events.c.id)
        )
    )


def events_waiting_for_a_visit(
    conn: Connection, session_ids: Iterable[int]
) -> dict[int, list[Row[Any]]]:
    """Events of these sessions recorded before the session had any visit."""
    found: dict[int, list[Any]] = defaultdict(list)
    ids = sorted(set(session_ids))
    if ids:
        rows = conn.execute(
            select(*_EVENT_COLUMNS, events.c.occurred_at)
            .where(events.c.session_id.in_(ids), events.c.visit_id.is_(None))
            .order_by(events.c.session_id, events.c.id)
        )
        for row in rows:
            found[int(row.session_id)].append(row)
    return found


_VISIT_VALUES = [
    column.name for column in visits.columns if column.name not in ("id", "tenant_id", "session_id")
]


def rewrite_visits(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Rewrite whole visits (`vid` and every column but the ids)."""
    if rows:
        conn.execute(
            visits.update()
            .where(visits.c.id == bindparam("vid"))
            .values({name: bindparam(name) for name in _VISIT_VALUES}),
            rows,
        )


def delete_visits(conn: Connection, visit_ids: Iterable[int]) -> None:
    ids = sorted(set(visit_ids))
    if ids:
        conn.execute(visits.delete().where(visits.c.id.in_(ids)))


def rewrite_page_views(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """`pid` → visit_id, channel_type, source, medium, campaign."""
    if rows:
        conn.execute(
            page_views.update()
            .where(page_views.c.id == bindparam("pid"))
            .values(
                visit_id=bindparam("visit_id"),
                channel_type=bindparam("channel_type"),
                source=bindparam("source"),
                medium=bindparam("medium"),
                campaign=bindparam("campaign"),
            ),
            rows,
        )


def rewrite_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """`eid` → visit_id, channel_type."""
    if rows:
        conn.execute(
            events.update()
            .where(events.c.id == bindparam("eid"))
            .values(visit_id=bindparam("visit_id"), channel_type=bindparam("channel_type")),
            rows,
        )
