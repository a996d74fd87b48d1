"""The projector: spooled requests → sessions, visits, page views and drop counts.

The collector only makes a request durable (storage/spool.py); this is where its hits are
enriched (ingest/pipeline.py) and written (ingest/commit.py), a batch of spooled requests per
transaction of the main database, in spool order. The spool's mark in that database
(`spool_marks`) moves in the same transaction, so every spooled request is projected exactly
once, whatever stops in between; projectors of one spool take turns on the mark's lock.

It runs in three places, all the same code: `pegada project`, the process `pegada serve`
starts beside its workers at idle priority (in normal traffic it keeps the backlog at a few
milliseconds; under a burst it gives way to the workers and catches up afterwards); and
inside any API request that reads or builds on hits (`catch_up`: identify, events, the CRM
calls, the read API), which first projects everything spooled before it began — so a hit
acknowledged to a browser is always visible to the next request, with or without the
process.

A request that cannot be projected (a fault of ours: it passed validation when it arrived)
is kept whole in `unprojected_requests` with its error, and the rest of its batch goes on.
When the database itself is unavailable nothing moves and the batch is tried again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from pegada.attribution.rules import ChannelRules
from pegada.clock import utcnow
from pegada.ingest.commit import write_batch
from pegada.ingest.payload import CollectBody
from pegada.ingest.pipeline import Drop, DropReason, PageView, RequestContext, process
from pegada.ingest.tenants import TenantDirectory, TrackedTenant
from pegada.storage import spool_marks_repo
from pegada.storage.engine import read_transaction, write_transaction
from pegada.storage.spool import Spool, SpooledRequest

log = logging.getLogger("pegada.projector")

#: Errors that say the database is unavailable (not that a request is bad): nothing is
#: marked, the batch waits for the next try.
UNAVAILABLE = (OperationalError, InterfaceError)
#: Requests per transaction: large enough that a backlog drains fast, small enough that
#: SQLite's database-wide writer lock, which API writes wait on, is never held for long
#: (~50 ms). PostgreSQL has no such lock, and larger transactions cost it less per request:
#: 116 µs against 144 µs of wall time at 500 (`bench/projection.py --batch`), time its
#: server takes from the collector when both share a host.
BATCH = {"sqlite": 500, "postgresql": 2_000}
#: Projected requests are deleted from the spool when the projector has caught up, at most
#: every FORGET_EVERY seconds, or once FORGET_AFTER have piled up: a delete holds the
#: spool's lock, which appending requests wait on, so it is done rarely and in chunks.
FORGET_EVERY = 1.0
FORGET_AFTER = 50_000
#: How often an idle projector looks for new requests: the delay before hits show to a
#: reader that looks at the database itself (API reads catch up first, never wait for this).
IDLE_WAIT = 0.02
FIRST_PAUSE = 0.5
MAX_PAUSE = 5.0
#: While a burst lasts (the backlog grew over the last batch) the projector steps aside
#: after each batch for STEP_ASIDE times what the batch spent waiting rather than running
#: (`_step_aside`) ...
STEP_ASIDE = 3.0
#: ... until the backlog reaches STEP_ASIDE_UP_TO requests: from there it runs flat out, so
#: stepping aside cannot grow the backlog without bound. It is also about the most an API
#: call made during a burst has to project before it answers (`catch_up`), unless the load
#: outruns projection even at full speed. Measured with a throwaway probe (the load of
#: bench/collector.py, `GET /api/v1/contacts` 3 s into it): backlog 12–17 k, the call
#: answered in 4–8 s, as it did before the projector stepped aside on both databases; at
#: the 2,400–4,000 requests/s a backlog drains at there, 50,000 would be ~12–20 s.
STEP_ASIDE_UP_TO = 50_000

T = TypeVar("T")

_decode_body = msgspec.json.Decoder(CollectBody).decode


class UnknownTenant(Exception):
    pass


class Projector:
    def __init__(
        self,
        engine: Engine,
        spool: Spool,
        tenants: TenantDirectory,
        rules: ChannelRules,
        batch: int | None = None,
    ) -> None:
        self._engine = engine
        self._spool = spool
        self._tenants = tenants
        self._rules = rules
        self._batch = batch or BATCH[engine.dialect.name]
        self._lock = threading.Lock()
        self._forgotten_through = 0
        self._forgot_at = -FORGET_EVERY
        #: The mark as this projector last saw it (it only grows).
        self.projected_through = 0

    @property
    def spool_id(self) -> str:
        return self._spool.spool_id

    def catch_up(self) -> None:
        """Project everything spooled before this call (blocking). Cheap when there is
        nothing to do: one read of the spool, and of the mark if another process moved it."""
        with self._lock:
            target = self._spool.newest_id()
            if self.projected_through >= target:
                return
            with read_transaction(self._engine) as conn:
                mark = spool_marks_repo.mark_of(conn, self.spool_id)
            self.projected_through = max(self.projected_through, mark)
            while self.projected_through < target:
                if self._project_next() == 0:
                    break

    def project_next(self) -> int:
        """Project the next batch; how many spooled requests it took (0: none waiting)."""
        with self._lock:
            return self._project_next()

    def run(self, stop: threading.Event, idle_wait: float = IDLE_WAIT) -> None:
        """Project until `stop` is set: batch after batch while there is a backlog, a look
        every `idle_wait` seconds when there is none, a growing pause while the database is
        unavailable, and a step aside after each batch while a burst lasts (`_step_aside`)."""
        pause = FIRST_PAUSE
        backlog: int | None = None
        while not stop.is_set():
            started = time.perf_counter(), time.thread_time()
            try:
                taken = self.project_next()
            except UNAVAILABLE as exc:
                log.warning("database unavailable, projection waits %.1f s: %s", pause, exc)
                stop.wait(pause)
                pause = min(pause * 2, MAX_PAUSE)
                continue
            pause = FIRST_PAUSE
            if taken < self._batch:
                backlog = None
                stop.wait(idle_wait)
            else:
                backlog = self._step_aside(stop, started, backlog)

    def _step_aside(
        self, stop: threading.Event, started: tuple[float, float], before: int | None
    ) -> int:
        """While requests arrive faster than they are projected (the backlog grew over the
        last batch), wait STEP_ASIDE times as long as the batch spent not running: waiting
        on a database server, which a shared host runs at normal priority beside the
        collector, on the disk, or for the CPU, which this idle-priority process waits for
        only while a worker has it. On an idle machine that is next to nothing; under a
        burst the collector gets the machine and the backlog waits, durably, in the spool.
        Once the burst is over (or the backlog reaches STEP_ASIDE_UP_TO) projection runs
        flat out.
        Measured (bench/collector.py --projection running, 4 interleaved pairs of rounds,
        each against its own bare run): with STEP_ASIDE 3 on both databases, median 74 %
        of bare on PostgreSQL and 68 % on SQLite, against 60 % and 65 % when it waited 1×
        and on PostgreSQL only; the backlog at the end of the load ~25 k requests against
        ~14 k. Returns the backlog now."""
        backlog = self._spool.newest_id() - self.projected_through
        if before is not None and before < backlog < STEP_ASIDE_UP_TO:
            wall, cpu = started
            waited = (time.perf_counter() - wall) - (time.thread_time() - cpu)
            stop.wait(STEP_ASIDE * max(waited, 0.0))
        return backlog

    def _project_next(self) -> int:
        now = utcnow()
        try:
            taken = self._project_batch(now, isolate=False)
        except UNAVAILABLE:
            raise
        except Exception:
            log.exception("a batch of spooled requests failed; projecting them one by one")
            taken = self._project_batch(now, isolate=True)
        caught_up = taken < self._batch and time.monotonic() - self._forgot_at >= FORGET_EVERY
        if caught_up or self.projected_through - self._forgotten_through >= FORGET_AFTER:
            self._forget()
        return taken

    def _project_batch(self, now: datetime, *, isolate: bool) -> int:
        with write_transaction(self._engine) as conn:
            mark = spool_marks_repo.lock_mark(conn, self.spool_id, now)
            requests = self._spool.read_after(mark, self._batch)
            if requests:
                if isolate:
                    self._project_each(conn, requests, now)
                else:
                    _write(conn, self._expand(requests))
                spool_marks_repo.advance(conn, self.spool_id, requests[-1].id, now)
        self.projected_through = requests[-1].id if requests else mark
        return len(requests)

    def _project_each(
        self, conn: Connection, requests: list[SpooledRequest], now: datetime
    ) -> None:
        """Each request in its own savepoint; one that fails is kept, not lost."""
        for request in requests:
            try:
                with conn.begin_nested():
                    _write(conn, self._expand([request]))
            except UNAVAILABLE:
                raise
            except Exception as exc:
                log.error("spooled request %d kept unprojected: %r", request.id, exc)
                tenant = self._tenant(request.host_client, required=False)
                spool_marks_repo.keep_unprojected(
                    conn, self.spool_id, request, tenant.id if tenant else None, repr(exc), now
                )

    def _forget(self) -> None:
        self._forgot_at = time.monotonic()
        if self.projected_through > self._forgotten_through:
            self._spool.forget_through(self.projected_through)
            self._forgotten_through = self.projected_through

    def _expand(self, requests: list[SpooledRequest]) -> tuple[list[PageView], list[Drop]]:
        views: list[PageView] = []
        drops: list[Drop] = []
        for request in requests:
            tenant = self._tenant(request.host_client)
            assert tenant is not None
            received_at = request.received_at
            if request.refusal is not None:
                reason = DropReason(request.refusal)
                drops.append(
                    Drop(tenant.id, reason, request.refused_hits, tenant.timezone, received_at)
                )
                continue
            assert request.body is not None
            got_views, got_drops = process(
                _decode_body(request.body),
                _context(tenant, request, received_at),
                self._rules,
            )
            views += got_views
            drops += got_drops
        return views, drops

    def _tenant(self, host_client: str, *, required: bool = True) -> TrackedTenant | None:
        tenant = self._tenants.get(host_client)
        if tenant is None and required:
            raise UnknownTenant(f"no tenant {host_client!r} any more")
        return tenant


def _context(
    tenant: TrackedTenant, request: SpooledRequest, received_at: datetime
) -> RequestContext:
    return RequestContext(
        tenant.id,
        request.user_agent or "",
        request.network,
        received_at,
        tenant.own_hosts,
        tenant.timezone,
        timedelta(minutes=tenant.visit_idle_minutes),
    )


def _write(conn: Connection, expanded: tuple[list[PageView], list[Drop]]) -> None:
    views, drops = expanded
    # Sessions first seen in this batch are dated by its newest arrival, not by when the
    # projector got to them.
    arrived = max((view.row["received_at"] for view in views), default=None)
    write_batch(conn, views, drops, arrived or utcnow())


@contextmanager
def spool_projector(
    engine: Engine, spool_path: Path, rules: ChannelRules, tenants: TenantDirectory | None = None
) -> Iterator[Projector]:
    """A projector of the spool at `spool_path` on a connection of its own (the projector's
    kind: its deletions need no sync), closed when the block ends."""
    spool = Spool(spool_path, durable=False)
    try:
        yield Projector(engine, spool, tenants or TenantDirectory(engine), rules)
    finally:
        spool.close()


def after_catching_up(projector: Projector, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` once every hit spooled before the call is projected: what an API
    request that reads or builds on hits runs (in a worker thread)."""
    projector.catch_up()
    return function(*args)
