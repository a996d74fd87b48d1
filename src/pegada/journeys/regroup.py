"""Regrouping page views into visits from what is stored, so a session's visits are always
what journeys/visits.py makes of all its page views in time order, whatever order they came
in and whichever rules were in force when they came.

Two callers:

- the hit path, when a batch brings a session a late hit (older than the open visit's last
  one): only the stretch of the session it can change is regrouped — the stored visits
  between the nearest gaps longer than the idle time that no new hit falls in (a page after
  such a gap starts a visit whatever came before, so nothing outside the stretch moves);
- `pegada attribution recompute`: every session of a tenant, with the current rules and
  the tenant's current settings.

Each stored page view is classified again from what was stored of it (journeys/landing.py).
Visits keep their ids where they can (a new visit takes the id its earliest page had), so
a regroup that changes nothing writes nothing, and events follow the pages: an event stays
with the visit that now holds the pages of the visit it was credited to (the part under way
at its time when that visit was split), so a browser clock a little off cannot move it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row

from pegada.ingest.pipeline import PageView
from pegada.journeys.landing import Scope, classify_stored
from pegada.journeys.visits import Assignment, CampaignKey, HitFacts, VisitState, assign
from pegada.storage import hits_repo, recompute_repo, visits_repo

#: What a page view carries of its visit: visit id, channel type, source, medium, campaign.
ViewValues = tuple[int | None, str, str | None, str | None, str | None]
_VIEW_VALUE_NAMES = ("visit_id", "channel_type", "source", "medium", "campaign")


# --- shared with the in-order hit path (ingest/commit.py) -------------------------------------


def campaign_key(view: PageView) -> CampaignKey:
    c = view.classification
    return (c.channel, c.source, c.medium, c.campaign)


def hit_facts(view: PageView) -> HitFacts:
    return HitFacts(view.row["occurred_at"], view.is_entry, campaign_key(view), view.row["url"])


def visit_state(row: Any) -> VisitState:
    """A stored visit as the splitter continues it."""
    return VisitState(
        row.started_at,
        row.ended_at,
        row.local_day,
        (row.channel_type, row.source, row.medium, row.campaign),
        row.page_count,
        row.exit_url,
        id=int(row.id),
    )


def view_values(view: PageView, visit: VisitState, is_landing: bool) -> ViewValues:
    """A page view's own attribution when it is a landing (the visit's first page, or an
    entry that continues a visit of the same campaign); else the visit's channel type."""
    if is_landing or view.is_entry:
        return (visit.id, *campaign_key(view))
    return (visit.id, visit.key[0], None, None, None)


def visit_values(session_id: int, landing: PageView, visit: VisitState) -> dict[str, Any]:
    """The stored columns of a visit (fitted to their sizes) from its landing page view."""
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


def page_view_row(
    view: PageView, session_id: int, visit: VisitState, is_landing: bool
) -> dict[str, Any]:
    """The row to insert for a new page view."""
    visit_id, channel, source, medium, campaign = view_values(view, visit, is_landing)
    return dict(
        view.row,
        tenant_id=view.tenant_id,
        session_id=session_id,
        visit_id=visit_id,
        channel_type=channel,
        source=source,
        medium=medium,
        campaign=campaign,
    )


def stored_view(scope: Scope, row: Row[Any]) -> PageView:
    """A stored page view, classified again with the scope's rules and own sites."""
    landing = classify_stored(scope, row)
    return PageView(
        scope.tenant_id,
        "",
        int(row.seq),
        landing.is_entry,
        landing.classification,
        dict(row._mapping),
        scope,
    )


# --- which stretch a late hit can change ------------------------------------------------------


def late_stretch(
    spans: Sequence[tuple[datetime, datetime]], times: Sequence[datetime], idle: timedelta
) -> tuple[int, int]:
    """[lo, hi) of a session's visits (their (start, end), in time order) that page views
    at `times` may regroup: up to the nearest gaps longer than `idle` none of them falls in
    (the first page after such a gap starts a visit whatever came before it)."""

    def closed(k: int) -> bool:  # the gap before visit k
        before, after = spans[k - 1][1], spans[k][0]
        return after - before > idle and not any(before <= t <= after for t in times)

    starts = [start for start, _ in spans]
    lo = max(bisect.bisect_right(starts, min(times)) - 1, 0)
    hi = max(bisect.bisect_right(starts, max(times)), 1)
    while lo > 0 and not closed(lo):
        lo -= 1
    while hi < len(spans) and not closed(hi):
        hi += 1
    return lo, hi


# --- regrouping ---------------------------------------------------------------------------


@dataclass
class RegroupStats:
    visits_before: int = 0
    visits_after: int = 0
    visits_written: int = 0  # inserted or rewritten
    visits_deleted: int = 0
    page_views_changed: int = 0
    events_changed: int = 0

    def add(self, other: RegroupStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Regrouped:
    """One regrouped stretch: what the caller still has to write or know."""

    stats: RegroupStats
    #: Rows of the fresh (not yet stored) page views, for the caller to insert.
    new_rows: list[dict[str, Any]] = field(default_factory=list)
    #: The last visit of the stretch (None when the stretch has no page view left).
    last_visit_id: int | None = None


def regroup(
    conn: Connection,
    scope: Scope,
    session_id: int,
    old_visits: list[Row[Any]],
    stored_rows: list[Row[Any]],
    fresh: list[PageView],
    events: list[Row[Any]],
) -> Regrouped:
    """Regroup the stored page views of `old_visits` (plus `fresh`, new page views) into
    visits, rewrite what changed, and credit `events` (those credited to `old_visits`, or
    every event of the session) to the new visits."""
    stored = [stored_view(scope, row) for row in stored_rows]
    views = sorted(
        [*stored, *fresh],
        key=lambda v: (v.row["occurred_at"], v.seq, "id" not in v.row, v.row.get("id") or 0),
    )
    plan = assign(None, [hit_facts(v) for v in views], scope.idle, scope.zone)
    stats = RegroupStats(visits_before=len(old_visits), visits_after=len(plan.visits))
    _claim_ids(plan, views, [int(v.id) for v in old_visits])
    _write_visits(conn, session_id, plan, views, old_visits, stats)
    result = Regrouped(stats)
    if plan.visits:
        result.last_visit_id = plan.visits[-1].id
    changed_views = []
    for index, view in enumerate(views):
        visit = plan.visits[plan.hit_visit[index]]
        is_landing = visit.first_hit == index
        if "id" not in view.row:
            result.new_rows.append(page_view_row(view, session_id, visit, is_landing))
            continue
        values = view_values(view, visit, is_landing)
        if values != tuple(view.row[name] for name in _VIEW_VALUE_NAMES):
            changed_views.append(
                dict(zip(_VIEW_VALUE_NAMES, values, strict=True)) | {"pid": view.row["id"]}
            )
    recompute_repo.rewrite_page_views(conn, changed_views)
    stats.page_views_changed = len(changed_views)
    stats.events_changed = _credit_events(conn, plan, views, events)
    return result


def _claim_ids(plan: Assignment, views: list[PageView], old_ids: list[int]) -> None:
    """Each new visit keeps the id of the earliest of its pages' old visits not taken yet;
    the rest take the leftover ids in order (a rewrite instead of a delete and an insert)."""
    free = set(old_ids)
    for index, view in enumerate(views):
        visit = plan.visits[plan.hit_visit[index]]
        old = view.row.get("visit_id")
        if visit.id is None and old in free:
            visit.id = old
            free.discard(old)
    leftovers = [vid for vid in old_ids if vid in free]
    for visit in plan.visits:
        if visit.id is None and leftovers:
            visit.id = leftovers.pop(0)


def _write_visits(
    conn: Connection,
    session_id: int,
    plan: Assignment,
    views: list[PageView],
    old_visits: list[Row[Any]],
    stats: RegroupStats,
) -> None:
    """Insert, rewrite (when different) and delete; counted in `stats`."""
    old_by_id = {int(v.id): v for v in old_visits}
    inserts: list[tuple[VisitState, dict[str, Any]]] = []
    rewrites = []
    for visit in plan.visits:
        assert visit.first_hit is not None
        values = visit_values(session_id, views[visit.first_hit], visit)
        if visit.id is None:
            inserts.append((visit, values))
            continue
        old = old_by_id.pop(visit.id)._mapping
        if any(old[name] != value for name, value in values.items()):
            rewrites.append({**values, "vid": visit.id})
    recompute_repo.rewrite_visits(conn, rewrites)
    new_ids = visits_repo.insert_visits(conn, [values for _, values in inserts])
    for (visit, _), new_id in zip(inserts, new_ids, strict=True):
        visit.id = new_id
    recompute_repo.delete_visits(conn, old_by_id)
    stats.visits_written = len(rewrites) + len(inserts)
    stats.visits_deleted = len(old_by_id)


def _credit_events(
    conn: Connection, plan: Assignment, views: list[PageView], events: list[Row[Any]]
) -> int:
    """Each event to the new visit holding the pages of the visit it was credited to (the
    part under way at its time, if that visit was split); an event credited to no visit
    with pages here, to the visit under way at its time. Returns how many changed."""
    begun = _begun(plan, views)
    parts: dict[int, list[int]] = {}
    for index, view in enumerate(views):
        target = plan.hit_visit[index]
        old = view.row.get("visit_id")
        if old is not None and target not in parts.setdefault(old, []):
            parts[old].append(target)
    everything = list(range(len(plan.visits)))
    changes = []
    for event in events:
        candidates = parts.get(event.visit_id) or everything
        chosen = under_way(event.occurred_at, [begun[i] for i in candidates])
        visit = None if chosen is None else plan.visits[candidates[chosen]]
        values = (None, None) if visit is None else (visit.id, visit.key[0])
        if values != (event.visit_id, event.channel_type):
            changes.append({"eid": event.id, "visit_id": values[0], "channel_type": values[1]})
    recompute_repo.rewrite_events(conn, changes)
    return len(changes)


def _begun(plan: Assignment, views: list[PageView]) -> list[datetime]:
    """When each visit began: by the browser's clock (its start) or by the server's (its
    first page received), whichever is earlier — a browser clock a little fast must not make
    a visit look later than an event the server recorded during it."""
    begun = [visit.started_at for visit in plan.visits]
    for view, target in zip(views, plan.hit_visit, strict=True):
        begun[target] = min(begun[target], view.row["received_at"])
    return begun


def under_way(at: datetime, begun: list[datetime]) -> int | None:
    """Of visits in time order (when each began), the index of the one under way at `at`:
    the latest begun by then, else the first; None when there are none."""
    if not begun:
        return None
    latest = None
    for index, start in enumerate(begun):
        if start <= at:
            latest = index
    return 0 if latest is None else latest


# --- the two callers ------------------------------------------------------------------------


def regroup_late(conn: Connection, session_id: int, fresh: list[PageView]) -> Regrouped:
    """A batch of a session (locked) that has a page older than its open visit's last one:
    regroup the stretch those pages can change. The caller inserts `new_rows`."""
    scope = fresh[0].scope
    old = recompute_repo.visits_of_sessions(conn, [session_id])[session_id]
    lo, hi = late_stretch(
        [(v.started_at, v.ended_at) for v in old],
        [view.row["occurred_at"] for view in fresh],
        scope.idle,
    )
    stretch = old[lo:hi]
    ids = [int(v.id) for v in stretch]
    stored = recompute_repo.page_views_of_visits(conn, session_id, ids)
    events = recompute_repo.events_of_visits(conn, session_id, ids)
    result = regroup(conn, scope, session_id, stretch, stored, fresh, events)
    if hi == len(old):
        visits_repo.set_open_visits(conn, {session_id: result.last_visit_id})
    return result


def regroup_sessions(
    conn: Connection, scope: Scope, open_visits_now: dict[int, int | None]
) -> RegroupStats:
    """Regroup every page view of these sessions (locked; given with their open visit) and
    credit every one of their events again: the current rules and tenant settings over the
    stored history."""
    session_ids = sorted(open_visits_now)
    stats = RegroupStats()
    old_visits = recompute_repo.visits_of_sessions(conn, session_ids)
    stored = recompute_repo.page_views_of_sessions(conn, scope.tenant_id, session_ids)
    events = recompute_repo.events_of_sessions(conn, scope.tenant_id, session_ids)
    open_visits: dict[int, int | None] = {}
    for session_id in session_ids:
        result = regroup(
            conn,
            scope,
            session_id,
            old_visits.get(session_id, []),
            stored.get(session_id, []),
            [],
            events.get(session_id, []),
        )
        if result.last_visit_id != open_visits_now[session_id]:
            open_visits[session_id] = result.last_visit_id
        stats.add(result.stats)
    visits_repo.set_open_visits(conn, open_visits)
    return stats


def credit_waiting_events(
    conn: Connection, first_visits: dict[int, tuple[list[PageView], Assignment]]
) -> None:
    """Events recorded through a session before it had any visit (a page's event can beat
    its page hit to the database) go to the visit under way at their time, once the
    session's first page views arrive. `first_visits`: session → its new views and plan."""
    waiting = recompute_repo.events_waiting_for_a_visit(conn, first_visits)
    changes = []
    for session_id, events in waiting.items():
        views, plan = first_visits[session_id]
        begun = _begun(plan, views)
        for event in events:
            chosen = under_way(event.occurred_at, begun)
            if chosen is not None:
                visit = plan.visits[chosen]
                changes.append(
                    {"eid": event.id, "visit_id": visit.id, "channel_type": visit.key[0]}
                )
    recompute_repo.rewrite_events(conn, changes)
