"""SQL for tracking sessions (one browser's session hash) and their link to a contact."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from pegada.storage.dialect import for_update, insert_ignoring_conflicts
from pegada.storage.tables import sessions


def ensure_session(conn: Connection, tenant_id: int, session_hash: str, now: datetime) -> Row[Any]:
    """The session row for this hash, created if new, locked for the rest of the transaction."""
    conn.execute(
        insert_ignoring_conflicts(conn, sessions, ["tenant_id", "session_hash"]).values(
            tenant_id=tenant_id, session_hash=session_hash, created_at=now
        )
    )
    query = select(sessions).where(
        sessions.c.tenant_id == tenant_id, sessions.c.session_hash == session_hash
    )
    row = conn.execute(for_update(conn, query)).first()
    assert row is not None
    return row


def link_session(
    conn: Connection, tenant_id: int, session_pk: int, contact_id: int, now: datetime
) -> None:
    conn.execute(
        sessions.update()
        .where(sessions.c.tenant_id == tenant_id, sessions.c.id == session_pk)
        .values(contact_id=contact_id, identified_at=now)
    )


def sessions_of(conn: Connection, tenant_id: int, contact_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(sessions)
            .where(sessions.c.tenant_id == tenant_id, sessions.c.contact_id == contact_id)
            .order_by(sessions.c.created_at, sessions.c.id)
        )
    )
