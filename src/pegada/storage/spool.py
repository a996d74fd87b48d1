"""The hit spool: where an accepted page hit becomes durable before its reply is sent.

A hit is acknowledged only once it is committed, but turning it into sessions, visits and
page views costs many times what receiving it does. So the collector commits each request
as it came (the body, already validated, with the user agent, the visitor's network and the
time) into this append-only SQLite file, one group commit per batch of requests with
`synchronous=FULL`, and the projector (ingest/projector.py) turns spooled requests into rows
of the main database afterwards, in spool order. Requests refused by privacy choice or by
origin are spooled as a count only: no URL of a visitor who opted out is written anywhere.

The file is local to the host that received the hits (SQLite on any backend): appending
never waits on a database server. A group commit is one row, its requests packed with
msgpack: a row per request cost ~4 µs more of the collector's CPU per request (a throwaway
probe of 32-request commits: ~136 µs more per commit; bench/profile_hitpath.py prints what
an append costs now). Each request still has its own id: a counter, moved in the
appending transaction, numbers them consecutively in commit order (SQLite has one writer
at a time) and never hands an id out twice, even after the projector deleted everything;
a batch row is keyed by its last request's id. The projector's mark in the main database
("projected through request N of spool X") is what makes projection exactly-once.
Each `Spool` object holds one connection: use one per thread.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

_SCHEMA = (
    # Requests last_id - count + 1 … last_id, as a msgpack array of `Record`s.
    """CREATE TABLE IF NOT EXISTS spooled_batches (
        last_id INTEGER PRIMARY KEY,
        count INTEGER NOT NULL,
        records BLOB NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS spool_identity (spool_id TEXT NOT NULL)",
    # The id of the newest request ever appended (one row).
    "CREATE TABLE IF NOT EXISTS spool_counter (newest_id INTEGER NOT NULL)",
)

#: What the collector spools per request: (received_us, host_client, user_agent, network,
#: refusal, refused_hits, body).
Record = tuple[int, str, str | None, str | None, str | None, int, bytes | None]

_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(list[Record]).decode


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

    @property
    def received_at(self) -> datetime:
        return datetime.fromtimestamp(self.received_us / 1_000_000, UTC)


class Spool:
    """`durable=False` is for the projector's connection: what it writes (deletions of
    projected requests) may be lost in a power cut without harm, since the mark in the
    database already covers them, so its commits need not wait for the disk. It is
    `synchronous=NORMAL`, not OFF: in WAL mode that costs a commit no sync either, but a
    checkpoint it runs still syncs the file before the WAL can start over (with OFF, a power
    cut after a checkpoint could lose acknowledged requests the WAL no longer held)."""

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
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
            if db.execute("SELECT 1 FROM spool_counter").fetchone() is None:
                db.execute("INSERT INTO spool_counter (newest_id) VALUES (0)")
            _adopt_request_rows(db)
        return str(row[0])

    def append(self, records: list[Record]) -> None:
        """One durable transaction holding every record, as one row."""
        with self._writing() as db:
            ((last,),) = db.execute(
                "UPDATE spool_counter SET newest_id = newest_id + ? RETURNING newest_id",
                (len(records),),
            ).fetchall()
            db.execute(
                "INSERT INTO spooled_batches (last_id, count, records) VALUES (?, ?, ?)",
                (last, len(records), _pack(records)),
            )

    def newest_id(self) -> int:
        """The id of the newest committed request (0 for an empty, new spool)."""
        (newest,) = self._db.execute("SELECT newest_id FROM spool_counter").fetchone()
        return int(newest)

    def read_after(self, after: int, limit: int) -> list[SpooledRequest]:
        """Up to `limit` requests with ids after `after`, in order (a batch the mark went
        into the middle of gives its later requests only)."""
        found: list[SpooledRequest] = []
        batches = self._db.execute(
            "SELECT last_id, count, records FROM spooled_batches WHERE last_id > ?"
            " ORDER BY last_id",
            (after,),
        )
        try:
            for last_id, count, packed in batches:
                first = last_id - count + 1
                for offset, record in enumerate(_unpack(packed)):
                    if first + offset > after:
                        found.append(SpooledRequest(first + offset, *record))
                        if len(found) == limit:
                            return found
        finally:
            batches.close()  # ends the read: tidying and checkpoints need no old snapshot
        return found

    def pending_after(self, after: int) -> int:
        """How many requests with ids after `after` the file still holds."""
        row = self._db.execute(
            "SELECT coalesce(sum(min(count, last_id - ?)), 0) FROM spooled_batches"
            " WHERE last_id > ?",
            (after, after),
        ).fetchone()
        return int(row[0])

    def forget_through(self, last_id: int, chunk: int = 16, pause: float = 0.002) -> None:
        """Delete the batches projected whole, `chunk` batches per transaction with a pause
        between them: appending requests wait for the spool's lock, so it is never held
        long, and they get it between chunks. The freed pages are reused by later
        appends."""
        while True:
            with self._writing() as db:
                deleted = db.execute(
                    "DELETE FROM spooled_batches WHERE last_id IN (SELECT last_id FROM"
                    " spooled_batches WHERE last_id <= ? ORDER BY last_id LIMIT ?)",
                    (last_id, chunk),
                ).rowcount
            if deleted < chunk:
                break
            time.sleep(pause)

    def close(self) -> None:
        self._db.close()


def _adopt_request_rows(db: sqlite3.Connection) -> None:
    """Spool files written before a group commit became one row kept a row per request
    (`spooled_requests`, AUTOINCREMENT ids): the requests still there become batches of
    one, ids kept, and the counter carries on after the highest id ever used, so an
    upgrade with a backlog loses nothing and projects nothing twice."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'spooled_requests'"
    ).fetchone()
    if exists is None:
        return
    rows = db.execute(
        "SELECT id, received_us, host_client, user_agent, network, refusal, refused_hits,"
        " body FROM spooled_requests ORDER BY id"
    ).fetchall()
    db.executemany(
        "INSERT INTO spooled_batches (last_id, count, records) VALUES (?, 1, ?)",
        [(row[0], _pack([row[1:]])) for row in rows],
    )
    (used,) = db.execute(
        "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'spooled_requests'"
    ).fetchone()
    db.execute("UPDATE spool_counter SET newest_id = max(newest_id, ?)", (used,))
    db.execute("DROP TABLE spooled_requests")
