"""The common batch of hits, written with a handful of statements.

Almost every batch is the easy case: each session's new hits come at or after the last hit
of its open visit, and none of them was stored before. Such a batch needs no look at the
stored page views: the sessions (found or created), their open visits, and then one insert
per table. `write_in_order` writes it that way and returns True; for anything else it
returns False having written nothing but the sessions it found missing (which the exact
path would create the same way), and the exact path (ingest/commit.py) takes the batch:

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
from collections.abc import Iterator
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
from pegada.storage.hot_writes import BatchWrites, SessionKey, SessionState, hot_writes


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
    per_key = _fresh_hits(views)
    hashes: dict[int, list[str]] = defaultdict(list)
    for tenant_id, session_hash in per_key:
        hashes[tenant_id].append(session_hash)
    start = db.start(hashes, now, most_visits=sum(len(h) for h in per_key.values()))
    batch = []
    for key, hits in per_key.items():
        state, created = start.sessions[key]
        session = _Session(key[0], state, created)
        session.hits = hits
        batch.append(session)
    if not _plan(batch, start.open_visits):
        return False
    touched = [s for s in batch if any(v.id is None for v in s.plan.visits)]
    writes = BatchWrites(
        visits=_new_visits(batch, iter(start.visit_ids)),
        visit_updates=[
            (v.started_at, v.ended_at, v.page_count, v.exit_url, v.id)
            for s in batch
            for v in s.plan.visits
            if v.first_hit is None and v.changed  # the open visit, extended
        ],
        pointers=_pointers(batch),
        page_views=[row for session in batch for row in _page_view_rows(session)],
    )
    if not db.write(writes):
        return False
    _follow_up(conn, batch, touched)
    return True


def _fresh_hits(views: list[PageView]) -> dict[SessionKey, list[PageView]]:
    """Each session's hits in time order, a hit sent twice within the batch taken once."""
    per_key: dict[SessionKey, dict[tuple[str, int], PageView]] = defaultdict(dict)
    for view in views:
        per_key[(view.tenant_id, view.session_hash)].setdefault((view.row["host"], view.seq), view)
    return {
        key: sorted(hits.values(), key=lambda v: (v.row["occurred_at"], v.seq))
        for key, hits in per_key.items()
    }


def _plan(batch: list[_Session], open_visits: dict[int, tuple[Any, ...]]) -> bool:
    """Place each session's hits into visits; False at the first late hit."""
    for session in batch:
        current = None
        open_id = session.state[1]
        if open_id is not None:
            row = open_visits.get(open_id)
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


def _new_visits(batch: list[_Session], ids: Iterator[int]) -> list[dict[str, Any]]:
    """Rows of the batch's new visits, given reserved ids (set on the plans too)."""
    rows: list[dict[str, Any]] = []
    for session in batch:
        for visit in session.plan.visits:
            if visit.id is None:
                visit.id = next(ids)
                assert visit.first_hit is not None
                row = visit_values(session.id, session.hits[visit.first_hit], visit)
                row["id"] = visit.id
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
