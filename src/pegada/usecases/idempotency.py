"""Idempotency keys (`event_id` of sendEvent, `request_id` of sendData / identify): a replay
gets the first reply and records nothing new.

The key is claimed at the start of the request's transaction. A concurrent request with the
same key waits on the claim (PostgreSQL) or on the database lock (SQLite) and then sees the
stored reply, so twenty simultaneous sends record one event.
"""

from __future__ import annotations

import hashlib
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


def session_key(session_id: str, request_id: str | None) -> str | None:
    """A key that belongs to one session: the same `request_id` from another session is
    another request (and cannot read this one's reply). Hashed, since the two ids together
    can be longer than the key column (128)."""
    if request_id is None:
        return None
    return hashlib.sha256(f"{session_id} {request_id}".encode()).hexdigest()
