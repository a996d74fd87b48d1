"""A contact's timeline: one chronological list of its visits (with their pages), events,
form submissions and merges, a page at a time.

Items are ordered by (time, kind, id) — kinds by name, so ties are stable — newest first
unless asked otherwise. The cursor is the (time, kind, id) of the last item given; each
source is read from just past it, so a page never skips or repeats an item however many
share a timestamp. A merged contact's id shows its survivor's timeline (which holds both
histories since the merge), saying so in `redirected_from`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from pegada.clock import aware_utc
from pegada.errors import InvalidInput, NotFound
from pegada.events.moments import local_iso
from pegada.storage import contacts_repo, timeline_repo
from pegada.storage.engine import read_transaction
from pegada.storage.timeline_repo import Boundary
from pegada.tenancy import Tenant
from pegada.usecases.reports import Page

KINDS = ("event", "merge", "submission", "visit")

#: (sort key, item) of one timeline entry.
Entry = tuple[tuple[datetime, str, int], dict[str, Any]]


def _is_id(value: Any) -> bool:
    return type(value) is int and 0 <= value < 2**63


def boundary_of(cursor: list[Any] | None, order: str) -> Boundary | None:
    """The cursor's (time, kind, id), checked: it must come from a timeline in this order."""
    if cursor is None:
        return None
    bad = InvalidInput("cursor: not a cursor of this list", {"cursor": "not a cursor of this list"})
    if len(cursor) != 4 or cursor[0] != order:
        raise bad
    _, at, kind, item_id = cursor
    if not isinstance(at, str) or kind not in KINDS or not _is_id(item_id):
        raise bad
    try:
        moment = aware_utc(at)
    except ValueError as exc:
        raise bad from exc
    return Boundary(moment, kind, item_id)


def timeline(
    engine: Engine,
    tenant: Tenant,
    contact_id: int,
    descending: bool,
    limit: int,
    cursor: list[Any] | None,
) -> Page:
    order = "desc" if descending else "asc"
    boundary = boundary_of(cursor, order)
    with read_transaction(engine) as conn:
        requested = contacts_repo.contact_row(conn, tenant.id, contact_id)
        live = timeline_repo.live_contact(conn, tenant.id, contact_id) if requested else None
        if live is None:
            raise NotFound(f"id: no contact {contact_id} in this tenant", {"id": "unknown contact"})
        entries = _entries(conn, tenant, int(live.id), boundary, descending, limit + 1)
    entries.sort(key=lambda entry: entry[0], reverse=descending)
    shown = entries[:limit]
    more = len(entries) > limit
    last = shown[-1][0] if shown else None
    return Page(
        {
            "contact": {
                "id": str(live.id),
                "nome": live.nome,
                "emailPrincipal": live.email,
                "channel": live.first_channel,
            },
            "redirected_from": str(contact_id) if int(live.id) != contact_id else None,
            "order": order,
            "items": [item for _, item in shown],
        },
        [order, last[0].isoformat(), last[1], last[2]] if more and last else None,
    )


def _entries(
    conn: Connection,
    tenant: Tenant,
    contact_id: int,
    boundary: Boundary | None,
    descending: bool,
    limit: int,
) -> list[Entry]:
    tz = tenant.timezone
    args = (conn, tenant.id, contact_id, boundary, descending, limit)
    visit_rows = timeline_repo.visits_of(*args)
    pages: dict[int, list[Any]] = {}
    for page in timeline_repo.pages_of(conn, tenant.id, [int(v.id) for v in visit_rows]):
        pages.setdefault(int(page.visit_id), []).append(page)
    entries: list[Entry] = [
        ((v.started_at, "visit", int(v.id)), _visit(v, pages.get(int(v.id), []), tz))
        for v in visit_rows
    ]
    entries += [
        ((e.occurred_at, "event", int(e.id)), _event(e, tz)) for e in timeline_repo.events_of(*args)
    ]
    entries += [
        ((s.created_at, "submission", int(s.id)), _submission(s, tz))
        for s in timeline_repo.submissions_of(*args)
    ]
    entries += [
        ((m.merged_at, "merge", int(m.id)), _merge(m, contact_id, tz))
        for m in timeline_repo.merges_of(*args)
    ]
    return entries


def _visit(v: Any, pages: list[Any], tz: str) -> dict[str, Any]:
    shown = []
    for index, page in enumerate(pages):
        following = pages[index + 1].occurred_at if index + 1 < len(pages) else None
        shown.append(
            {
                "at": local_iso(page.occurred_at, tz),
                "url": page.url,
                "title": page.title,
                "seq": page.seq,
                "seconds_on_page": (
                    int((following - page.occurred_at).total_seconds()) if following else None
                ),
            }
        )
    return {
        "kind": "visit",
        "id": str(v.id),
        "at": local_iso(v.started_at, tz),
        "ended_at": local_iso(v.ended_at, tz),
        "duration_seconds": int((v.ended_at - v.started_at).total_seconds()),
        "session_id": v.session_hash,
        "landing_url": v.landing_url,
        "exit_url": v.exit_url,
        "page_count": v.page_count,
        "referrer": v.referrer,
        "channel": v.channel_type,
        "source": v.source,
        "medium": v.medium,
        "campaign": v.campaign,
        "utm": v.utm or {},
        "device": {"type": v.device_type, "os": v.os, "browser": v.browser},
        "pages": shown,
    }


def _event(e: Any, tz: str) -> dict[str, Any]:
    return {
        "kind": "event",
        "id": str(e.id),
        "at": local_iso(e.occurred_at, tz),
        "type": {"id": e.type_id, "codigo": e.type_codigo, "titulo": e.type_titulo},
        "codigo": e.codigo,
        "channel": e.channel_type,
        "visit_id": str(e.visit_id) if e.visit_id is not None else None,
        "session_id": e.session_hash,
        "data": e.fields,
    }


def _submission(s: Any, tz: str) -> dict[str, Any]:
    return {
        "kind": "submission",
        "id": str(s.id),
        "at": local_iso(s.created_at, tz),
        "endpoint": s.endpoint,
        "channel": (
            {"origem": s.origem, "name": s.channel_name} if s.channel_id is not None else None
        ),
        "session_id": s.session_hash,
        "data": s.payload,
        "notes": s.notes,
    }


def _merge(m: Any, contact_id: int, tz: str) -> dict[str, Any]:
    return {
        "kind": "merge",
        "id": str(m.id),
        "at": local_iso(m.merged_at, tz),
        "role": "survivor" if int(m.survivor_id) == contact_id else "merged",
        "survivor_id": str(m.survivor_id),
        "merged_id": str(m.merged_id),
        "reason": m.reason,
        "unmerged_at": local_iso(m.unmerged_at, tz) if m.unmerged_at else None,
    }
