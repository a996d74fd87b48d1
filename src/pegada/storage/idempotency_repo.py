"""SQL for idempotency keys: the first reply to a keyed request, kept forever per tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from pegada.storage.dialect import insert_ignoring_conflicts
from pegada.storage.tables import idempotency_keys


def claim(conn: Connection, tenant_id: int, scope: str, key: str, now: datetime) -> bool:
    """True when this transaction is first with the key. On PostgreSQL a concurrent holder
    makes this wait until it commits (then False) or rolls back (then True)."""
    inserted = conn.execute(
        insert_ignoring_conflicts(conn, idempotency_keys, ["tenant_id", "scope", "key"])
        .values(tenant_id=tenant_id, scope=scope, key=key, created_at=now)
        .returning(idempotency_keys.c.key)
    ).first()
    return inserted is not None


def stored_reply(conn: Connection, tenant_id: int, scope: str, key: str) -> Any:
    return conn.execute(
        select(idempotency_keys.c.reply).where(
            idempotency_keys.c.tenant_id == tenant_id,
            idempotency_keys.c.scope == scope,
            idempotency_keys.c.key == key,
        )
    ).scalar()


def store_reply(conn: Connection, tenant_id: int, scope: str, key: str, reply: Any) -> None:
    conn.execute(
        idempotency_keys.update()
        .where(
            idempotency_keys.c.tenant_id == tenant_id,
            idempotency_keys.c.scope == scope,
            idempotency_keys.c.key == key,
        )
        .values(reply=reply)
    )
