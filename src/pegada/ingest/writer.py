"""Group commit of accepted hit requests into the spool (storage/spool.py).

Requests hand their spool record to one writer per process and wait. The writer takes
everything that has accumulated and appends it in one durable transaction, and only then
releases the waiting requests: a hit is acknowledged only once it is committed, and under
load each transaction carries many requests. No timer: the batch is whatever arrived while
the previous append was running, plus what a few turns of the event loop bring in.

The append runs on the event loop's own thread. It is a few microseconds of CPU per request
plus one fsync per batch, during which the loop waits (as it does when another worker of the
host, or the projector tidying the spool, holds the spool's lock for a moment); handing it
to a worker thread was measured slower (bench/collector.py), because the thread must win the
GIL back from a busy loop before it can start and the loop must be woken again when it ends.
So was syncing alone in a thread while the loop appends the next batch unsynced: the sync
took ~0.6 ms and getting its result back through the GIL ~0.6–0.9 ms more, against ~0.45 ms
for the whole append on the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from pegada.storage.spool import Record, Spool

log = logging.getLogger("pegada.ingest")

_Pending = tuple[Record, "asyncio.Future[None]"]


class HitWriter:
    def __init__(self, spool: Spool, max_batch: int = 2_000) -> None:
        self.spool = spool
        self._max_batch = max_batch
        self._pending: deque[_Pending] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="hit-writer")

    async def submit(self, record: Record) -> None:
        """Returns once the record is committed; raises if the append failed."""
        if self._task is None or self._closing:
            raise RuntimeError("hit writer is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        self._wake.set()
        await future

    async def stop(self) -> None:
        """Write what is pending, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await _let_requests_arrive()
                self._write(self._take())
            if self._closing:
                return

    def _take(self) -> list[_Pending]:
        pending = self._pending
        count = min(len(pending), self._max_batch)
        return [pending.popleft() for _ in range(count)]

    def _write(self, batch: list[_Pending]) -> None:
        error: BaseException | None = None
        try:
            self.spool.append([record for record, _ in batch])
        except BaseException as exc:  # its requests get an answer even if we are stopping
            log.warning("%d hit requests not spooled: %r", len(batch), exc)
            error = exc
        _settle(batch, error)
        if error is not None and not isinstance(error, Exception):
            raise error


def _settle(batch: list[_Pending], error: BaseException | None) -> None:
    failure = error if error is None or isinstance(error, Exception) else RuntimeError("stopped")
    for _, future in batch:
        if future.done():  # its request was cancelled (the client went away)
            continue
        if failure is None:
            future.set_result(None)
        else:
            future.set_exception(failure)


async def _let_requests_arrive() -> None:
    """A few turns of the event loop before a batch is taken: requests already waiting in
    the sockets are read and join this batch instead of the next one. Without it the writer
    wakes for the first request after a commit and alternates tiny and large batches, each
    tiny one paying a whole commit (bench/collector.py measures the difference)."""
    for _ in range(_TURNS_BEFORE_A_BATCH):
        await asyncio.sleep(0)


_TURNS_BEFORE_A_BATCH = 3
