"""The schema. Every table carries `tenant_id`, so one tenant's rows never mix with another's
and the schema can be distributed by tenant when one database is not enough.

Alembic migrations (storage/migrations) must produce exactly this metadata; a test compares
the two on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)

from pegada.storage.types import JSONDocument, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; BigInteger there would not.
Id = BigInteger().with_variant(Integer(), "sqlite")

tenants = Table(
    "tenants",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("host_client", String(20), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("timezone", String(64), nullable=False, server_default="America/Sao_Paulo"),
    # Privacy: honour Do Not Track / Global Privacy Control in the tracker (default on).
    Column("honor_dnt", Boolean, nullable=False, server_default=true()),
    # Minutes without a hit after which the next hit starts a new visit.
    Column("visit_idle_minutes", Integer, nullable=False, server_default="30"),
    # Origins allowed to send page hits; empty = any origin.
    Column("allowed_origins", JSONDocument, nullable=False, server_default="[]"),
    Column("created_at", UTCDateTime, nullable=False),
)

channels = Table(
    "channels",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    Column("origem", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("token", String(32), nullable=False),
    # Lookups go through a digest so the secret itself is never compared by the database.
    Column("token_digest", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "origem"),
)

event_types = Table(
    "event_types",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    Column("type_id", Integer, nullable=False),  # the `id` the API speaks of (29 in the seed)
    Column("codigo", String(100), nullable=True),
    Column("titulo", String(255), nullable=False),
    Column("fluxo", SmallInteger, nullable=False, server_default="0"),
    Column("forma_criacao_oportunidade", SmallInteger, nullable=True),
    Column("origem", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "type_id"),
    UniqueConstraint("tenant_id", "codigo"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    Column("codigo", String(100), nullable=True),
    Column("nome", String(255), nullable=True),
    Column("email", String(255), nullable=True),
    Column("cpf", String(11), nullable=True),
    Column("phone", String(20), nullable=True),
    # Every other CRM field, as accepted (camposPersonalizados kept as given).
    Column("fields", JSONDocument, nullable=False),
    # Profile fields last set by an authenticated channel: a browser form never overwrites
    # them (SPEC §4 trust levels).
    Column("crm_fields", JSONDocument, nullable=False, server_default="[]"),
    Column("created_channel_id", ForeignKey("channels.id"), nullable=True),
    # Attribution (SPEC §6): the first visit ever, and the visit in which it converted.
    Column("first_touch", JSONDocument, nullable=True),
    Column("last_touch", JSONDocument, nullable=True),
    Column("first_channel", String(40), nullable=True),
    # The identify that made this contact: its session and moment (for the last touch).
    Column("converted_session_id", BigInteger, nullable=True),
    Column("converted_at", UTCDateTime, nullable=True),
    # Set on the contact that was merged into another one (kept for unmerge).
    Column("merged_into", BigInteger, nullable=True),
    # Lower-case, accent-free name / e-mail / CPF / phone, for search.
    Column("search_text", String(1024), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "tenant_id", "created_at"),
)

# Identity keys (codigo, e-mails, CPF, phone, substitute ids). The unique key is what makes
# concurrent identifies of one person create exactly one contact.
contact_keys = Table(
    "contact_keys",
    metadata,
    Column("tenant_id", ForeignKey("tenants.id"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("value", String(255), primary_key=True),
    Column("contact_id", ForeignKey("contacts.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    Column("session_hash", String(128), nullable=False),
    Column("contact_id", ForeignKey("contacts.id"), nullable=True, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("identified_at", UTCDateTime, nullable=True),
    # The visit later hits of this session extend (journeys/visits.py decides).
    Column("open_visit_id", BigInteger, nullable=True),
    # How many other contacts this one browser tried to identify as (flood bound).
    Column("identity_claims", Integer, nullable=False, server_default="0"),
    UniqueConstraint("tenant_id", "session_hash"),
    # Reports: conversions are the sessions identified in a range of days.
    Index(None, "tenant_id", "identified_at"),
)

# One row per page access. The tracker numbers hits per session and site (browser storage
# is per site, while a cross-domain session spans several), so (session, host, seq) is
# unique and a resent queued hit never doubles. The IP is kept only truncated (/24, /48).
page_views = Table(
    "page_views",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    Column("session_id", ForeignKey("sessions.id"), nullable=False),
    Column("visit_id", BigInteger, nullable=True, index=True),
    Column("seq", Integer, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("url", String(4096), nullable=False),
    Column("host", String(255), nullable=False),
    Column("path", String(2048), nullable=False),
    Column("title", String(1024), nullable=True),
    Column("referrer", String(4096), nullable=True),
    Column("referrer_host", String(255), nullable=True),
    Column("utm", JSONDocument, nullable=True),
    Column("channel_type", String(40), nullable=False),
    Column("source", String(255), nullable=True),
    Column("medium", String(255), nullable=True),
    Column("campaign", String(512), nullable=True),
    Column("device_type", String(16), nullable=True),
    Column("device_name", String(128), nullable=True),
    Column("os", String(64), nullable=True),
    Column("os_version", String(32), nullable=True),
    Column("browser", String(64), nullable=True),
    Column("browser_version", String(32), nullable=True),
    Column("screen", String(16), nullable=True),
    Column("language", String(35), nullable=True),
    Column("time_on_previous_ms", BigInteger, nullable=True),
    Column("ip_prefix", String(64), nullable=True),
    UniqueConstraint("tenant_id", "session_id", "host", "seq"),
    Index(None, "tenant_id", "occurred_at"),
    Index(None, "session_id", "occurred_at"),
)

# Visits: a session's hits grouped by journeys/visits.py, with the landing's attribution.
visits = Table(
    "visits",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    Column("session_id", ForeignKey("sessions.id"), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=False),
    Column("local_day", Date, nullable=False),
    Column("page_count", Integer, nullable=False),
    Column("landing_url", String(4096), nullable=False),
    Column("landing_host", String(255), nullable=False),
    Column("landing_path", String(2048), nullable=False),
    Column("exit_url", String(4096), nullable=False),
    Column("referrer", String(4096), nullable=True),
    Column("referrer_host", String(255), nullable=True),
    Column("utm", JSONDocument, nullable=True),
    Column("channel_type", String(40), nullable=False),
    Column("source", String(255), nullable=True),
    Column("medium", String(255), nullable=True),
    Column("campaign", String(512), nullable=True),
    Column("device_type", String(16), nullable=True),
    Column("os", String(64), nullable=True),
    Column("browser", String(64), nullable=True),
    Column("rules_version", Integer, nullable=False),
    Index(None, "tenant_id", "local_day"),
    Index(None, "session_id", "started_at"),
)

# Two contacts found to be one person: what moved, why, when; enough to undo it.
contact_merges = Table(
    "contact_merges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    Column("survivor_id", ForeignKey("contacts.id"), nullable=False, index=True),
    Column("merged_id", ForeignKey("contacts.id"), nullable=False, index=True),
    Column("reason", String(300), nullable=False),
    Column("snapshot", JSONDocument, nullable=False),
    Column("merged_at", UTCDateTime, nullable=False),
    Column("unmerged_at", UTCDateTime, nullable=True),
)

# Hits that were not stored, counted per tenant, day and reason ("never silent").
ingest_drops = Table(
    "ingest_drops",
    metadata,
    Column("tenant_id", ForeignKey("tenants.id"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("reason", String(32), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# --- the hit spool's projection (ingest/projector.py) ----------------------------------------
# How far each spool file (storage/spool.py, named by its own id) has been projected into
# this database; moved in the same transaction as the rows it projects, so a spooled request
# is projected exactly once whatever crashes in between. Not tenant data.
spool_marks = Table(
    "spool_marks",
    metadata,
    Column("spool_id", String(32), primary_key=True),
    Column("projected_through", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# A spooled request the projector could not turn into rows (a fault of ours, never the
# visitor's): kept whole with the error, counted, and never silently lost. `tenant_id` is
# null when its hostClient names no tenant any more.
unprojected_requests = Table(
    "unprojected_requests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", BigInteger, nullable=True, index=True),
    Column("spool_id", String(32), nullable=False),
    Column("spooled_id", BigInteger, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("host_client", String(20), nullable=False),
    Column("user_agent", Text, nullable=True),
    Column("network", String(64), nullable=True),
    Column("refusal", String(32), nullable=True),
    Column("refused_hits", Integer, nullable=False),
    Column("body", LargeBinary, nullable=True),
    Column("error", Text, nullable=False),
    Column("failed_at", UTCDateTime, nullable=False),
    UniqueConstraint("spool_id", "spooled_id"),
)

# --- read-side rollups (storage/reports/rollups.py) --------------------------------------------
# Derived from visits, page views and sessions, per session, by the refresher that runs
# before a report is read (never by the hit path); they hold nothing that is not in those
# tables. What each report reads from them is in storage/reports/. Their `tenant_id` has no
# foreign key: every row is copied from rows that have one, and checking it again per row
# would double the time a rebuild takes.

# One row per visit: its report dimensions, and for each dimension the local day of the
# session's previous visit with the same value (null: none before). A session is a visitor
# of a value in a range of days exactly once — on its visit whose previous day is before the
# range — so distinct visitors are a plain count over the range, with no DISTINCT.
report_visits = Table(
    "report_visits",
    metadata,
    Column("visit_id", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant_id", BigInteger, nullable=False),
    Column("session_id", BigInteger, nullable=False, index=True),
    Column("local_day", Date, nullable=False),
    Column("page_count", Integer, nullable=False),
    Column("channel_type", String(40), nullable=False),
    Column("source", String(255), nullable=True),
    Column("medium", String(255), nullable=True),
    Column("campaign", String(512), nullable=True),
    Column("landing_host", String(255), nullable=False),
    Column("landing_path", String(2048), nullable=False),
    Column("device_type", String(16), nullable=True),
    Column("browser", String(64), nullable=True),
    Column("os", String(64), nullable=True),
    Column("prev_day", Date, nullable=True),
    Column("prev_day_channel", Date, nullable=True),
    Column("prev_day_source_medium_campaign", Date, nullable=True),
    Column("prev_day_landing_page", Date, nullable=True),
    Column("prev_day_device", Date, nullable=True),
    Column("prev_day_browser", Date, nullable=True),
    Column("prev_day_os", Date, nullable=True),
    # The session's identification, on the one visit its conversion is credited to.
    Column("credited_at", UTCDateTime, nullable=True),
    Index(None, "tenant_id", "local_day"),
    Index(None, "tenant_id", "credited_at"),
)

# One row per (visit, page): its views, and the local day of the session's previous visit
# that viewed the page (the same counting of distinct visitors as report_visits).
report_pages = Table(
    "report_pages",
    metadata,
    Column("tenant_id", BigInteger, nullable=False),
    Column("session_id", BigInteger, nullable=False, index=True),
    Column("visit_id", BigInteger, nullable=False),
    Column("local_day", Date, nullable=False),
    Column("host", String(255), nullable=False),
    Column("path", String(2048), nullable=False),
    Column("views", Integer, nullable=False),
    Column("prev_day", Date, nullable=True),
    Index(None, "tenant_id", "local_day"),
)

# Hits known missing per (session, site) that lost some: the highest sequence number the
# tracker sent minus the hits stored, and when the last hit of that site happened.
report_gaps = Table(
    "report_gaps",
    metadata,
    Column("tenant_id", BigInteger, primary_key=True, autoincrement=False),
    Column("session_id", BigInteger, primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("last_at", UTCDateTime, nullable=False),
    Column("missing", Integer, nullable=False),
    Index(None, "tenant_id", "last_at"),
)

# How far each tenant's rollups are up to date (storage/reports/refresh_state.py): the page
# views and submissions (ids) whose sessions were redone for certain, refreshes not known
# to be complete yet, and a rebuild of every session (new tenant, after `pegada attribution
# recompute`) with the last session id it got through.
report_refresh = Table(
    "report_refresh",
    metadata,
    Column("tenant_id", ForeignKey("tenants.id"), primary_key=True),
    Column("page_view_id", BigInteger, nullable=False, server_default="0"),
    Column("submission_id", BigInteger, nullable=False, server_default="0"),
    Column("pending", JSONDocument, nullable=False, server_default="[]"),
    Column("rebuild", Boolean, nullable=False, server_default=true()),
    Column("rebuilt_through", BigInteger, nullable=False, server_default="0"),
    Column("refreshed_at", UTCDateTime, nullable=True),
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    Column("event_type_id", ForeignKey("event_types.id"), nullable=False),
    Column("contact_id", ForeignKey("contacts.id"), nullable=True, index=True),
    Column("session_id", ForeignKey("sessions.id"), nullable=True, index=True),
    Column("channel_id", ForeignKey("channels.id"), nullable=True),
    # The visit the session was in when the event came: credits it to that visit's source.
    Column("visit_id", BigInteger, nullable=True),
    Column("channel_type", String(40), nullable=True),
    Column("codigo", String(100), nullable=True),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("fields", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "codigo"),
    # Reports: the events that happened in a range of days.
    Index(None, "tenant_id", "occurred_at"),
)

# Every identify / contact call as received (minus the token): the audit trail behind a
# contact, and the data kept even when a field could not be applied.
submissions = Table(
    "submissions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant_id", ForeignKey("tenants.id"), nullable=False),
    Column("contact_id", ForeignKey("contacts.id"), nullable=False, index=True),
    Column("session_id", ForeignKey("sessions.id"), nullable=True),
    Column("channel_id", ForeignKey("channels.id"), nullable=True),
    Column("endpoint", String(64), nullable=False),
    Column("payload", JSONDocument, nullable=False),
    Column("notes", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Replies of requests that carried an idempotency key (`event_id`), kept forever per tenant.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", ForeignKey("tenants.id"), primary_key=True),
    Column("scope", String(32), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("reply", JSONDocument, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

__all__ = [
    "channels",
    "contact_keys",
    "contact_merges",
    "contacts",
    "event_types",
    "events",
    "idempotency_keys",
    "ingest_drops",
    "metadata",
    "page_views",
    "report_gaps",
    "report_pages",
    "report_refresh",
    "report_visits",
    "sessions",
    "spool_marks",
    "submissions",
    "tenants",
    "unprojected_requests",
    "visits",
]
