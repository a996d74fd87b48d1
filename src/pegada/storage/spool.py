"""The hit spool: where an accepted page hit becomes durable before its reply is sent.

A hit is acknowledged only once it is committed, but turning it into sessions, visits and
page views costs many times what receiving it does. So the collector commits each request
as it came (the body, already validated, with the user agent, the visitor's network and the
time) into this append-only SQLite file, one group commit per batch of requests with
`synchronous=FULL`, and the projector (ingest/projector.py) turns spooled requests into rows
of the main database afterwards, in spool order. Requests refused by privacy choice or by
origin are spooled as a count only: no URL of a visitor who opted out is written anywhere.

The file is local to the host that received the hits (SQLite on any backend): appending is
a few microseconds of CPU per request and never waits on a database server. Ids come from
AUTOINCREMENT, so they grow in commit order (SQLite has one writer at a time) and are never
reused after the projector deletes what it has projected; the projector's mark in the main
database ("projected through id N of spool X") is what makes projection exactly-once.
Each `Spool` object holds one connection: use one per thread.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS spooled_requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        received_us INTEGER NOT NULL,
        host_client TEXT NOT NULL,
        user_agent TEXT,
        network TEXT,
        refusal TEXT,
        refused_hits INTEGER NOT NULL DEFAULT 0,
        body BLOB
    )""",
    "CREATE TABLE IF NOT EXISTS spool_identity (spool_id TEXT NOT NULL)",
)

#: What the collector spools per request: (received_us, host_client, user_agent, network,
#: refusal, refused_hits, body).
Record = tuple[int, str, str | None, str | None, str | None, int, bytes | None]


@dataclass(frozen=True, slots=True)
class SpooledRequest:
    id: int
    received_us: int
    host_client: str
    user_agent: str | None
    network: str | None
    #: A `DropReason` value when the request was refused (then `body` is None).
    refusal: str | None
    refused_hits: int
    body: bytes | None


class Spool:
    """`durable=False` is for the projector's connection: what it writes (deletions of
    projected requests) may be lost in a power cut without harm, since the mark in the
    database already covers them, so its commits need not wait for the disk."""

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
        # SQLite's own checkpoint after a commit that takes the WAL past 1,000 pages (its
        # default, set here so no one turns it off by accident): the appends keep the WAL
        # busy, and only a checkpoint made between two of them lets the next one start the
        # WAL over. Without it the WAL grew to 200 MB in 12 s of load, every commit growing
        # the file (a dearer fsync), and the collector answered ~10 % fewer requests
        # (bench/collector.py, ARCHITECTURE.md "Hit path").
        self._db.execute("PRAGMA wal_autocheckpoint=1000")
        self.spool_id = self._identity()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken with the spool's lock up front (BEGIN IMMEDIATE)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _identity(self) -> str:
        """The spool's id, made when the file is: the projector's mark names it, so a new
        file (after an operator removed an old one) starts from its own beginning."""
        with self._writing() as db:
            for statement in _SCHEMA:
                db.execute(statement)
            row = db.execute("SELECT spool_id FROM spool_identity").fetchone()
            if row is None:
                row = (uuid.uuid4().hex,)
                db.execute("INSERT INTO spool_identity (spool_id) VALUES (?)", row)
        return str(row[0])

    def append(self, records: list[Record]) -> None:
        """One durable transaction holding every record."""
        with self._writing() as db:
            db.executemany(
                "INSERT INTO spooled_requests (received_us, host_client, user_agent, network,"
                " refusal, refused_hits, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                records,
            )

    def newest_id(self) -> int:
        """The id of the newest committed request (0 for an empty, new spool)."""
        row = self._db.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'spooled_requests'"
        ).fetchone()
        return int(row[0]) if row else 0

    def read_after(self, after: int, limit: int) -> list[SpooledRequest]:
        rows = self._db.execute(
            "SELECT id, received_us, host_client, user_agent, network, refusal, refused_hits,"
            " body FROM spooled_requests WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit),
        ).fetchall()
        return [SpooledRequest(*row) for row in rows]

    def pending_after(self, after: int) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM spooled_requests WHERE id > ?", (after,)
        ).fetchone()
        return int(row[0])

    def forget_through(self, last_id: int, chunk: int = 500, pause: float = 0.002) -> None:
        """Delete what has been projected, a chunk per transaction with a pause between
        them: appending requests wait for the spool's lock, so it is never held long, and
        they get it between chunks. The freed pages are reused by later appends."""
        while True:
            with self._writing() as db:
                deleted = db.execute(
                    "DELETE FROM spooled_requests WHERE id IN (SELECT id FROM"
                    " spooled_requests WHERE id <= ? ORDER BY id LIMIT ?)",
                    (last_id, chunk),
                ).rowcount
            if deleted < chunk:
                break
            time.sleep(pause)

    def close(self) -> None:
        self._db.close()
