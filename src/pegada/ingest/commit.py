"""What one group commit writes: the batch's page hits, grouped into visits, and its drop
counts — in one transaction.

Resent hits (same session, host and sequence number) are recognised before they are
counted into a visit, so a tracker's retries never inflate page counts. When a batch adds
a visit to a session that already belongs to a contact, that contact's first and last touch
are recomputed (a queued hit may reveal an earlier visit).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pegada.ingest.pipeline import Drop, PageView
from pegada.journeys.touches import refresh_touches
from pegada.journeys.visits import HitFacts, VisitState, assign
from pegada.storage import hits_repo, visits_repo


def write_batch(conn: Connection, views: list[PageView], drops: list[Drop], now: datetime) -> None:
    if views:
        _write_views(conn, views, now)
    if drops:
        hits_repo.count_drops(conn, drops, now)


def _campaign_key(view: PageView) -> tuple[str, str | None, str | None, str | None]:
    c = view.classification
    return (c.channel, c.source, c.medium, c.campaign)


def _state(row: Any) -> VisitState:
    return VisitState(
        row.started_at,
        row.ended_at,
        row.local_day,
        (row.channel_type, row.source, row.medium, row.campaign),
        row.page_count,
        row.exit_url,
        id=int(row.id),
    )


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


def _write_views(conn: Connection, views: list[PageView], now: datetime) -> None:
    sessions = hits_repo.ensure_sessions(conn, {(v.tenant_id, v.session_hash) for v in views}, now)
    per_session = _fresh(views, sessions, conn)
    open_rows = visits_repo.open_visits(
        conn, [s.open_visit_id for s in sessions.values() if s.open_visit_id is not None]
    )
    open_of = {int(s.id): s.open_visit_id for s in sessions.values()}
    plans = []
    for session_id, group in per_session.items():
        current = open_rows.get(open_of[session_id]) if open_of[session_id] else None
        facts = [
            HitFacts(v.row["occurred_at"], v.is_entry, _campaign_key(v), v.row["url"])
            for v in group
        ]
        plans.append(
            (
                session_id,
                group,
                assign(
                    _state(current) if current else None, facts, group[0].visit_idle, group[0].zone
                ),
            )
        )
    _store_visits(conn, plans)
    rows = []
    new_visit_sessions = []
    for session_id, group, plan in plans:
        if any(v.id is None for v in plan.visits):
            new_visit_sessions.append(session_id)
        for view, index in zip(group, plan.hit_visit, strict=True):
            visit = plan.visits[index]
            own = visit.first_hit is not None and group[visit.first_hit] is view
            channel, source, medium, campaign = (
                _campaign_key(view) if own or view.is_entry else (visit.key[0], None, None, None)
            )
            rows.append(
                dict(
                    view.row,
                    tenant_id=view.tenant_id,
                    session_id=session_id,
                    visit_id=visit.id,
                    channel_type=channel,
                    source=source,
                    medium=medium,
                    campaign=campaign,
                )
            )
    hits_repo.insert_page_views(conn, rows)
    owners = visits_repo.contacts_of_sessions(conn, new_visit_sessions)
    by_tenant: dict[int, set[int]] = defaultdict(set)
    for session_id, contact_id in owners.items():
        tenant_id = next(g[0].tenant_id for s, g, _ in plans if s == session_id)
        by_tenant[tenant_id].add(contact_id)
    for tenant_id, contact_ids in by_tenant.items():
        refresh_touches(conn, tenant_id, contact_ids)


def _store_visits(conn: Connection, plans: list[Any]) -> None:
    """Insert the new visits (ids filled in), update the extended ones, and point each
    session at its open visit."""
    new_rows: list[dict[str, Any]] = []
    new_states: list[VisitState] = []
    changes: list[dict[str, Any]] = []
    for session_id, group, plan in plans:
        for visit in plan.visits:
            if visit.id is None:
                landing = group[visit.first_hit]
                new_rows.append(_visit_row(session_id, landing, visit))
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
            if plan.open_index is not None and plan.visits[plan.open_index].id is not None
        },
    )


def _visit_row(session_id: int, landing: PageView, visit: VisitState) -> dict[str, Any]:
    row, c = landing.row, landing.classification
    return hits_repo.fitted_visit(
        {
            "tenant_id": landing.tenant_id,
            "session_id": session_id,
            "started_at": visit.started_at,
            "ended_at": visit.ended_at,
            "local_day": visit.local_day,
            "page_count": visit.page_count,
            "landing_url": row["url"],
            "landing_host": row["host"],
            "landing_path": row["path"],
            "exit_url": visit.exit_url,
            "referrer": row["referrer"],
            "referrer_host": row["referrer_host"],
            "utm": row["utm"],
            "channel_type": c.channel,
            "source": c.source,
            "medium": c.medium,
            "campaign": c.campaign,
            "device_type": row["device_type"],
            "os": row["os"],
            "browser": row["browser"],
            "rules_version": c.rules_version,
        }
    )
