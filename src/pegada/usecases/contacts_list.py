"""The contacts list: newest first, filtered by first-touch channel, campaign (first or
last touch), creation dates (tenant time zone), having an event of a type, and a search
box over name / e-mail / CPF / phone that ignores accents and case, as the Rubeus search
does ("joao" finds "João", "SILVA" finds "Silva", "123.456.789-09" finds the CPF).

Merged contacts are left out: they live on in their survivor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from pegada.clock import aware_utc
from pegada.errors import InvalidInput
from pegada.events.moments import local_iso
from pegada.identity.search import query_terms
from pegada.storage.engine import read_transaction
from pegada.storage.reports import contact_list
from pegada.tenancy import Tenant
from pegada.usecases.reports import Page, local_midnight

#: A query made only of digits and phone punctuation is one number ("(11) 98765-4321").
_NUMBER = re.compile(r"[\d\s().+\-/]+")
MAX_TERMS = 8


@dataclass(frozen=True)
class ContactQuery:
    channel: str | None = None
    campaign: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    event_type: int | None = None
    q: str | None = None


def search_terms(q: str | None) -> list[str]:
    """The words every contact must contain (folded; CPF and phone as bare digits)."""
    if q is None or not q.strip():
        return []
    digits = "".join(ch for ch in q if ch.isdigit())
    if _NUMBER.fullmatch(q.strip()) and len(digits) >= 4:
        return [digits]
    terms = query_terms(q)
    if len(terms) > MAX_TERMS:
        raise InvalidInput(f"q: more than {MAX_TERMS} words", {"q": f"more than {MAX_TERMS} words"})
    return terms


def _after(cursor: list[Any] | None) -> tuple[datetime, int] | None:
    if cursor is None:
        return None
    bad = InvalidInput("cursor: not a cursor of this list", {"cursor": "not a cursor of this list"})
    if len(cursor) != 3 or cursor[0] != "contacts":
        raise bad
    _, at, contact_id = cursor
    if not isinstance(at, str) or type(contact_id) is not int or not 0 <= contact_id < 2**63:
        raise bad
    try:
        moment = aware_utc(at)
    except ValueError as exc:
        raise bad from exc
    return moment, contact_id


def _touch(touch: dict[str, Any] | None, tz: str) -> dict[str, Any] | None:
    if not touch:
        return None
    shown = dict(touch)
    if isinstance(shown.get("at"), str):
        shown["at"] = local_iso(datetime.fromisoformat(shown["at"]), tz)
    if shown.get("visit_id") is not None:
        shown["visit_id"] = str(shown["visit_id"])
    return shown


def list_contacts(
    engine: Engine, tenant: Tenant, query: ContactQuery, limit: int, cursor: list[Any] | None
) -> Page:
    tz = tenant.timezone
    if (
        query.created_from is not None
        and query.created_to is not None
        and query.created_from > query.created_to
    ):
        raise InvalidInput("created_from: after created_to", {"created_from": "after created_to"})
    where = contact_list.ContactFilter(
        channel=query.channel,
        campaign=query.campaign,
        created_from=local_midnight(query.created_from, tz) if query.created_from else None,
        created_before=(
            local_midnight(query.created_to + timedelta(days=1), tz) if query.created_to else None
        ),
        event_type=query.event_type,
        terms=search_terms(query.q),
    )
    after = _after(cursor)
    with read_transaction(engine) as conn:
        rows = contact_list.contact_page(conn, tenant.id, where, after, limit + 1)
    shown = rows[:limit]
    items = [
        {
            "id": str(r.id),
            "codigo": r.codigo,
            "nome": r.nome,
            "emailPrincipal": r.email,
            "telefonePrincipal": r.phone,
            "cpf": r.cpf,
            "channel": r.first_channel,
            "first_touch": _touch(r.first_touch, tz),
            "last_touch": _touch(r.last_touch, tz),
            "created_at": local_iso(r.created_at, tz),
            "updated_at": local_iso(r.updated_at, tz),
        }
        for r in shown
    ]
    more = len(rows) > limit
    last = shown[-1] if shown else None
    return Page(
        {"items": items},
        ["contacts", last.created_at.isoformat(), int(last.id)] if more and last else None,
    )
