"""The hit path's statements, written for the database driver directly.

A page hit is the one write that happens thousands of times a second. Through SQLAlchemy
Core each row costs several times what the driver itself needs (parameter processing per
column, statement bookkeeping), so the few statements of an in-order batch
(ingest/in_order.py) are written once per dialect here, with plain tuples, inside the
transaction SQLAlchemy opened (same connection, same commit). Values are stored exactly as
the Core path stores them (`UTCDateTime`: naive UTC text on SQLite, `timestamptz` on
PostgreSQL; JSON as text / `jsonb`; dates as ISO text on SQLite), so both paths read back
the same and the exact path (ingest/commit.py) can take over any batch.

Everything else about sessions, visits and page views stays in the `*_repo.py` modules.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Connection, Date, String

from pegada.storage.tables import page_views, visits
from pegada.storage.types import UTCDateTime

#: page_views columns in the order the hot path gives them (the id is the database's).
PAGE_VIEW_COLUMNS = tuple(c.name for c in page_views.columns if c.name != "id")
#: visits columns in the order the hot path gives them; the id comes first (reserved).
VISIT_COLUMNS = tuple(c.name for c in visits.columns)

#: A session as the batch finds it: id, open visit id, contact id (or None).
SessionState = tuple[int, int | None, int | None]

#: An open visit's state: started_at, ended_at, local_day, channel_type, source, medium,
#: campaign, page_count, exit_url.
OPEN_VISIT_COLUMNS = (
    "id",
    "started_at",
    "ended_at",
    "local_day",
    "channel_type",
    "source",
    "medium",
    "campaign",
    "page_count",
    "exit_url",
)


def _insert_sql(table: str, columns: Sequence[str], marker: str, conflict: str) -> str:
    names = ", ".join(columns)
    markers = ", ".join([marker] * len(columns))
    return f"INSERT INTO {table} ({names}) VALUES ({markers}) {conflict}"


_PAGE_VIEW_CONFLICT = "ON CONFLICT (tenant_id, session_id, host, seq) DO NOTHING"
_UPDATE_VISIT = (
    "UPDATE visits SET started_at = ?, ended_at = ?, page_count = ?, exit_url = ? WHERE id = ?"
)
_POINT_SESSION = "UPDATE sessions SET open_visit_id = ? WHERE id = ?"
_SAVEPOINT = "hot_batch"


def _sqlite_time(value: datetime) -> str:
    """As `UTCDateTime` stores it on SQLite: naive UTC, always with microseconds."""
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


class _Shape:
    """How a table's rows become driver parameters: the columns in order, and where the
    values that need converting sit (times, dates, JSON)."""

    def __init__(self, table: Any, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        kinds = {c.name: _kind(c.type) for c in table.columns}
        self.times = [i for i, n in enumerate(columns) if kinds[n] == "time"]
        self.dates = [i for i, n in enumerate(columns) if kinds[n] == "date"]
        self.json = [i for i, n in enumerate(columns) if kinds[n] == "json"]
        self.pg_types = [_PG_ARRAY[kinds[n]] for n in columns]

    def sqlite_row(self, row: dict[str, Any]) -> list[Any]:
        values = [row[name] for name in self.columns]
        for i in self.times:
            values[i] = _sqlite_time(values[i])
        for i in self.dates:
            values[i] = values[i].isoformat()
        for i in self.json:
            if values[i] is not None:
                values[i] = json.dumps(values[i])
        return values

    def pg_columns(self, rows: list[dict[str, Any]]) -> list[list[Any]]:
        """Column-wise lists (for `unnest`), JSON as text."""
        columns = [[row[name] for row in rows] for name in self.columns]
        for i in self.json:
            columns[i] = [None if v is None else json.dumps(v) for v in columns[i]]
        return columns

    def unnest(self) -> str:
        # %b: arrays go in binary, which psycopg builds without quoting each element.
        arrays = ", ".join(f"%b::{t}[]" for t in self.pg_types)
        return f"SELECT * FROM unnest({arrays})"


_PG_ARRAY = {
    "int": "bigint",
    "text": "text",
    "time": "timestamptz",
    "date": "date",
    "json": "jsonb",
}


def _kind(column_type: Any) -> str:
    if isinstance(column_type, UTCDateTime):
        return "time"
    if isinstance(column_type, Date):
        return "date"
    if isinstance(column_type, JSON):
        return "json"
    if isinstance(column_type, String):
        return "text"
    return "int"


_PAGE_VIEW_SHAPE = _Shape(page_views, PAGE_VIEW_COLUMNS)
_VISIT_SHAPE = _Shape(visits, VISIT_COLUMNS)


SessionKey = tuple[int, str]  # tenant id, session hash


@dataclass
class BatchStart:
    """What a batch needs to know before it places its hits into visits."""

    #: (tenant, hash) → (session state, created by this batch)
    sessions: dict[SessionKey, tuple[SessionState, bool]]
    #: visit id → OPEN_VISIT_COLUMNS after the id, times as aware datetimes
    open_visits: dict[int, tuple[Any, ...]]
    #: ids the batch may give its new visits (at least as many as it can open)
    visit_ids: list[int]


@dataclass
class BatchWrites:
    visits: list[dict[str, Any]]  # every VISIT_COLUMNS key, ids from BatchStart
    visit_updates: list[tuple[Any, ...]]  # (started_at, ended_at, page_count, exit_url, id)
    pointers: list[tuple[int | None, int]]  # (open visit id, session id)
    page_views: list[dict[str, Any]]  # every PAGE_VIEW_COLUMNS key


class HotWrites(Protocol):
    def start(self, hashes: dict[int, list[str]], now: datetime, most_visits: int) -> BatchStart:
        """Find or create the sessions (tenant → hashes), locking the existing ones for the
        rest of the transaction; read their open visits; reserve visit ids."""

    def write(self, writes: BatchWrites) -> bool:
        """Write it all; False, with none of it kept, when a page view was stored before."""


def hot_writes(conn: Connection) -> HotWrites:
    driver = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        return _PostgresWrites(driver)
    return _SqliteWrites(driver)


class _SqliteWrites:
    """sqlite3, statement after statement (no network to save). The caller's transaction
    already holds the write lock (BEGIN IMMEDIATE), so ids can be handed out here and
    nothing else writes in between."""

    def __init__(self, driver: Any) -> None:
        self._db = driver

    def start(self, hashes: dict[int, list[str]], now: datetime, most_visits: int) -> BatchStart:
        sessions: dict[SessionKey, tuple[SessionState, bool]] = {}
        for tenant_id, tenant_hashes in hashes.items():
            for session_hash, found in self._sessions_of(tenant_id, tenant_hashes, now).items():
                sessions[(tenant_id, session_hash)] = found
        open_ids = [s[0][1] for s in sessions.values() if s[0][1] is not None]
        (top,) = self._db.execute("SELECT coalesce(max(id), 0) FROM visits").fetchone()
        return BatchStart(
            sessions, self._open_visits(open_ids), list(range(top + 1, top + 1 + most_visits))
        )

    def _sessions_of(
        self, tenant_id: int, hashes: Sequence[str], now: datetime
    ) -> dict[str, tuple[SessionState, bool]]:
        found: dict[str, tuple[SessionState, bool]] = {}
        rows = self._db.execute(
            "SELECT session_hash, id, open_visit_id, contact_id FROM sessions "
            f"WHERE tenant_id = ? AND session_hash IN ({_marks(hashes)})",
            (tenant_id, *hashes),
        )
        for session_hash, sid, open_visit, contact in rows:
            found[session_hash] = ((sid, open_visit, contact), False)
        missing = [h for h in hashes if h not in found]
        if missing:
            created = _sqlite_time(now)
            self._db.executemany(
                "INSERT INTO sessions (tenant_id, session_hash, created_at, identity_claims) "
                "VALUES (?, ?, ?, 0)",
                [(tenant_id, h, created) for h in missing],
            )
            rows = self._db.execute(
                "SELECT session_hash, id FROM sessions "
                f"WHERE tenant_id = ? AND session_hash IN ({_marks(missing)})",
                (tenant_id, *missing),
            )
            for session_hash, sid in rows:
                found[session_hash] = ((sid, None, None), True)
        return found

    def _open_visits(self, ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
        if not ids:
            return {}
        rows = self._db.execute(
            f"SELECT {', '.join(OPEN_VISIT_COLUMNS)} FROM visits WHERE id IN ({_marks(ids)})",
            tuple(ids),
        )
        return {
            row[0]: (_aware(row[1]), _aware(row[2]), date.fromisoformat(row[3]), *row[4:])
            for row in rows
        }

    def write(self, writes: BatchWrites) -> bool:
        db = self._db
        db.execute(f"SAVEPOINT {_SAVEPOINT}")
        if writes.visits:
            db.executemany(
                _insert_sql("visits", VISIT_COLUMNS, "?", ""),
                [_VISIT_SHAPE.sqlite_row(row) for row in writes.visits],
            )
        if writes.visit_updates:
            db.executemany(
                _UPDATE_VISIT,
                [
                    (_sqlite_time(s), _sqlite_time(e), n, u, i)
                    for s, e, n, u, i in writes.visit_updates
                ],
            )
        if writes.pointers:
            db.executemany(_POINT_SESSION, writes.pointers)
        stored = db.executemany(
            _insert_sql("page_views", PAGE_VIEW_COLUMNS, "?", _PAGE_VIEW_CONFLICT),
            [_PAGE_VIEW_SHAPE.sqlite_row(row) for row in writes.page_views],
        ).rowcount
        if stored != len(writes.page_views):
            db.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        db.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        return bool(stored == len(writes.page_views))


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _aware(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class _PostgresWrites:
    """psycopg 3, in pipeline mode: each of the two steps is one round trip to the server
    whatever the batch holds. Several processes may write hits of one session, so sessions
    are created with ON CONFLICT and all of the batch's locked in id order (as
    visits_repo.lock_sessions does, so two writers cannot deadlock); visit ids come from the
    table's sequence (the ones a batch reserves and does not use are skipped: gaps only).

    Never prepared (`prepare=False`): psycopg prepares a statement after a few runs on a
    connection, and PostgreSQL's generic plan, made while the tables were small, kept
    scanning them whole as they grew — a long-running projector drained a backlog at
    ~1,200 requests/s against ~3,500 with plans made for each batch (bench/collector.py)."""

    def __init__(self, driver: Any) -> None:
        self._db = driver

    def start(self, hashes: dict[int, list[str]], now: datetime, most_visits: int) -> BatchStart:
        db = self._db
        created: dict[int, Any] = {}
        found: dict[int, Any] = {}
        with db.pipeline():
            for tenant_id, tenant_hashes in hashes.items():
                ordered = sorted(tenant_hashes)
                created[tenant_id] = db.cursor()
                created[tenant_id].execute(
                    "INSERT INTO sessions (tenant_id, session_hash, created_at, identity_claims) "
                    "SELECT %s, h, %s, 0 FROM unnest(%b::text[]) AS h "
                    "ON CONFLICT (tenant_id, session_hash) DO NOTHING RETURNING session_hash",
                    (tenant_id, now, ordered),
                    prepare=False,
                )
                found[tenant_id] = db.cursor()
                found[tenant_id].execute(
                    "SELECT s.session_hash, s.id, s.open_visit_id, s.contact_id, "
                    + ", ".join(f"v.{c}" for c in OPEN_VISIT_COLUMNS[1:])
                    + " FROM sessions AS s LEFT JOIN visits AS v ON v.id = s.open_visit_id "
                    "WHERE s.tenant_id = %s AND s.session_hash = ANY(%b::text[]) "
                    "ORDER BY s.id FOR UPDATE OF s",
                    (tenant_id, ordered),
                    prepare=False,
                )
            ids = db.cursor()
            ids.execute(
                "SELECT nextval(pg_get_serial_sequence('visits', 'id')) "
                "FROM generate_series(1, %s)",
                (most_visits,),
                prepare=False,
            )
        sessions: dict[SessionKey, tuple[SessionState, bool]] = {}
        open_visits: dict[int, tuple[Any, ...]] = {}
        for tenant_id in hashes:
            new = {row[0] for row in created[tenant_id].fetchall()}
            for session_hash, sid, open_id, contact, *visit in found[tenant_id].fetchall():
                sessions[(tenant_id, session_hash)] = ((sid, open_id, contact), session_hash in new)
                if open_id is not None and visit[0] is not None:
                    open_visits[open_id] = tuple(visit)
        return BatchStart(sessions, open_visits, [row[0] for row in ids.fetchall()])

    def write(self, writes: BatchWrites) -> bool:
        db = self._db
        with db.pipeline():
            db.execute(f"SAVEPOINT {_SAVEPOINT}")
            if writes.visits:
                db.execute(
                    f"INSERT INTO visits ({', '.join(VISIT_COLUMNS)}) {_VISIT_SHAPE.unnest()}",
                    _VISIT_SHAPE.pg_columns(writes.visits),
                    prepare=False,
                )
            if writes.visit_updates:
                db.execute(
                    "UPDATE visits AS v SET started_at = u.s, ended_at = u.e, page_count = u.n, "
                    "exit_url = u.x FROM unnest(%b::timestamptz[], %b::timestamptz[], "
                    "%b::bigint[], %b::text[], %b::bigint[]) AS u(s, e, n, x, id) "
                    "WHERE v.id = u.id",
                    [list(column) for column in zip(*writes.visit_updates, strict=True)],
                    prepare=False,
                )
            if writes.pointers:
                db.execute(
                    "UPDATE sessions AS s SET open_visit_id = u.v "
                    "FROM unnest(%b::bigint[], %b::bigint[]) AS u(v, id) WHERE s.id = u.id",
                    [list(column) for column in zip(*writes.pointers, strict=True)],
                    prepare=False,
                )
            inserted = db.cursor()
            inserted.execute(
                f"INSERT INTO page_views ({', '.join(PAGE_VIEW_COLUMNS)}) "
                f"{_PAGE_VIEW_SHAPE.unnest()} {_PAGE_VIEW_CONFLICT}",
                _PAGE_VIEW_SHAPE.pg_columns(writes.page_views),
                prepare=False,
            )
        if inserted.rowcount == len(writes.page_views):
            return True  # the savepoint ends with the transaction
        db.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        return False
