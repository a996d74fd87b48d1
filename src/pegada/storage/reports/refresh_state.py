"""How far a tenant's report rollups are up to date (`report_refresh`), and what the
database says about transactions still running (which rows may not be visible yet).

Page view and submission ids are handed out when a row is inserted, not when its
transaction commits, so on PostgreSQL a row with a lower id can become visible after one
with a higher id was already read. A refresh therefore records what it saw as *pending*
(when it looked, the highest ids it saw); a pending mark becomes *settled* — every row up to
it was seen — once every transaction that was running when it was taken has ended. SQLite
runs one write transaction at a time, so there what a refresh saw is settled at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, text, update

from pegada.clock import utcnow
from pegada.storage.dialect import for_update, insert_ignoring_conflicts
from pegada.storage.tables import report_refresh


def lock(conn: Connection, tenant_id: int) -> Row[Any]:
    """The tenant's refresh state, created (rebuild wanted) if new, locked for the rest of
    the transaction so refreshes of one tenant take turns."""
    conn.execute(
        insert_ignoring_conflicts(conn, report_refresh, ["tenant_id"]).values(tenant_id=tenant_id)
    )
    query = select(report_refresh).where(report_refresh.c.tenant_id == tenant_id)
    row = conn.execute(for_update(conn, query)).first()
    assert row is not None
    return row


def peek(conn: Connection, tenant_id: int) -> Row[Any] | None:
    """The state as it is, without locking (None: never refreshed)."""
    query = select(report_refresh).where(report_refresh.c.tenant_id == tenant_id)
    return conn.execute(query).first()


def save(conn: Connection, tenant_id: int, **values: Any) -> None:
    conn.execute(
        update(report_refresh)
        .where(report_refresh.c.tenant_id == tenant_id)
        .values(refreshed_at=utcnow(), **values)
    )


def request_rebuild(conn: Connection, tenant_id: int) -> None:
    """Every rollup row of the tenant is to be written again (from the first session)."""
    lock(conn, tenant_id)
    save(conn, tenant_id, rebuild=True, rebuilt_through=0)


def now(conn: Connection) -> datetime:
    """The database's clock now (PostgreSQL's, which also stamps transaction starts)."""
    if conn.dialect.name == "postgresql":
        moment: datetime = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        return moment
    return utcnow()


def oldest_running_transaction(conn: Connection) -> datetime | None:
    """When the oldest transaction of another client on this database began (None: none
    is running). Always None on SQLite, whose writers run one at a time."""
    if conn.dialect.name != "postgresql":
        return None
    # A fresh look at the activity table (it is otherwise read once per transaction).
    conn.execute(text("SELECT pg_stat_clear_snapshot()"))
    started: datetime | None = conn.execute(
        text(
            "SELECT min(xact_start) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND xact_start IS NOT NULL"
        )
    ).scalar()
    return started
