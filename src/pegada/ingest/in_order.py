"""The common batch of hits, written with a handful of statements.

Almost every batch is the easy case: each session's new hits come at or after the last hit
of its open visit, and none of them was stored before. Such a batch needs no look at the
stored page views: the sessions (found or created), their open visits, and then one insert
per table. `write_in_order` writes it that way and returns True; for anything else it
writes nothing and returns False, and the exact path (ingest/commit.py) takes the batch:

- a late hit (older than its session's open visit's last hit): the stretch it falls in is
  regrouped from what is stored;
- a resent hit (same session, host and sequence number as a stored one): found after the
  fact — the page-view insert skips stored keys and reports how many rows it added; fewer
  than sent means the batch's writes are rolled back to a savepoint and the exact path
  writes it, so a retry is never counted into a visit twice.

The visit rule itself is the same code in both paths (journeys/visits.py), and so are the
rows (journeys/regroup.py): only the statements differ (storage/hot_writes.py).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pegada.ingest.pipeline import PageView
from pegada.journeys.regroup import (
    credit_waiting_events,
    hit_facts,
    page_view_row,
    visit_values,
)
from pegada.journeys.touches import refresh_touches
from pegada.journeys.visits import Assignment, VisitState, assign
from pegada.storage.hits_repo import fitted_page_view
from pegada.storage.hot_writes import HotWrites, SessionState, hot_writes

SessionKey = tuple[int, str]  # tenant id, session hash


class _Session:
    """One session's share of the batch."""

    __slots__ = ("created", "hits", "plan", "state", "tenant_id")

    def __init__(self, tenant_id: int, state: SessionState, created: bool) -> None:
        self.tenant_id = tenant_id
        self.state = state
        self.created = created
        self.hits: list[PageView] = []
        self.plan = Assignment()

    @property
    def id(self) -> int:
        return self.state[0]


def write_in_order(conn: Connection, views: list[PageView], now: datetime) -> bool:
    """Write the batch if it is the easy case (see the module docstring); False, with nothing
    written but the new sessions, when the exact path must take it."""
    db = hot_writes(conn)
    batch = _sessions(db, views, now)
    if not _plan(db, batch):
        return False
    touched = [s for s in batch if any(v.id is None for v in s.plan.visits)]
    visit_rows = _new_visits(db, batch)
    rows = [row for session in batch for row in _page_view_rows(session)]
    db.savepoint()
    db.insert_visits(visit_rows)
    db.update_visits(
        [
            (v.started_at, v.ended_at, v.page_count, v.exit_url, v.id)
            for s in batch
            for v in s.plan.visits
            if v.first_hit is None and v.changed  # the open visit, extended
        ]
    )
    db.point_sessions(_pointers(batch))
    if db.insert_page_views(rows) != len(rows):
        db.rollback_to_savepoint()
        return False
    db.release()
    _follow_up(conn, batch, touched)
    return True


def _sessions(db: HotWrites, views: list[PageView], now: datetime) -> list[_Session]:
    """The batch's sessions with their new hits in time order (duplicates within the batch
    dropped), found or created."""
    per_key: dict[SessionKey, dict[tuple[str, int], PageView]] = defaultdict(dict)
    for view in views:
        per_key[(view.tenant_id, view.session_hash)].setdefault((view.row["host"], view.seq), view)
    hashes: dict[int, list[str]] = defaultdict(list)
    for tenant_id, session_hash in per_key:
        hashes[tenant_id].append(session_hash)
    batch: list[_Session] = []
    for tenant_id, tenant_hashes in hashes.items():
        for session_hash, (state, created) in db.sessions_of(tenant_id, tenant_hashes, now).items():
            session = _Session(tenant_id, state, created)
            session.hits = sorted(
                per_key[(tenant_id, session_hash)].values(),
                key=lambda v: (v.row["occurred_at"], v.seq),
            )
            batch.append(session)
    return batch


def _plan(db: HotWrites, batch: list[_Session]) -> bool:
    """Place each session's hits into visits; False at the first late hit."""
    open_rows = db.open_visits([s.state[1] for s in batch if s.state[1] is not None])
    for session in batch:
        current = None
        open_id = session.state[1]
        if open_id is not None:
            row = open_rows.get(open_id)
            if row is None:
                return False
            started, ended, day, channel, source, medium, campaign, pages, exit_url = row
            current = VisitState(
                started, ended, day, (channel, source, medium, campaign), pages, exit_url, open_id
            )
            if session.hits[0].row["occurred_at"] < ended:
                return False
        scope = session.hits[0].scope
        facts = [hit_facts(view) for view in session.hits]
        session.plan = assign(current, facts, scope.idle, scope.zone)
    return True


def _page_view_rows(session: _Session) -> list[dict[str, Any]]:
    rows = []
    for index, (view, target) in enumerate(zip(session.hits, session.plan.hit_visit, strict=True)):
        visit = session.plan.visits[target]
        row = page_view_row(view, session.id, visit, visit.first_hit == index)
        rows.append(fitted_page_view(row))
    return rows


def _new_visits(db: HotWrites, batch: list[_Session]) -> list[dict[str, Any]]:
    """Rows of the batch's new visits, their ids reserved (and set on the plans)."""
    new = [(s, v) for s in batch for v in s.plan.visits if v.id is None]
    rows: list[dict[str, Any]] = []
    for (session, visit), visit_id in zip(new, db.reserve_visit_ids(len(new)), strict=True):
        visit.id = visit_id
        assert visit.first_hit is not None
        row = visit_values(session.id, session.hits[visit.first_hit], visit)
        row["id"] = visit_id
        rows.append(row)
    return rows


def _pointers(batch: list[_Session]) -> list[tuple[int | None, int]]:
    """(open visit, session) for each session whose open visit is now another one."""
    pointers = []
    for session in batch:
        plan = session.plan
        if plan.open_index is None:
            continue
        open_id = plan.visits[plan.open_index].id
        if open_id != session.state[1]:
            pointers.append((open_id, session.id))
    return pointers


def _follow_up(conn: Connection, batch: list[_Session], touched: list[_Session]) -> None:
    """Events that waited for a session's first visit, and the touches of identified
    contacts whose sessions gained a visit."""
    first_visits = {
        s.id: (s.hits, s.plan)
        for s in batch
        if not s.created and s.state[1] is None and s.plan.visits
    }
    if first_visits:
        credit_waiting_events(conn, first_visits)
    by_tenant: dict[int, set[int]] = defaultdict(set)
    for session in touched:
        contact_id = session.state[2]
        if contact_id is not None:
            by_tenant[session.tenant_id].add(contact_id)
    for tenant_id, contact_ids in by_tenant.items():
        refresh_touches(conn, tenant_id, contact_ids)
