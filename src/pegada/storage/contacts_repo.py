"""SQL for contacts, their identity keys and the submissions behind them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from pegada.storage.dialect import for_update, insert_ignoring_conflicts
from pegada.storage.engine import WRITE_OPTION
from pegada.storage.tables import contact_keys, contacts, sessions, submissions


def contact_id_by_key(conn: Connection, tenant_id: int, kind: str, value: str) -> int | None:
    found = conn.execute(
        select(contact_keys.c.contact_id).where(
            contact_keys.c.tenant_id == tenant_id,
            contact_keys.c.kind == kind,
            contact_keys.c.value == value,
        )
    ).scalar()
    return None if found is None else int(found)


def contact_row(
    conn: Connection,
    tenant_id: int,
    contact_id: int,
    *,
    lock: bool = False,
    share_lock: bool = False,
) -> Row[Any] | None:
    """The contact's row; `lock`: for update; `share_lock`: FOR KEY SHARE on PostgreSQL
    (what a foreign key check takes: it only waits for a transaction holding the row for
    update, a merge say). SQLite's write transaction already holds the whole database."""
    query = select(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)
    if lock:
        query = for_update(conn, query)
    elif share_lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True, key_share=True)
    return conn.execute(query).first()


def in_write_transaction(conn: Connection) -> bool:
    """Whether the connection was opened by `write_transaction` (reads take no locks)."""
    return bool(conn.get_execution_options().get(WRITE_OPTION, False))


def insert_contact(conn: Connection, values: dict[str, Any]) -> int:
    return int(
        conn.execute(contacts.insert().values(**values).returning(contacts.c.id)).scalar_one()
    )


def update_contact(
    conn: Connection, tenant_id: int, contact_id: int, values: dict[str, Any]
) -> None:
    conn.execute(
        contacts.update()
        .where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)
        .values(**values)
    )


def claim_key(
    conn: Connection, tenant_id: int, kind: str, value: str, contact_id: int, now: datetime
) -> int:
    """Give the key to the contact unless it has an owner; returns the key's owner."""
    conn.execute(
        insert_ignoring_conflicts(conn, contact_keys, ["tenant_id", "kind", "value"]).values(
            tenant_id=tenant_id, kind=kind, value=value, contact_id=contact_id, created_at=now
        )
    )
    owner = contact_id_by_key(conn, tenant_id, kind, value)
    assert owner is not None  # just inserted, or held by a committed transaction
    return owner


def keys_of(conn: Connection, tenant_id: int, contact_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(contact_keys.c.kind, contact_keys.c.value)
            .where(contact_keys.c.tenant_id == tenant_id, contact_keys.c.contact_id == contact_id)
            .order_by(contact_keys.c.created_at, contact_keys.c.kind, contact_keys.c.value)
        )
    )


def insert_submission(conn: Connection, values: dict[str, Any]) -> int:
    return int(
        conn.execute(submissions.insert().values(**values).returning(submissions.c.id)).scalar_one()
    )


def submissions_of(conn: Connection, tenant_id: int, contact_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(submissions)
            .where(submissions.c.tenant_id == tenant_id, submissions.c.contact_id == contact_id)
            .order_by(submissions.c.created_at, submissions.c.id)
        )
    )


def submissions_of_session(conn: Connection, tenant_id: int, session_hash: str) -> list[Row[Any]]:
    """What was submitted from one browser session, oldest first (for `getData`)."""
    return list(
        conn.execute(
            select(submissions.c.payload)
            .join(sessions, sessions.c.id == submissions.c.session_id)
            .where(
                submissions.c.tenant_id == tenant_id,
                sessions.c.tenant_id == tenant_id,
                sessions.c.session_hash == session_hash,
            )
            .order_by(submissions.c.created_at, submissions.c.id)
        )
    )


def record_conversion(
    conn: Connection, tenant_id: int, contact_id: int, session_pk: int, at: datetime
) -> None:
    """The latest identify of the contact: its session and moment (for the last touch)."""
    update_contact(
        conn, tenant_id, contact_id, {"converted_session_id": session_pk, "converted_at": at}
    )
