"""Keeping a tenant's report rollups (`report_visits`, `report_pages`, `report_gaps`) equal
to the tables they summarise — off the hit path, which never writes them.

`refresh` runs before every report is read. It redoes the sessions that may have changed
since it last ran: those with new page views (every visit the hit path writes or regroups
comes with one) and those with new submissions (every identification comes with one). Ids
are watched, not times, and a mark only counts as reached once every transaction running
when it was taken has ended (storage/reports/refresh_state.py), so a row committed late is
never skipped; at worst a session is redone twice. When nothing changed it costs two index
look-ups.

A tenant seen for the first time, or one whose whole history was rewritten (`pegada
attribution recompute`: `request_rebuild`), is rebuilt session by session in batches, one
transaction each, so SQLite's single writer is never held for long.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from pegada.storage.engine import read_transaction
from pegada.storage.reports import refresh_state, rollups
from pegada.storage.reports.rollups import Sessions
from pegada.storage.reports.span import tune_for_reports
from pegada.storage.transact import transact

#: Sessions per transaction of a rebuild: SQLite's single writer (the hit path's too) is
#: held for a couple of seconds at most; PostgreSQL blocks nobody but other refreshes.
REBUILD_BATCH = {"sqlite": 5_000, "postgresql": 100_000}
#: Changed sessions per statement of a refresh.
CHANGED_BATCH = 1_000
#: Marks kept waiting (older ones are dropped: that only delays reaching them).
MAX_PENDING = 32
#: How long a rebuild waits for transactions older than it to end before it starts.
REBUILD_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Mark:
    """What a refresh saw: when it looked, and the highest ids it had seen."""

    at: datetime
    page_view_id: int
    submission_id: int

    def as_json(self) -> list[Any]:
        return [self.at.isoformat(), self.page_view_id, self.submission_id]

    @classmethod
    def from_json(cls, item: Sequence[Any]) -> Mark:
        return cls(datetime.fromisoformat(item[0]), int(item[1]), int(item[2]))


def settle(
    reached: tuple[int, int], pending: list[Mark], oldest_running: datetime | None
) -> tuple[tuple[int, int], list[Mark]]:
    """Marks taken before the oldest running transaction began are reached (every row up
    to them was visible to the refresh that just read past `reached`); the others wait.
    `oldest_running` None: nothing waits (SQLite)."""
    done = [m for m in pending if oldest_running is None or m.at < oldest_running]
    waiting = [m for m in pending if m not in done]
    page_view_id = max([reached[0], *(m.page_view_id for m in done)])
    submission_id = max([reached[1], *(m.submission_id for m in done)])
    return (page_view_id, submission_id), waiting[-MAX_PENDING:]


def refresh(engine: Engine, tenant_id: int) -> None:
    """Bring the tenant's rollups up to date with everything committed so far."""
    with read_transaction(engine) as conn:
        state = refresh_state.peek(conn, tenant_id)
        if state is not None and not state.rebuild and not state.pending:
            page_views, _ = rollups.sessions_with_new_page_views(
                conn, tenant_id, int(state.page_view_id)
            )
            identified, _ = rollups.sessions_with_new_submissions(
                conn, tenant_id, int(state.submission_id)
            )
            if not page_views and not identified:
                return
    if state is None or state.rebuild:
        _rebuild(engine, tenant_id)
    transact(engine, lambda conn: _catch_up(conn, tenant_id))


def request_rebuild(engine: Engine, tenant_id: int) -> None:
    """Have the next refresh write every rollup row of the tenant again."""
    transact(engine, lambda conn: refresh_state.request_rebuild(conn, tenant_id))


# --- catching up with changed sessions -------------------------------------------------------


def _chunks(ids: set[int], size: int) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _catch_up(conn: Connection, tenant_id: int) -> None:
    tune_for_reports(conn)
    state = refresh_state.lock(conn, tenant_id)
    if state.rebuild:
        return  # requested meanwhile: the next refresh rebuilds
    reached = (int(state.page_view_id), int(state.submission_id))
    pending = [Mark.from_json(item) for item in state.pending]
    measured = refresh_state.now(conn)
    oldest = refresh_state.oldest_running_transaction(conn)  # None: nothing since `measured`
    changed, top_view = rollups.sessions_with_new_page_views(conn, tenant_id, reached[0])
    identified, top_submission = rollups.sessions_with_new_submissions(conn, tenant_id, reached[1])
    seen_at = refresh_state.now(conn)  # after the reads: what was running then began before
    for chunk in _chunks(changed | identified, CHANGED_BATCH):
        rollups.rebuild(conn, tenant_id, Sessions(ids=chunk))
    if (top_view, top_submission) != reached:
        pending.append(Mark(seen_at, top_view, top_submission))
    if conn.dialect.name == "postgresql":
        reached, pending = settle(reached, pending, oldest or measured)
    else:
        reached, pending = settle(reached, pending, None)
    refresh_state.save(
        conn,
        tenant_id,
        page_view_id=reached[0],
        submission_id=reached[1],
        pending=[m.as_json() for m in pending],
    )


# --- rebuilding every session ----------------------------------------------------------------


def _start_mark(engine: Engine, tenant_id: int) -> tuple[int, int]:
    """The tenant's highest ids, once every transaction that might still add rows below
    them has ended (so the rebuild sees all of them); (0, 0) if that takes too long, and
    then the first refresh after the rebuild looks at everything again."""
    with read_transaction(engine) as conn:
        highest = rollups.highest_ids(conn, tenant_id)
        taken = refresh_state.now(conn)
    deadline = time.monotonic() + REBUILD_WAIT_SECONDS
    while True:
        with read_transaction(engine) as conn:
            oldest = refresh_state.oldest_running_transaction(conn)
        if oldest is None or oldest > taken:
            return highest
        if time.monotonic() > deadline:
            return 0, 0
        time.sleep(0.02)


def _rebuild(engine: Engine, tenant_id: int) -> None:
    highest = _start_mark(engine, tenant_id)

    def step(conn: Connection) -> bool:
        tune_for_reports(conn)
        batch = REBUILD_BATCH.get(conn.dialect.name, min(REBUILD_BATCH.values()))
        state = refresh_state.lock(conn, tenant_id)
        if not state.rebuild:
            return True  # another refresh finished it
        after = int(state.rebuilt_through)
        if after == 0:
            # Starting: what the rebuild will have covered, for the refreshes after it.
            refresh_state.save(
                conn, tenant_id, page_view_id=highest[0], submission_id=highest[1], pending=[]
            )
        ids = rollups.session_ids_after(conn, tenant_id, after, batch)
        if len(ids) < batch:
            rollups.rebuild(conn, tenant_id, Sessions(after=after))
            refresh_state.save(conn, tenant_id, rebuild=False, rebuilt_through=0)
            return True
        rollups.rebuild(conn, tenant_id, Sessions(after=after, through=ids[-1]))
        refresh_state.save(conn, tenant_id, rebuilt_through=ids[-1])
        return False

    while not transact(engine, step):
        pass
    transact(engine, rollups.analyze)
