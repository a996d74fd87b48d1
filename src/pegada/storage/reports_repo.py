"""SQL of the read side's reports and of the contacts list.

Reports are aggregates over indexed ranges only: visits by `(tenant_id, local_day)` (a
visit never spans a local midnight, so its `local_day` is the day of all its page views),
contacts by `(tenant_id, created_at)`, sessions by `(tenant_id, identified_at)`, events and
page views by `(tenant_id, occurred_at)`. Every statement filters by tenant.

Times are stored in UTC; a "day" is a day in the tenant's time zone. Callers pass the UTC
instants where the local days begin and end; rows are put on local days by `local_date`,
which PostgreSQL computes itself (`timezone()`) and SQLite through a small Python function
registered on the connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Date,
    Row,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from pegada.storage.tables import (
    contacts,
    event_types,
    events,
    ingest_drops,
    page_views,
    sessions,
    visits,
)

#: Breakdown dimensions: name → the visit columns that make its key.
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "channel": ("channel_type",),
    "source_medium_campaign": ("source", "medium", "campaign"),
    "landing_page": ("landing_host", "landing_path"),
    "device": ("device_type",),
    "browser": ("browser",),
    "os": ("os",),
}

#: The name each visit column takes in a breakdown key.
KEY_NAMES = {
    "channel_type": "channel",
    "source": "source",
    "medium": "medium",
    "campaign": "campaign",
    "landing_host": "host",
    "landing_path": "path",
    "device_type": "device",
    "browser": "browser",
    "os": "os",
}


@dataclass(frozen=True)
class Span:
    """A range of local days and the UTC instants it covers: [start, end)."""

    tenant_id: int
    first_day: date
    last_day: date
    start: datetime
    end: datetime
    zone: str


# --- session settings -----------------------------------------------------------------------


def tune_for_reports(conn: Connection) -> None:
    """PostgreSQL: room for the hash aggregates of a year's rows in memory (instead of
    spilling sorts to disk), and no JIT compilation, which costs more than it saves on
    queries of this size. Scoped to the current (read) transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")


# --- local days ------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _sqlite_local_date(value: str | None, zone: str) -> str | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return moment.astimezone(_zone(zone)).date().isoformat()


def local_date(conn: Connection, column: Any, zone: str) -> ColumnElement[date]:
    """The tenant-local calendar day of a stored UTC timestamp column."""
    if conn.dialect.name == "postgresql":
        return cast(func.timezone(zone, column), Date)
    conn.connection.driver_connection.create_function(  # type: ignore[union-attr]
        "pegada_local_date", 2, _sqlite_local_date, deterministic=True
    )
    return func.pegada_local_date(column, zone, type_=Date)


# --- visits: visitors, visits, page views ----------------------------------------------------


def _key_columns(table: Any, dimension: str | None) -> list[Any]:
    if dimension is None:
        return []
    return [table.c[name].label(f"k_{KEY_NAMES[name]}") for name in DIMENSIONS[dimension]]


def _in_days(span: Span) -> ColumnElement[bool]:
    return and_(
        visits.c.tenant_id == span.tenant_id,
        visits.c.local_day >= span.first_day,
        visits.c.local_day <= span.last_day,
    )


def _visit_measures() -> list[Any]:
    return [
        func.count().label("visits"),
        func.count(visits.c.session_id.distinct()).label("visitors"),
        func.coalesce(func.sum(visits.c.page_count), 0).label("pageviews"),
    ]


def visit_totals(conn: Connection, span: Span, dimension: str | None) -> list[Row[Any]]:
    """Per key (one row without a dimension): visits, visitors (distinct sessions), page
    views. With keys, aggregated per (key, session) first and then per key: two hash
    aggregates cost less than COUNT(DISTINCT)'s sorts when keys are many (landing pages)."""
    keys = _key_columns(visits, dimension)
    if not keys:
        return list(conn.execute(select(*_visit_measures()).where(_in_days(span))))
    per_session = (
        select(
            *keys,
            visits.c.session_id,
            func.count().label("visits"),
            func.sum(visits.c.page_count).label("pageviews"),
        )
        .where(_in_days(span))
        .group_by(*keys, visits.c.session_id)
        .subquery("per_session")
    )
    outer = [per_session.c[key.name] for key in keys]
    query = select(
        *outer,
        func.sum(per_session.c.visits).label("visits"),
        func.count().label("visitors"),
        func.sum(per_session.c.pageviews).label("pageviews"),
    ).group_by(*outer)
    return list(conn.execute(query))


def daily_visits(conn: Connection, span: Span) -> list[Row[Any]]:
    query = (
        select(visits.c.local_day.label("day"), *_visit_measures())
        .where(_in_days(span))
        .group_by(visits.c.local_day)
    )
    return list(conn.execute(query))


# --- new contacts ----------------------------------------------------------------------------


def _new_contacts(span: Span) -> ColumnElement[bool]:
    return and_(
        contacts.c.tenant_id == span.tenant_id,
        contacts.c.created_at >= span.start,
        contacts.c.created_at < span.end,
        contacts.c.merged_into.is_(None),
    )


def contact_totals(conn: Connection, span: Span, dimension: str | None) -> list[Row[Any]]:
    """New contacts (created in the span, not merged away) per key of their first touch:
    the channel they carry (`first_channel`, "Desconhecida" without tracking) or the
    attributes of their first visit."""
    if dimension is None:
        query = select(func.count().label("contacts")).where(_new_contacts(span))
        return list(conn.execute(query))
    if dimension == "channel":
        keys: list[Any] = [contacts.c.first_channel.label("k_channel")]
        source: Any = contacts
    else:
        first = visits.alias("first_visit")
        keys = _key_columns(first, dimension)
        source = contacts.outerjoin(
            first,
            and_(
                first.c.id == contacts.c.first_touch["visit_id"].as_integer(),
                first.c.tenant_id == span.tenant_id,
            ),
        )
    query = (
        select(*keys, func.count().label("contacts"))
        .select_from(source)
        .where(_new_contacts(span))
        .group_by(*keys)
    )
    return list(conn.execute(query))


def daily_contacts(conn: Connection, span: Span) -> list[Row[Any]]:
    day = local_date(conn, contacts.c.created_at, span.zone).label("day")
    query = select(day, func.count().label("value")).where(_new_contacts(span)).group_by(day)
    return list(conn.execute(query))


# --- conversions -----------------------------------------------------------------------------


def _conversions() -> Any:
    """Sessions identified in the span with the visit each converted in: the latest one
    started by the identification, else the session's first (an identify that overtook
    the session's first hits). Sessions without any visit are not conversions: they were
    never visitors."""
    pick = visits.alias("pick")
    latest = (
        select(pick.c.id)
        .where(pick.c.session_id == sessions.c.id, pick.c.started_at <= sessions.c.identified_at)
        .order_by(pick.c.started_at.desc(), pick.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    first = (
        select(pick.c.id)
        .where(pick.c.session_id == sessions.c.id)
        .order_by(pick.c.started_at, pick.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(latest, first)


def _identified(span: Span) -> ColumnElement[bool]:
    return and_(
        sessions.c.tenant_id == span.tenant_id,
        sessions.c.identified_at >= span.start,
        sessions.c.identified_at < span.end,
    )


def _was_visitor() -> Any:
    return select(literal(1)).where(visits.c.session_id == sessions.c.id).exists()


def conversion_totals(conn: Connection, span: Span, dimension: str | None) -> list[Row[Any]]:
    """Conversions per key of the visit each was credited to."""
    if dimension is None:
        query = select(func.count().label("conversions")).where(_identified(span), _was_visitor())
        return list(conn.execute(query))
    # Materialised: each session's converting visit is looked up once (PostgreSQL would
    # otherwise inline the subquery into the join condition and evaluate it twice per row).
    identified = (
        select(_conversions().label("visit_id"))
        .where(_identified(span))
        .cte("identified")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    credited = visits.alias("credited")
    keys = _key_columns(credited, dimension)
    query = (
        select(*keys, func.count().label("conversions"))
        .select_from(
            identified.join(
                credited,
                and_(
                    credited.c.id == identified.c.visit_id,
                    credited.c.tenant_id == span.tenant_id,
                ),
            )
        )
        .group_by(*keys)
    )
    return list(conn.execute(query))


def daily_conversions(conn: Connection, span: Span) -> list[Row[Any]]:
    day = local_date(conn, sessions.c.identified_at, span.zone).label("day")
    query = (
        select(day, func.count().label("value"))
        .where(_identified(span), _was_visitor())
        .group_by(day)
    )
    return list(conn.execute(query))


# --- pages and events ------------------------------------------------------------------------


def _views_in(span: Span) -> ColumnElement[bool]:
    return and_(
        page_views.c.tenant_id == span.tenant_id,
        page_views.c.occurred_at >= span.start,
        page_views.c.occurred_at < span.end,
    )


def top_pages(conn: Connection, span: Span, limit: int, offset: int) -> list[Row[Any]]:
    """Pages (host + path) by page views: one cheap aggregate ranks them."""
    views = func.count()
    query = (
        select(page_views.c.host, page_views.c.path, views.label("pageviews"))
        .where(_views_in(span))
        .group_by(page_views.c.host, page_views.c.path)
        .order_by(views.desc(), page_views.c.host, page_views.c.path)
        .limit(limit)
        .offset(offset)
    )
    return list(conn.execute(query))


def page_visitors(
    conn: Connection, span: Span, pages: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Distinct sessions that viewed each of `pages` (only the page of the report being
    shown is counted, so the costly distinct count stays small)."""
    if not pages:
        return {}
    per_session = (
        select(page_views.c.host, page_views.c.path, page_views.c.session_id)
        .where(
            _views_in(span),
            page_views.c.path.in_(sorted({path for _, path in pages})),
            page_views.c.host.in_(sorted({host for host, _ in pages})),
        )
        .group_by(page_views.c.host, page_views.c.path, page_views.c.session_id)
        .subquery("per_session")
    )
    query = select(per_session.c.host, per_session.c.path, func.count()).group_by(
        per_session.c.host, per_session.c.path
    )
    return {(host, path): int(n) for host, path, n in conn.execute(query)}


def events_by_type(conn: Connection, span: Span) -> list[Row[Any]]:
    """Events that happened in the span per type and credited channel."""
    query = (
        select(
            event_types.c.type_id,
            event_types.c.codigo,
            event_types.c.titulo,
            events.c.channel_type,
            func.count().label("events"),
        )
        .join(event_types, event_types.c.id == events.c.event_type_id)
        .where(
            events.c.tenant_id == span.tenant_id,
            event_types.c.tenant_id == span.tenant_id,
            events.c.occurred_at >= span.start,
            events.c.occurred_at < span.end,
        )
        .group_by(
            event_types.c.type_id,
            event_types.c.codigo,
            event_types.c.titulo,
            events.c.channel_type,
        )
    )
    return list(conn.execute(query))


def distinct_event_contacts(conn: Connection, span: Span) -> dict[int, int]:
    """type id → distinct contacts with an event of that type in the span (a contact
    credited to two channels counts once)."""
    query = (
        select(event_types.c.type_id, func.count(events.c.contact_id.distinct()))
        .join(event_types, event_types.c.id == events.c.event_type_id)
        .where(
            events.c.tenant_id == span.tenant_id,
            events.c.occurred_at >= span.start,
            events.c.occurred_at < span.end,
        )
        .group_by(event_types.c.type_id)
    )
    return {int(type_id): int(n) for type_id, n in conn.execute(query)}


# --- completeness ----------------------------------------------------------------------------


def missing_hits(conn: Connection, span: Span) -> list[Row[Any]]:
    """(last hit's time, hits missing) of each (session, host) that lost hits and whose
    last hit falls in the range. The tracker numbers a session's hits per site from 1, so
    the highest number minus the hits stored is what never arrived.

    Read from the hits since the range's start (one index range): a (session, host) whose
    last hit comes after the range is left to the day of that hit, and one that began
    before the range adds its earlier hits, counted on the unique key (an index-only look
    up, only for those)."""
    top = func.max(page_views.c.seq)
    last_at = func.max(page_views.c.occurred_at)
    sites = (
        select(
            page_views.c.session_id,
            page_views.c.host,
            top.label("top"),
            func.min(page_views.c.seq).label("lowest"),
            func.count().label("stored"),
            last_at.label("last_at"),
        )
        .where(page_views.c.tenant_id == span.tenant_id, page_views.c.occurred_at >= span.start)
        .group_by(page_views.c.session_id, page_views.c.host)
        .having(last_at < span.end)
        .subquery("sites")
    )
    earlier = page_views.alias("earlier")
    before = case(
        (
            sites.c.lowest > 1,
            select(func.count())
            .where(
                earlier.c.tenant_id == span.tenant_id,
                earlier.c.session_id == sites.c.session_id,
                earlier.c.host == sites.c.host,
                earlier.c.seq < sites.c.lowest,
            )
            .scalar_subquery(),
        ),
        else_=0,
    )
    lost = sites.c.top - sites.c.stored - before
    query = select(sites.c.last_at, lost.label("missing")).where(lost > 0)
    return list(conn.execute(query))


def drops(conn: Connection, span: Span) -> list[Row[Any]]:
    """Refused hits per day (the day they were refused, UTC) and reason."""
    query = select(
        ingest_drops.c.day, ingest_drops.c.reason, ingest_drops.c.count.label("hits")
    ).where(
        ingest_drops.c.tenant_id == span.tenant_id,
        ingest_drops.c.day >= span.first_day,
        ingest_drops.c.day <= span.last_day,
    )
    return list(conn.execute(query))


# --- contacts list ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactFilter:
    channel: str | None = None
    campaign: str | None = None
    created_from: datetime | None = None  # UTC instant, inclusive
    created_before: datetime | None = None  # UTC instant, exclusive
    event_type: int | None = None
    terms: Sequence[str] = ()


def contact_page(
    conn: Connection,
    tenant_id: int,
    where: ContactFilter,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Row[Any]]:
    """Live contacts, newest first, that pass every filter; `after` is the (created_at,
    id) of the last contact of the previous page."""
    conditions: list[Any] = [contacts.c.tenant_id == tenant_id, contacts.c.merged_into.is_(None)]
    if where.channel is not None:
        conditions.append(contacts.c.first_channel == where.channel)
    if where.campaign is not None:
        conditions.append(
            or_(
                contacts.c.first_touch["campaign"].as_string() == where.campaign,
                contacts.c.last_touch["campaign"].as_string() == where.campaign,
            )
        )
    if where.created_from is not None:
        conditions.append(contacts.c.created_at >= where.created_from)
    if where.created_before is not None:
        conditions.append(contacts.c.created_at < where.created_before)
    if where.event_type is not None:
        conditions.append(
            select(literal(1))
            .select_from(events.join(event_types, event_types.c.id == events.c.event_type_id))
            .where(
                events.c.contact_id == contacts.c.id,
                events.c.tenant_id == tenant_id,
                event_types.c.tenant_id == tenant_id,
                event_types.c.type_id == where.event_type,
            )
            .exists()
        )
    for term in where.terms:
        conditions.append(contacts.c.search_text.contains(term, autoescape=True))
    if after is not None:
        created_at, contact_id = after
        conditions.append(
            or_(
                contacts.c.created_at < created_at,
                and_(contacts.c.created_at == created_at, contacts.c.id < contact_id),
            )
        )
    query = (
        select(contacts)
        .where(*conditions)
        .order_by(contacts.c.created_at.desc(), contacts.c.id.desc())
        .limit(limit)
    )
    return list(conn.execute(query))
