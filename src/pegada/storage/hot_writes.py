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


class HotWrites(Protocol):
    def sessions_of(
        self, tenant_id: int, hashes: Sequence[str], now: datetime
    ) -> dict[str, tuple[SessionState, bool]]:
        """hash → (session state, created now), creating the missing sessions; the
        existing ones are locked for the rest of the transaction (PostgreSQL)."""

    def open_visits(self, ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
        """visit id → its OPEN_VISIT_COLUMNS, times as aware datetimes."""

    def reserve_visit_ids(self, count: int) -> list[int]: ...

    def savepoint(self) -> None: ...

    def release(self) -> None: ...

    def rollback_to_savepoint(self) -> None: ...

    def insert_visits(self, rows: list[dict[str, Any]]) -> None:
        """Rows with every VISIT_COLUMNS key, ids reserved."""

    def update_visits(self, rows: list[tuple[Any, ...]]) -> None:
        """(started_at, ended_at, page_count, exit_url, id) per extended visit."""

    def point_sessions(self, pairs: list[tuple[int | None, int]]) -> None:
        """(open visit id, session id) per session whose open visit changed."""

    def insert_page_views(self, rows: list[dict[str, Any]]) -> int:
        """Insert, skipping rows already stored; returns how many were new."""


def hot_writes(conn: Connection) -> HotWrites:
    driver = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        return _PostgresWrites(driver)
    return _SqliteWrites(driver)


def _insert_sql(table: str, columns: Sequence[str], marker: str, conflict: str) -> str:
    names = ", ".join(columns)
    markers = ", ".join([marker] * len(columns))
    return f"INSERT INTO {table} ({names}) VALUES ({markers}) {conflict}"


_PAGE_VIEW_CONFLICT = "ON CONFLICT (tenant_id, session_id, host, seq) DO NOTHING"
_UPDATE_VISIT = (
    "UPDATE visits SET started_at = {m}, ended_at = {m}, page_count = {m}, exit_url = {m} "
    "WHERE id = {m}"
)
_POINT_SESSION = "UPDATE sessions SET open_visit_id = {m} WHERE id = {m}"
_OPEN_VISITS = f"SELECT {', '.join(OPEN_VISIT_COLUMNS)} FROM visits WHERE id IN ({{marks}})"
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
        arrays = ", ".join(f"%s::{t}[]" for t in self.pg_types)
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


class _SqliteWrites:
    """sqlite3: the caller's transaction already holds the write lock (BEGIN IMMEDIATE),
    so ids can be handed out here and nothing else writes in between."""

    def __init__(self, driver: Any) -> None:
        self._db = driver

    def sessions_of(
        self, tenant_id: int, hashes: Sequence[str], now: datetime
    ) -> dict[str, tuple[SessionState, bool]]:
        found: dict[str, tuple[SessionState, bool]] = {}
        marks = ", ".join("?" * len(hashes))
        rows = self._db.execute(
            "SELECT session_hash, id, open_visit_id, contact_id FROM sessions "
            f"WHERE tenant_id = ? AND session_hash IN ({marks})",
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
            marks = ", ".join("?" * len(missing))
            rows = self._db.execute(
                "SELECT session_hash, id FROM sessions "
                f"WHERE tenant_id = ? AND session_hash IN ({marks})",
                (tenant_id, *missing),
            )
            for session_hash, sid in rows:
                found[session_hash] = ((sid, None, None), True)
        return found

    def open_visits(self, ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
        if not ids:
            return {}
        rows = self._db.execute(_OPEN_VISITS.format(marks=", ".join("?" * len(ids))), tuple(ids))
        return {
            row[0]: (
                _aware(row[1]),
                _aware(row[2]),
                date.fromisoformat(row[3]),
                *row[4:],
            )
            for row in rows
        }

    def reserve_visit_ids(self, count: int) -> list[int]:
        if count == 0:
            return []
        (top,) = self._db.execute("SELECT coalesce(max(id), 0) FROM visits").fetchone()
        return list(range(top + 1, top + 1 + count))

    def savepoint(self) -> None:
        self._db.execute(f"SAVEPOINT {_SAVEPOINT}")

    def release(self) -> None:
        self._db.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")

    def rollback_to_savepoint(self) -> None:
        self._db.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        self.release()

    def insert_visits(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._db.executemany(
                _insert_sql("visits", VISIT_COLUMNS, "?", ""),
                [_VISIT_SHAPE.sqlite_row(row) for row in rows],
            )

    def update_visits(self, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self._db.executemany(
                _UPDATE_VISIT.format(m="?"),
                [(_sqlite_time(s), _sqlite_time(e), n, u, i) for s, e, n, u, i in rows],
            )

    def point_sessions(self, pairs: list[tuple[int | None, int]]) -> None:
        if pairs:
            self._db.executemany(_POINT_SESSION.format(m="?"), pairs)

    def insert_page_views(self, rows: list[dict[str, Any]]) -> int:
        cursor = self._db.executemany(
            _insert_sql("page_views", PAGE_VIEW_COLUMNS, "?", _PAGE_VIEW_CONFLICT),
            [_PAGE_VIEW_SHAPE.sqlite_row(row) for row in rows],
        )
        return int(cursor.rowcount)


def _aware(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class _PostgresWrites:
    """psycopg 3: several processes may write hits of one session, so the sessions are
    created with ON CONFLICT and the existing ones locked (in id order, as
    visits_repo.lock_sessions does, so two writers cannot deadlock); visit ids come from
    the table's sequence."""

    def __init__(self, driver: Any) -> None:
        self._db = driver

    def sessions_of(
        self, tenant_id: int, hashes: Sequence[str], now: datetime
    ) -> dict[str, tuple[SessionState, bool]]:
        ordered = sorted(hashes)
        with self._db.cursor() as cur:
            cur.execute(
                "INSERT INTO sessions (tenant_id, session_hash, created_at, identity_claims) "
                "SELECT %s, h, %s, 0 FROM unnest(%s::text[]) AS h "
                "ON CONFLICT (tenant_id, session_hash) DO NOTHING RETURNING session_hash, id",
                (tenant_id, now, ordered),
            )
            found: dict[str, tuple[SessionState, bool]] = {
                h: ((sid, None, None), True) for h, sid in cur.fetchall()
            }
            existing = [h for h in ordered if h not in found]
            if existing:
                cur.execute(
                    "SELECT session_hash, id, open_visit_id, contact_id FROM sessions "
                    "WHERE tenant_id = %s AND session_hash = ANY(%s) "
                    "ORDER BY id FOR UPDATE",
                    (tenant_id, existing),
                )
                for h, sid, open_visit, contact in cur.fetchall():
                    found[h] = ((sid, open_visit, contact), False)
        return found

    def open_visits(self, ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
        if not ids:
            return {}
        with self._db.cursor() as cur:
            cur.execute(
                f"SELECT {', '.join(OPEN_VISIT_COLUMNS)} FROM visits WHERE id = ANY(%s)",
                (list(ids),),
            )
            return {row[0]: tuple(row[1:]) for row in cur.fetchall()}

    def reserve_visit_ids(self, count: int) -> list[int]:
        if count == 0:
            return []
        with self._db.cursor() as cur:
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence('visits', 'id')) "
                "FROM generate_series(1, %s)",
                (count,),
            )
            return [row[0] for row in cur.fetchall()]

    def savepoint(self) -> None:
        self._db.execute(f"SAVEPOINT {_SAVEPOINT}")

    def release(self) -> None:
        self._db.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")

    def rollback_to_savepoint(self) -> None:
        self._db.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        self.release()

    def insert_visits(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._db.execute(
                f"INSERT INTO visits ({', '.join(VISIT_COLUMNS)}) {_VISIT_SHAPE.unnest()}",
                _VISIT_SHAPE.pg_columns(rows),
            )

    def update_visits(self, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self._db.execute(
                "UPDATE visits AS v SET started_at = u.s, ended_at = u.e, page_count = u.n, "
                "exit_url = u.x FROM unnest(%s::timestamptz[], %s::timestamptz[], "
                "%s::bigint[], %s::text[], %s::bigint[]) AS u(s, e, n, x, id) WHERE v.id = u.id",
                [list(column) for column in zip(*rows, strict=True)],
            )

    def point_sessions(self, pairs: list[tuple[int | None, int]]) -> None:
        if pairs:
            self._db.execute(
                "UPDATE sessions AS s SET open_visit_id = u.v "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS u(v, id) WHERE s.id = u.id",
                [list(column) for column in zip(*pairs, strict=True)],
            )

    def insert_page_views(self, rows: list[dict[str, Any]]) -> int:
        cursor = self._db.execute(
            f"INSERT INTO page_views ({', '.join(PAGE_VIEW_COLUMNS)}) "
            f"{_PAGE_VIEW_SHAPE.unnest()} {_PAGE_VIEW_CONFLICT}",
            _PAGE_VIEW_SHAPE.pg_columns(rows),
        )
        return int(cursor.rowcount)
