"""SQL for page views: one batch of hits from many requests written in one transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, String, bindparam, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from pegada.ingest.pipeline import Drop, PageView
from pegada.storage.dialect import insert_ignoring_conflicts
from pegada.storage.tables import ingest_drops, page_views, sessions

#: Text columns of page_views and their sizes. Derived values (host, path, source, medium,
#: browser version from a crafted user agent…) can be longer than the column while the hit
#: itself is valid; PostgreSQL would refuse the whole batch, so they are cut to fit.
_TEXT_LIMITS = {
    column.name: column.type.length
    for column in page_views.columns
    if isinstance(column.type, String) and column.type.length
}


def _fitted(row: dict[str, Any]) -> dict[str, Any]:
    for name, limit in _TEXT_LIMITS.items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > limit:
            row[name] = value[:limit]
    return row


def _ensure_sessions(
    conn: Connection, keys: set[tuple[int, str]], now: datetime
) -> dict[tuple[int, str], Any]:
    conn.execute(
        insert_ignoring_conflicts(conn, sessions, ["tenant_id", "session_hash"]),
        [{"tenant_id": t, "session_hash": h, "created_at": now} for t, h in sorted(keys)],
    )
    rows = conn.execute(
        select(
            sessions.c.id, sessions.c.tenant_id, sessions.c.session_hash, sessions.c.channel_type
        ).where(tuple_(sessions.c.tenant_id, sessions.c.session_hash).in_(sorted(keys)))
    )
    return {(row.tenant_id, row.session_hash): row for row in rows}


def write_batch(conn: Connection, views: list[PageView], drops: list[Drop], now: datetime) -> None:
    if views:
        _write_views(conn, views, now)
    if drops:
        count_drops(conn, drops, now)


def _write_views(conn: Connection, views: list[PageView], now: datetime) -> None:
    session_rows = _ensure_sessions(conn, {(v.tenant_id, v.session_hash) for v in views}, now)
    current = {key: row.channel_type for key, row in session_rows.items()}
    changed: dict[int, str] = {}
    rows = []
    ordered = sorted(
        views, key=lambda v: (v.tenant_id, v.session_hash, v.row["occurred_at"], v.seq)
    )
    for view in ordered:
        key = (view.tenant_id, view.session_hash)
        session = session_rows[key]
        row = dict(view.row, tenant_id=view.tenant_id, session_id=session.id)
        if view.is_entry or current[key] is None:
            c = view.classification
            row.update(
                channel_type=c.channel, source=c.source, medium=c.medium, campaign=c.campaign
            )
            if current[key] != c.channel:
                current[key] = changed[session.id] = c.channel
        else:
            row.update(channel_type=current[key], source=None, medium=None, campaign=None)
        rows.append(_fitted(row))
    conn.execute(
        insert_ignoring_conflicts(conn, page_views, ["tenant_id", "session_id", "host", "seq"]),
        rows,
    )
    if changed:
        conn.execute(
            sessions.update()
            .where(sessions.c.id == bindparam("sid"))
            .values(channel_type=bindparam("channel")),
            [{"sid": sid, "channel": channel} for sid, channel in changed.items()],
        )


def count_drops(conn: Connection, drops: Iterable[Drop], now: datetime) -> None:
    totals: Counter[tuple[int, str]] = Counter()
    for drop in drops:
        totals[(drop.tenant_id, drop.reason.value)] += drop.count
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(ingest_drops)
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "day", "reason"],
        set_={"count": ingest_drops.c.count + statement.excluded.count},
    )
    conn.execute(
        statement,
        [
            {"tenant_id": tenant, "day": now.date(), "reason": reason, "count": count}
            for (tenant, reason), count in sorted(totals.items())
        ],
    )


def page_views_of(conn: Connection, tenant_id: int, contact_id: int) -> list[Row[Any]]:
    """Every page access of every session of the contact, oldest first."""
    query = (
        select(page_views, sessions.c.session_hash)
        .join(sessions, sessions.c.id == page_views.c.session_id)
        .where(sessions.c.tenant_id == tenant_id, sessions.c.contact_id == contact_id)
        .order_by(page_views.c.occurred_at, page_views.c.seq, page_views.c.id)
    )
    return list(conn.execute(query))
