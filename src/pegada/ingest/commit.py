"""What one group commit writes: the batch's page hits, grouped into visits, and its drop
counts — in one transaction.

The common batch (hits in time order, none resent) is written by ingest/in_order.py with a
few driver statements; this module is the exact path for every other batch, and the
reference both must agree with.

The batch's sessions are locked first, so two processes writing hits of one session (or a
recompute running beside them) take turns. Resent hits (same session, host and sequence
number) are recognised before they are counted into a visit, so a tracker's retries never
inflate page counts. Hits that come after the open visit's last one extend it or start new
visits (journeys/visits.py); a session whose batch holds an older hit (a queued one) has the
stretch of its history that hit falls in regrouped instead (journeys/regroup.py), so the
order hits arrive in never changes the visits. When a batch adds or regroups visits of a
session that belongs to a contact, that contact's first and last touch are recomputed (a
queued hit may reveal an earlier visit); events that waited for a session's first visit are
credited to it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pegada.ingest.in_order import write_in_order
from pegada.ingest.pipeline import Drop, PageView
from pegada.journeys.regroup import (
    credit_waiting_events,
    hit_facts,
    page_view_row,
    regroup_late,
    visit_state,
    visit_values,
)
from pegada.journeys.touches import refresh_touches
from pegada.journeys.visits import Assignment, VisitState, assign
from pegada.storage import hits_repo, visits_repo


def write_batch(conn: Connection, views: list[PageView], drops: list[Drop], now: datetime) -> None:
    if views and not write_in_order(conn, views, now):
        _write_views(conn, views, now)
    if drops:
        hits_repo.count_drops(conn, drops)


def _fresh(
    views: list[PageView], sessions: dict[tuple[int, str], Any], conn: Connection
) -> dict[int, list[PageView]]:
    """The batch's new hits per session id, in time order, without resent ones."""
    unique: dict[tuple[int, int, str, int], PageView] = {}
    for view in views:
        session_id = int(sessions[(view.tenant_id, view.session_hash)].id)
        unique.setdefault((view.tenant_id, session_id, view.row["host"], view.seq), view)
    stored = hits_repo.stored_hit_keys(conn, set(unique))
    per_session: dict[int, list[PageView]] = defaultdict(list)
    for key, view in unique.items():
        if key not in stored:
            per_session[key[1]].append(view)
    for group in per_session.values():
        group.sort(key=lambda v: (v.row["occurred_at"], v.seq))
    return per_session


Plan = tuple[int, list[PageView], Assignment]


def _write_views(conn: Connection, views: list[PageView], now: datetime) -> None:
    sessions = hits_repo.ensure_sessions(conn, {(v.tenant_id, v.session_hash) for v in views}, now)
    open_of = visits_repo.lock_sessions(conn, [int(s.id) for s in sessions.values()])
    per_session = _fresh(views, sessions, conn)
    open_rows = visits_repo.open_visits(
        conn, [vid for sid in per_session if (vid := open_of.get(sid)) is not None]
    )
    plans: list[Plan] = []
    late: list[tuple[int, list[PageView]]] = []
    for session_id, group in per_session.items():
        vid = open_of.get(session_id)
        current = open_rows.get(vid) if vid is not None else None
        if current is not None and group[0].row["occurred_at"] < current.ended_at:
            late.append((session_id, group))
            continue
        scope = group[0].scope
        state = visit_state(current) if current is not None else None
        facts = [hit_facts(view) for view in group]
        plans.append((session_id, group, assign(state, facts, scope.idle, scope.zone)))
    # Noted before the new visits get their ids.
    touched = {sid for sid, _, plan in plans if any(v.id is None for v in plan.visits)}
    first_visits = {
        sid: (group, plan) for sid, group, plan in plans if open_of.get(sid) is None and plan.visits
    }
    _store_visits(conn, plans)
    rows = []
    for session_id, group, plan in plans:
        for index, (view, target) in enumerate(zip(group, plan.hit_visit, strict=True)):
            visit = plan.visits[target]
            rows.append(page_view_row(view, session_id, visit, visit.first_hit == index))
    for session_id, group in late:
        rows += regroup_late(conn, session_id, group).new_rows
        touched.add(session_id)
    hits_repo.insert_page_views(conn, rows)
    credit_waiting_events(conn, first_visits)
    tenant_of = {sid: group[0].tenant_id for sid, group in per_session.items()}
    by_tenant: dict[int, set[int]] = defaultdict(set)
    for session_id, contact_id in visits_repo.contacts_of_sessions(conn, touched).items():
        by_tenant[tenant_of[session_id]].add(contact_id)
    for tenant_id, contact_ids in by_tenant.items():
        refresh_touches(conn, tenant_id, contact_ids)


def _store_visits(conn: Connection, plans: list[Plan]) -> None:
    """Insert the new visits (ids filled in), update the extended ones, and point each
    session at its open visit."""
    new_rows: list[dict[str, Any]] = []
    new_states: list[VisitState] = []
    changes: list[dict[str, Any]] = []
    for session_id, group, plan in plans:
        for visit in plan.visits:
            if visit.id is None:
                assert visit.first_hit is not None
                new_rows.append(visit_values(session_id, group[visit.first_hit], visit))
                new_states.append(visit)
            elif visit.changed:
                changes.append(
                    {
                        "vid": visit.id,
                        "started_at": visit.started_at,
                        "ended_at": visit.ended_at,
                        "page_count": visit.page_count,
                        "exit_url": visit.exit_url,
                    }
                )
    for state, new_id in zip(new_states, visits_repo.insert_visits(conn, new_rows), strict=True):
        state.id = new_id
    visits_repo.update_visits(conn, changes)
    visits_repo.set_open_visits(
        conn,
        {
            session_id: plan.visits[plan.open_index].id
            for session_id, _, plan in plans
            if plan.open_index is not None
        },
    )
