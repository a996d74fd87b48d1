"""Idempotency keys (`event_id`): a replay gets the first reply and records nothing new.

The key is claimed at the start of the request's transaction. A concurrent request with the
same key waits on the claim (PostgreSQL) or on the database lock (SQLite) and then sees the
stored reply, so twenty simultaneous sends record one event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from pegada.clock import utcnow
from pegada.storage import idempotency_repo


def once(
    conn: Connection, tenant_id: int, scope: str, key: str | None, work: Callable[[], Any]
) -> Any:
    if key is None:
        return work()
    if not idempotency_repo.claim(conn, tenant_id, scope, key, utcnow()):
        return idempotency_repo.stored_reply(conn, tenant_id, scope, key)
    reply = work()
    idempotency_repo.store_reply(conn, tenant_id, scope, key, reply)
    return reply
