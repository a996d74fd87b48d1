"""SQL that (re)builds the report rollups of some sessions from the tables they summarise:
`report_visits` from visits and sessions, `report_pages` from page views and visits,
`report_gaps` from page views.

A session's rows depend only on that session's visits, page views and identification, so
a session is always redone whole — its rows deleted, then written again by one
`INSERT … SELECT` per table — and sessions that did not change are never read. Window
functions over the session's visits give each row the day of the session's previous visit
with the same key, and the visit its identification is credited to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, literal, select, true
from sqlalchemy.sql.elements import ColumnElement

from pegada.storage.reports.dimensions import DIMENSIONS, prev_day_column
from pegada.storage.tables import (
    page_views,
    report_gaps,
    report_pages,
    report_visits,
    sessions,
    submissions,
    visits,
)

#: The columns report_visits copies from visits.
_COPIED = (
    "session_id",
    "local_day",
    "page_count",
    "channel_type",
    "source",
    "medium",
    "campaign",
    "landing_host",
    "landing_path",
    "device_type",
    "browser",
    "os",
)


class Sessions:
    """Which of a tenant's sessions to redo: a list of ids, or those in an id range
    (low exclusive, high inclusive; no high: to the end)."""

    def __init__(
        self,
        ids: Sequence[int] | None = None,
        after: int | None = None,
        through: int | None = None,
    ) -> None:
        self.ids = ids
        self.after = after
        self.through = through

    def where(self, column: Any) -> ColumnElement[bool]:
        if self.ids is not None:
            return column.in_(sorted(self.ids))  # type: ignore[no-any-return]
        conditions = []
        if self.after is not None:
            conditions.append(column > self.after)
        if self.through is not None:
            conditions.append(column <= self.through)
        return and_(*conditions) if conditions else true()


# --- what changed ----------------------------------------------------------------------------


def sessions_with_new_page_views(
    conn: Connection, tenant_id: int, after_id: int
) -> tuple[set[int], int]:
    """Sessions of the tenant's page views with an id above `after_id`, and the highest
    such id (`after_id` when none)."""
    return _sessions_with_rows_after(conn, page_views, tenant_id, after_id)


def sessions_with_new_submissions(
    conn: Connection, tenant_id: int, after_id: int
) -> tuple[set[int], int]:
    """Sessions identified since: every identify stores its submission in the transaction
    that links the session (usecases/identify.py), so submissions with an id above
    `after_id` name every session whose identification may be new."""
    return _sessions_with_rows_after(conn, submissions, tenant_id, after_id)


def _sessions_with_rows_after(
    conn: Connection, table: Any, tenant_id: int, after_id: int
) -> tuple[set[int], int]:
    query = (
        select(table.c.session_id, func.max(table.c.id))
        .where(table.c.id > after_id, table.c.tenant_id == tenant_id)
        .group_by(table.c.session_id)
    )
    found: set[int] = set()
    highest = after_id
    for session_id, top in conn.execute(query):
        if session_id is not None:  # a submission made without a session
            found.add(int(session_id))
        highest = max(highest, int(top))
    return found, highest


def highest_ids(conn: Connection, tenant_id: int) -> tuple[int, int]:
    """The tenant's highest page view and submission ids (0 when none)."""
    pv = select(func.max(page_views.c.id)).where(page_views.c.tenant_id == tenant_id)
    sub = select(func.max(submissions.c.id)).where(submissions.c.tenant_id == tenant_id)
    return int(conn.execute(pv).scalar() or 0), int(conn.execute(sub).scalar() or 0)


def session_ids_after(conn: Connection, tenant_id: int, after: int, limit: int) -> list[int]:
    """The next `limit` session ids of the tenant above `after`, in order."""
    query = (
        select(sessions.c.id)
        .where(sessions.c.tenant_id == tenant_id, sessions.c.id > after)
        .order_by(sessions.c.id)
        .limit(limit)
    )
    return [int(row.id) for row in conn.execute(query)]


# --- rebuilding ------------------------------------------------------------------------------


def rebuild(conn: Connection, tenant_id: int, which: Sessions) -> None:
    """Delete and write again the rollup rows of the tenant's sessions `which`."""
    for table in (report_visits, report_pages, report_gaps):
        conn.execute(
            delete(table).where(table.c.tenant_id == tenant_id, which.where(table.c.session_id))
        )
    _insert_visits(conn, tenant_id, which)
    _insert_pages(conn, tenant_id, which)
    _insert_gaps(conn, tenant_id, which)


def analyze(conn: Connection) -> None:
    """Fresh planner statistics after a rebuild rewrote the rollup tables (the planner would
    otherwise plan a year of rows as a handful until autovacuum comes by). On SQLite, whose
    statistics exist only once ANALYZE has run, every table gets them, from a sample of
    each index (milliseconds): without them it prefers any index on `tenant_id` to the
    selective one (a contact's sessions, a visit's page views)."""
    if conn.dialect.name == "postgresql":
        names = ", ".join(table.name for table in (report_visits, report_pages, report_gaps))
        conn.exec_driver_sql(f"ANALYZE {names}")
    else:
        conn.exec_driver_sql("PRAGMA analysis_limit = 1000")
        conn.exec_driver_sql("ANALYZE")


def _insert_visits(conn: Connection, tenant_id: int, which: Sessions) -> None:
    order = [visits.c.started_at, visits.c.id]

    def previous_day(columns: Sequence[str]) -> Any:
        partition = [visits.c.session_id, *(visits.c[name] for name in columns)]
        return func.lag(visits.c.local_day).over(partition_by=partition, order_by=order)

    # The visit under way at the identification: the latest one started by then, else the
    # session's first (an identify that overtook the session's first hits).
    before = visits.c.started_at <= sessions.c.identified_at
    credit_order = func.row_number().over(
        partition_by=visits.c.session_id,
        order_by=[
            case((before, 0), else_=1),
            case((before, visits.c.started_at)).desc(),
            case((before, visits.c.id)).desc(),
            visits.c.started_at,
            visits.c.id,
        ],
    )
    credited = case(
        (
            and_(sessions.c.identified_at.is_not(None), credit_order == 1),
            sessions.c.identified_at,
        ),
        else_=None,
    )
    prev_days = {prev_day_column(None): previous_day(())} | {
        prev_day_column(name): previous_day(columns) for name, columns in DIMENSIONS.items()
    }
    rows = (
        select(
            visits.c.id,
            visits.c.tenant_id,
            *(visits.c[name] for name in _COPIED),
            *prev_days.values(),
            credited,
        )
        .join(sessions, sessions.c.id == visits.c.session_id)
        # The sessions' filter on both sides: each is then read through its own index.
        .where(
            visits.c.tenant_id == tenant_id,
            which.where(visits.c.session_id),
            which.where(sessions.c.id),
        )
    )
    names = ["visit_id", "tenant_id", *_COPIED, *prev_days, "credited_at"]
    conn.execute(report_visits.insert().from_select(names, rows))


def _insert_pages(conn: Connection, tenant_id: int, which: Sessions) -> None:
    per_visit = (
        select(
            page_views.c.session_id,
            page_views.c.visit_id,
            page_views.c.host,
            page_views.c.path,
            func.count().label("views"),
            func.min(page_views.c.occurred_at).label("first_at"),
        )
        .where(page_views.c.tenant_id == tenant_id, which.where(page_views.c.session_id))
        .group_by(
            page_views.c.session_id, page_views.c.visit_id, page_views.c.host, page_views.c.path
        )
        .subquery("per_visit")
    )
    prev_day = func.lag(visits.c.local_day).over(
        partition_by=[per_visit.c.session_id, per_visit.c.host, per_visit.c.path],
        order_by=[per_visit.c.first_at, per_visit.c.visit_id],
    )
    rows = select(
        literal(tenant_id),
        per_visit.c.session_id,
        per_visit.c.visit_id,
        visits.c.local_day,
        per_visit.c.host,
        per_visit.c.path,
        per_visit.c.views,
        prev_day,
    ).join(
        visits,
        and_(visits.c.id == per_visit.c.visit_id, which.where(visits.c.session_id)),
    )
    names = ["tenant_id", "session_id", "visit_id", "local_day", "host", "path", "views"]
    conn.execute(report_pages.insert().from_select([*names, "prev_day"], rows))


def _insert_gaps(conn: Connection, tenant_id: int, which: Sessions) -> None:
    """The tracker numbers a session's hits per site from 1, so the highest number minus
    the hits stored is what never arrived."""
    top = func.max(page_views.c.seq)
    stored = func.count()
    rows = (
        select(
            literal(tenant_id),
            page_views.c.session_id,
            page_views.c.host,
            func.max(page_views.c.occurred_at),
            top - stored,
        )
        .where(page_views.c.tenant_id == tenant_id, which.where(page_views.c.session_id))
        .group_by(page_views.c.session_id, page_views.c.host)
        .having(top > stored)
    )
    names = ["tenant_id", "session_id", "host", "last_at", "missing"]
    conn.execute(report_gaps.insert().from_select(names, rows))
