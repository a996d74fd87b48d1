"""Reports for the dashboard and for integrations, over a range of days in the tenant's
time zone: the overview, one breakdown, daily series, top pages, events by type, and the
completeness of the collected hits. Also who may read them (`reader_tenant`).

Definitions (what every report means by its numbers):

- **visits**: visits (journeys/visits.py) that started on a day of the range;
- **visitors**: distinct sessions with a visit in the range;
- **page views**: the page views of those visits (top pages counts the same ones);
- **contacts**: contacts created in the range and not merged into another one since, by
  their first touch (channel, or the attributes of their first visit);
- **conversions**: sessions identified (first linked to a contact) in the range that were
  visitors — they have a visit — counted on the day of identification and credited to the
  visit under way then (the latest one started by that moment, else the session's first);
- **conversion rate**: conversions / visitors of the same group (null without visitors).

Visits, page views, conversions and hits known missing are read from the rollups
(storage/reports/rollups.py), which `rollups.refresh` brings up to date before each report;
contacts and events from their own tables.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from pegada.clock import utcnow
from pegada.errors import AuthFailed, InvalidInput
from pegada.storage import tenancy_repo
from pegada.storage.engine import read_transaction
from pegada.storage.reports import completeness as gaps
from pegada.storage.reports import contacts as new_contacts
from pegada.storage.reports import conversions, events, pages, visits
from pegada.storage.reports.dimensions import DIMENSIONS, KEY_NAMES
from pegada.storage.reports.span import Span, tune_for_reports
from pegada.tenancy import Tenant, token_digest
from pegada.usecases import rollups

DEFAULT_DAYS = 30
#: The longest range a report covers (a daily series of it is this many points).
MAX_DAYS = 3660
METRICS = ("visitors", "visits", "pageviews", "contacts", "conversions")


@dataclass(frozen=True)
class Page:
    """A reply's `dados` and, when more follows, what the next page's cursor carries."""

    dados: dict[str, Any]
    next: list[Any] | None = None


# --- who reads -------------------------------------------------------------------------------


def reader_tenant(engine: Engine, token: str) -> Tenant:
    """The tenant whose channel token this is (the digest names it), or AuthFailed."""
    refused = AuthFailed(
        "Authorization: not a channel token of any tenant",
        {"Authorization": "unknown token"},
    )
    with read_transaction(engine) as conn:
        row = tenancy_repo.channel_by_token_digest(conn, token_digest(token))
        if row is None or not hmac.compare_digest(row.token, token):
            raise refused
        tenant = tenancy_repo.tenant_by_id(conn, int(row.tenant_id))
    if tenant is None:
        raise refused
    return Tenant.from_row(tenant)


# --- ranges of days --------------------------------------------------------------------------


def today_in(zone: str) -> date:
    return utcnow().astimezone(ZoneInfo(zone)).date()


def local_midnight(day: date, zone: str) -> datetime:
    """The UTC instant a local day begins (its first existing moment, across DST gaps)."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def span_of(
    tenant: Tenant, first: date | None, last: date | None, *, names: tuple[str, str]
) -> Span:
    """The range asked for: `last` defaults to today, `first` to 30 days ending at `last`.
    `names` are the parameters to blame ("from", "to")."""
    end_day = last if last is not None else today_in(tenant.timezone)
    start_day = first if first is not None else end_day - timedelta(days=DEFAULT_DAYS - 1)
    if start_day > end_day:
        raise InvalidInput(
            f"{names[0]}: after {names[1]} ({start_day} > {end_day})",
            {names[0]: f"after {names[1]}"},
        )
    if (end_day - start_day).days + 1 > MAX_DAYS:
        raise InvalidInput(
            f"{names[0]}: the range is longer than {MAX_DAYS} days",
            {names[0]: f"range longer than {MAX_DAYS} days"},
        )
    return Span(
        tenant.id,
        start_day,
        end_day,
        local_midnight(start_day, tenant.timezone),
        local_midnight(end_day + timedelta(days=1), tenant.timezone),
        tenant.timezone,
    )


def _days(span: Span) -> list[date]:
    return [
        span.first_day + timedelta(days=n) for n in range((span.last_day - span.first_day).days + 1)
    ]


def _range(span: Span) -> dict[str, Any]:
    return {
        "from": span.first_day.isoformat(),
        "to": span.last_day.isoformat(),
        "timezone": span.zone,
    }


def offset_of(cursor: list[Any] | None) -> int:
    """Where a page of a ranked report starts: the cursor carries the offset."""
    if cursor is None:
        return 0
    if len(cursor) != 2 or cursor[0] != "offset" or type(cursor[1]) is not int:
        raise InvalidInput(
            "cursor: not a cursor of this list", {"cursor": "not a cursor of this list"}
        )
    if not 0 <= cursor[1] <= 10_000_000:
        raise InvalidInput("cursor: out of range", {"cursor": "out of range"})
    return cursor[1]


def rate(conversions: int, visitors: int) -> float | None:
    return round(conversions / visitors, 4) if visitors else None


# --- overview and breakdowns -----------------------------------------------------------------


def overview(engine: Engine, tenant: Tenant, first: date | None, last: date | None) -> Page:
    span = span_of(tenant, first, last, names=("from", "to"))
    rollups.refresh(engine, tenant.id)
    with read_transaction(engine) as conn:
        tune_for_reports(conn)
        totals = visits.visit_totals(conn, span, None)[0]
        contacts = new_contacts.contact_totals(conn, span, None)[0].contacts
        converted = int(conversions.conversion_totals(conn, span, None)[0].conversions)
    visitors = int(totals.visitors)
    return Page(
        {
            **_range(span),
            "visitors": visitors,
            "visits": int(totals.visits),
            "pageviews": int(totals.pageviews),
            "contacts": int(contacts),
            "conversions": converted,
            "conversion_rate": rate(converted, visitors),
        }
    )


def _key(row: Any, dimension: str) -> tuple[Any, ...]:
    return tuple(getattr(row, f"k_{KEY_NAMES[name]}") for name in DIMENSIONS[dimension])


def _label(dimension: str, key: tuple[Any, ...]) -> str:
    """How a dashboard shows the key: "www.escola.edu.br/cursos", "google / cpc / (none)"."""
    if all(v is None for v in key):
        return "(none)"
    if dimension == "landing_page":
        return "".join(str(v) for v in key if v is not None)
    return " / ".join("(none)" if v is None else str(v) for v in key)


def _order(item: dict[str, Any]) -> tuple[Any, ...]:
    values = tuple((v is None, v or "") for v in item["key"].values())
    return (-item["visits"], -item["contacts"], -item["conversions"], values)


def breakdown(
    engine: Engine,
    tenant: Tenant,
    first: date | None,
    last: date | None,
    dimension: str,
    limit: int,
    cursor: list[Any] | None,
) -> Page:
    """Every metric per value of one dimension, busiest first."""
    offset = offset_of(cursor)
    names = [KEY_NAMES[name] for name in DIMENSIONS[dimension]]
    rows: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(
        lambda: {"visitors": 0, "visits": 0, "pageviews": 0, "contacts": 0, "conversions": 0}
    )
    span = span_of(tenant, first, last, names=("from", "to"))
    rollups.refresh(engine, tenant.id)
    with read_transaction(engine) as conn:
        tune_for_reports(conn)
        for row in visits.visit_totals(conn, span, dimension):
            rows[_key(row, dimension)].update(
                visitors=int(row.visitors), visits=int(row.visits), pageviews=int(row.pageviews)
            )
        for row in new_contacts.contact_totals(conn, span, dimension):
            rows[_key(row, dimension)]["contacts"] = int(row.contacts)
        for row in conversions.conversion_totals(conn, span, dimension):
            rows[_key(row, dimension)]["conversions"] = int(row.conversions)
    items = [
        {
            "key": dict(zip(names, key, strict=True)),
            "label": _label(dimension, key),
            **values,
            "conversion_rate": rate(values["conversions"], values["visitors"]),
        }
        for key, values in rows.items()
    ]
    items.sort(key=_order)
    chunk = items[offset : offset + limit]
    more = len(items) > offset + limit
    return Page(
        {**_range(span), "by": dimension, "items": chunk},
        ["offset", offset + limit] if more else None,
    )


def timeseries(
    engine: Engine, tenant: Tenant, first: date | None, last: date | None, metric: str
) -> Page:
    """One value per day of the range, days without data included as 0."""
    span = span_of(tenant, first, last, names=("from", "to"))
    if metric != "contacts":
        rollups.refresh(engine, tenant.id)
    with read_transaction(engine) as conn:
        tune_for_reports(conn)
        values: dict[date, int] = {}
        if metric in ("visitors", "visits", "pageviews"):
            for row in visits.daily_visits(conn, span):
                values[row.day] = int(getattr(row, metric))
        elif metric == "contacts":
            values = {r.day: int(r.value) for r in new_contacts.daily_contacts(conn, span)}
        else:
            values = {r.day: int(r.value) for r in conversions.daily_conversions(conn, span)}
    return Page(
        {
            **_range(span),
            "metric": metric,
            "points": [{"day": d.isoformat(), "value": values.get(d, 0)} for d in _days(span)],
        }
    )


# --- pages and events ------------------------------------------------------------------------


def top_pages(
    engine: Engine,
    tenant: Tenant,
    first: date | None,
    last: date | None,
    limit: int,
    cursor: list[Any] | None,
) -> Page:
    offset = offset_of(cursor)
    span = span_of(tenant, first, last, names=("from", "to"))
    rollups.refresh(engine, tenant.id)
    with read_transaction(engine) as conn:
        tune_for_reports(conn)
        rows = pages.top_pages(conn, span, limit + 1, offset)
    items = [
        {
            "host": r.host,
            "path": r.path,
            "pageviews": int(r.pageviews),
            "visitors": int(r.visitors),
        }
        for r in rows[:limit]
    ]
    return Page(
        {**_range(span), "items": items}, ["offset", offset + limit] if len(rows) > limit else None
    )


def events_report(engine: Engine, tenant: Tenant, first: date | None, last: date | None) -> Page:
    """Events that happened in the range by type, each with the channels they were
    credited to (the visit their session was in)."""
    span = span_of(tenant, first, last, names=("from", "to"))
    with read_transaction(engine) as conn:
        tune_for_reports(conn)
        rows = events.events_by_type(conn, span)
        people = events.distinct_event_contacts(conn, span)
    types: dict[int, dict[str, Any]] = {}
    for r in rows:
        item = types.setdefault(
            int(r.type_id),
            {
                "type": {"id": int(r.type_id), "codigo": r.codigo, "titulo": r.titulo},
                "events": 0,
                "contacts": people.get(int(r.type_id), 0),
                "by_channel": [],
            },
        )
        item["events"] += int(r.events)
        item["by_channel"].append({"channel": r.channel_type, "events": int(r.events)})
    items = sorted(types.values(), key=lambda t: (-t["events"], t["type"]["id"]))
    for item in items:
        item["by_channel"].sort(key=lambda c: (-c["events"], c["channel"] is None, c["channel"]))
    return Page({**_range(span), "items": items})


# --- completeness ----------------------------------------------------------------------------


def _missing_hits(conn: Connection, span: Span) -> dict[date, int]:
    """Hits known missing per local day, on the day of each (session, host)'s last hit."""
    zone = ZoneInfo(span.zone)
    missing: dict[date, int] = defaultdict(int)
    for row in gaps.missing_hits(conn, span):
        missing[row.last_at.astimezone(zone).date()] += int(row.missing)
    return missing


def completeness(engine: Engine, tenant: Tenant, first: date | None, last: date | None) -> Page:
    """Per day: hits stored, hits known missing (gaps in the tracker's sequence numbers),
    and hits refused, by reason. Refusals are counted on the UTC day they happened."""
    span = span_of(tenant, first, last, names=("from", "to"))
    rollups.refresh(engine, tenant.id)
    with read_transaction(engine) as conn:
        tune_for_reports(conn)
        stored = {r.day: int(r.pageviews) for r in visits.daily_visits(conn, span)}
        missing = _missing_hits(conn, span)
        refused: dict[date, dict[str, int]] = defaultdict(dict)
        for r in gaps.drops(conn, span):
            refused[r.day][r.reason] = int(r.hits)
    days = _days(span)
    totals = {
        "stored": sum(stored.get(d, 0) for d in days),
        "missing": sum(missing.get(d, 0) for d in days),
        "dropped": sum(sum(refused.get(d, {}).values()) for d in days),
    }
    daily = [
        {
            "day": d.isoformat(),
            "stored": stored.get(d, 0),
            "missing": missing.get(d, 0),
            "dropped": sum(refused.get(d, {}).values()),
            "drops": dict(sorted(refused.get(d, {}).items())),
        }
        for d in days
    ]
    return Page({**_range(span), "totals": totals, "days": daily})
