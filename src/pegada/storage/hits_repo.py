"""SQL for page views: one batch of hits from many requests written in one transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Row, String, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from pegada.ingest.pipeline import Drop
from pegada.storage.dialect import insert_ignoring_conflicts
from pegada.storage.tables import ingest_drops, page_views, sessions, visits


#: Text columns and their sizes. Derived values (host, path, source, medium,
#: browser version from a crafted user agent…) can be longer than the column while the hit
#: itself is valid; PostgreSQL would refuse the whole batch, so they are cut to fit.
def _text_limits(table: Any) -> tuple[tuple[str, int], ...]:
    return tuple(
        (column.name, column.type.length)
        for column in table.columns
        if isinstance(column.type, String) and column.type.length
    )


_TEXT_LIMITS = _text_limits(page_views)
_VISIT_TEXT_LIMITS = _text_limits(visits)


def _fit(row: dict[str, Any], limits: tuple[tuple[str, int], ...]) -> dict[str, Any]:
    for name, limit in limits:
        value = row.get(name)
        if value and len(value) > limit:
            row[name] = value[:limit]
    return row


def fitted_page_view(row: dict[str, Any]) -> dict[str, Any]:
    return _fit(row, _TEXT_LIMITS)


def fitted_visit(row: dict[str, Any]) -> dict[str, Any]:
    return _fit(row, _VISIT_TEXT_LIMITS)


def ensure_sessions(
    conn: Connection, keys: set[tuple[int, str]], now: datetime
) -> dict[tuple[int, str], Any]:
    """(tenant, hash) → session row (id, open_visit_id, contact_id), created if new."""
    conn.execute(
        insert_ignoring_conflicts(conn, sessions, ["tenant_id", "session_hash"]),
        [{"tenant_id": t, "session_hash": h, "created_at": now} for t, h in sorted(keys)],
    )
    rows = conn.execute(
        select(
            sessions.c.id,
            sessions.c.tenant_id,
            sessions.c.session_hash,
            sessions.c.open_visit_id,
            sessions.c.contact_id,
        ).where(tuple_(sessions.c.tenant_id, sessions.c.session_hash).in_(sorted(keys)))
    )
    return {(row.tenant_id, row.session_hash): row for row in rows}


def stored_hit_keys(
    conn: Connection, keys: set[tuple[int, int, str, int]]
) -> set[tuple[int, int, str, int]]:
    """Which (tenant, session id, host, seq) of `keys` are already stored (resent hits)."""
    if not keys:
        return set()
    rows = conn.execute(
        select(
            page_views.c.tenant_id, page_views.c.session_id, page_views.c.host, page_views.c.seq
        ).where(
            tuple_(
                page_views.c.tenant_id, page_views.c.session_id, page_views.c.host, page_views.c.seq
            ).in_(sorted(keys))
        )
    )
    return {(r.tenant_id, r.session_id, r.host, r.seq) for r in rows}


def insert_page_views(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    conn.execute(
        insert_ignoring_conflicts(conn, page_views, ["tenant_id", "session_id", "host", "seq"]),
        [fitted_page_view(row) for row in rows],
    )


def count_drops(conn: Connection, drops: Iterable[Drop]) -> None:
    totals: Counter[tuple[int, date, str]] = Counter()
    for drop in drops:
        day = drop.received_at.astimezone(ZoneInfo(drop.timezone)).date()
        totals[(drop.tenant_id, day, drop.reason.value)] += drop.count
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(ingest_drops)
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "day", "reason"],
        set_={"count": ingest_drops.c.count + statement.excluded.count},
    )
    conn.execute(
        statement,
        [
            {"tenant_id": tenant, "day": day, "reason": reason, "count": count}
            for (tenant, day, reason), count in sorted(totals.items())
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
