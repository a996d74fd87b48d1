"""SQL of the projector's bookkeeping: how far each spool is projected, and the spooled
requests that could not be projected."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select, update

from pegada.storage.dialect import for_update, insert_ignoring_conflicts
from pegada.storage.spool import SpooledRequest
from pegada.storage.tables import spool_marks, unprojected_requests


def _mark(spool_id: str) -> Select[Any]:
    return select(spool_marks.c.projected_through).where(spool_marks.c.spool_id == spool_id)


def lock_mark(conn: Connection, spool_id: str, now: datetime) -> int:
    """The spool's mark, locked for this transaction: projectors of one spool take turns
    (on SQLite the write transaction already holds the database)."""
    conn.execute(
        insert_ignoring_conflicts(conn, spool_marks, ["spool_id"]),
        {"spool_id": spool_id, "projected_through": 0, "updated_at": now},
    )
    return int(conn.execute(for_update(conn, _mark(spool_id))).scalar_one())


def mark_of(conn: Connection, spool_id: str) -> int:
    return int(conn.execute(_mark(spool_id)).scalar() or 0)


def advance(conn: Connection, spool_id: str, through: int, now: datetime) -> None:
    conn.execute(
        update(spool_marks)
        .where(spool_marks.c.spool_id == spool_id)
        .values(projected_through=through, updated_at=now)
    )


def keep_unprojected(
    conn: Connection,
    spool_id: str,
    request: SpooledRequest,
    tenant_id: int | None,
    error: str,
    now: datetime,
) -> None:
    conn.execute(
        insert_ignoring_conflicts(conn, unprojected_requests, ["spool_id", "spooled_id"]),
        {
            "tenant_id": tenant_id,
            "spool_id": spool_id,
            "spooled_id": request.id,
            "received_at": request.received_at,
            "host_client": request.host_client[:20],
            "user_agent": request.user_agent,
            "network": request.network,
            "refusal": request.refusal,
            "refused_hits": request.refused_hits,
            "body": request.body,
            "error": error[:2000],
            "failed_at": now,
        },
    )


def unprojected_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(unprojected_requests)).scalar_one())
