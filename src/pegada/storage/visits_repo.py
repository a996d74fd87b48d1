"""SQL for visits and the attribution touches derived from them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, bindparam, or_, select

from pegada.storage.dialect import for_update
from pegada.storage.tables import contacts, page_views, sessions, visits

TOUCH_COLUMNS = (
    visits.c.id,
    visits.c.started_at,
    visits.c.channel_type,
    visits.c.source,
    visits.c.medium,
    visits.c.campaign,
    visits.c.landing_url,
)


def lock_sessions(conn: Connection, session_ids: Iterable[int]) -> dict[int, int | None]:
    """Lock the sessions (in id order, so two writers cannot deadlock on them) for the rest
    of the transaction and return each one's open visit as it is now: two processes writing
    hits of one session, or a recompute beside the hit path, take turns."""
    ids = sorted(set(session_ids))
    if not ids:
        return {}
    query = select(sessions.c.id, sessions.c.open_visit_id).where(sessions.c.id.in_(ids))
    rows = conn.execute(for_update(conn, query.order_by(sessions.c.id)))
    return {int(r.id): None if r.open_visit_id is None else int(r.open_visit_id) for r in rows}


def open_visits(conn: Connection, visit_ids: Iterable[int]) -> dict[int, Row[Any]]:
    ids = sorted(set(visit_ids))
    if not ids:
        return {}
    rows = conn.execute(select(visits).where(visits.c.id.in_(ids)))
    return {int(row.id): row for row in rows}


def insert_visits(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert and return the new ids in the order given."""
    if not rows:
        return []
    result = conn.execute(
        visits.insert().returning(visits.c.id, sort_by_parameter_order=True), rows
    )
    return [int(row.id) for row in result]


def update_visits(conn: Connection, changes: list[dict[str, Any]]) -> None:
    if changes:
        conn.execute(
            visits.update()
            .where(visits.c.id == bindparam("vid"))
            .values(
                started_at=bindparam("started_at"),
                ended_at=bindparam("ended_at"),
                page_count=bindparam("page_count"),
                exit_url=bindparam("exit_url"),
            ),
            changes,
        )


def set_open_visits(conn: Connection, pairs: dict[int, int | None]) -> None:
    if pairs:
        conn.execute(
            sessions.update()
            .where(sessions.c.id == bindparam("sid"))
            .values(open_visit_id=bindparam("vid")),
            [{"sid": sid, "vid": vid} for sid, vid in pairs.items()],
        )


def first_visit(conn: Connection, tenant_id: int, contact_id: int) -> Any:
    """The contact's earliest visit across all its sessions."""
    return conn.execute(
        select(*TOUCH_COLUMNS)
        .join(sessions, sessions.c.id == visits.c.session_id)
        .where(sessions.c.tenant_id == tenant_id, sessions.c.contact_id == contact_id)
        .order_by(visits.c.started_at, visits.c.id)
        .limit(1)
    ).first()


def converting_visit(conn: Connection, session_pk: int, at: Any) -> Any:
    """The session's visit under way at `at` (server time): the latest one begun by then,
    else its first. Begun by the browser's clock (`started_at`) or by the server's (one of
    its pages received): a browser clock a little fast must not credit the visit before."""
    received = (
        select(page_views.c.id)
        .where(page_views.c.visit_id == visits.c.id, page_views.c.received_at <= at)
        .exists()
    )
    before = conn.execute(
        select(*TOUCH_COLUMNS)
        .where(visits.c.session_id == session_pk, or_(visits.c.started_at <= at, received))
        .order_by(visits.c.started_at.desc(), visits.c.id.desc())
        .limit(1)
    ).first()
    if before is not None:
        return before
    return conn.execute(
        select(*TOUCH_COLUMNS)
        .where(visits.c.session_id == session_pk)
        .order_by(visits.c.started_at, visits.c.id)
        .limit(1)
    ).first()


def contacts_of_sessions(conn: Connection, session_ids: Iterable[int]) -> dict[int, int]:
    """session id → contact id, for the identified ones among `session_ids`."""
    ids = sorted(set(session_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(sessions.c.id, sessions.c.contact_id).where(
            sessions.c.id.in_(ids), sessions.c.contact_id.is_not(None)
        )
    )
    return {int(r.id): int(r.contact_id) for r in rows}


def conversion_of(conn: Connection, tenant_id: int, contact_id: int) -> Any:
    return conn.execute(
        select(contacts.c.converted_session_id, contacts.c.converted_at).where(
            contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id
        )
    ).first()


def set_touches(
    conn: Connection,
    tenant_id: int,
    contact_id: int,
    first: dict[str, Any],
    last: dict[str, Any],
) -> None:
    conn.execute(
        contacts.update()
        .where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)
        .values(first_touch=first, last_touch=last, first_channel=first["channel"])
    )


def visit_channel(conn: Connection, visit_id: int | None) -> tuple[int | None, str | None]:
    """(id, channel type) of a visit, or (None, None)."""
    if visit_id is None:
        return None, None
    channel = conn.execute(select(visits.c.channel_type).where(visits.c.id == visit_id)).scalar()
    return (visit_id, channel) if channel is not None else (None, None)
