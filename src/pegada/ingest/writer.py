"""Group commit for page hits.

Requests hand their enriched hits to one writer per process and wait. The writer takes
everything that has accumulated, writes it in one transaction (in a worker thread, so the
event loop keeps accepting requests), and only then releases the waiting requests: a hit is
acknowledged only once it is committed, and under load each transaction carries many hits.
No timer: the batch is whatever arrived while the previous write was running, plus what
a few turns of the event loop bring in.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from anyio import to_thread
from sqlalchemy import Engine

from pegada.clock import utcnow
from pegada.ingest.commit import write_batch
from pegada.ingest.pipeline import Drop, PageView
from pegada.storage.engine import write_transaction

log = logging.getLogger("pegada.ingest")

_Pending = tuple[list[PageView], list[Drop], "asyncio.Future[None]"]


class HitWriter:
    def __init__(self, engine: Engine, max_batch: int = 5_000) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._pending: deque[_Pending] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="hit-writer")

    async def submit(self, views: list[PageView], drops: list[Drop]) -> None:
        """Returns once the hits are committed; raises if the write failed."""
        if self._task is None or self._closing:
            raise RuntimeError("hit writer is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((views, drops, future))
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
                batch = self._take()
                await self._write(batch)
            if self._closing:
                return

    def _take(self) -> list[_Pending]:
        taken: list[_Pending] = []
        size = 0
        while self._pending and (not taken or size < self._max_batch):
            item = self._pending.popleft()
            taken.append(item)
            size += len(item[0]) + len(item[1])
        return taken

    async def _write(self, batch: list[_Pending]) -> None:
        """One transaction for the batch; if it fails, each request again on its own, so a
        bad row fails only its own request and not everyone who shared the commit."""
        try:
            await self._commit(batch)
        except Exception as exc:
            if len(batch) == 1:
                log.warning("hit batch not written: %s", exc)
                _settle(batch, exc)
                return
            for item in batch:
                try:
                    await self._commit([item])
                except Exception as single:
                    log.warning("hits of one request not written: %s", single)
                    _settle([item], single)
                    continue
                _settle([item], None)
            return
        _settle(batch, None)

    async def _commit(self, batch: list[_Pending]) -> None:
        views = [view for item in batch for view in item[0]]
        drops = [drop for item in batch for drop in item[1]]
        await to_thread.run_sync(self._write_sync, views, drops)

    def _write_sync(self, views: list[PageView], drops: list[Drop]) -> None:
        with write_transaction(self._engine) as conn:
            write_batch(conn, views, drops, utcnow())


async def _let_requests_arrive() -> None:
    """A few turns of the event loop before a batch is taken: requests already waiting in
    the sockets are read and join this batch instead of the next one. Without it the writer
    wakes for the first request after a commit and alternates tiny and large batches, each
    tiny one paying a whole commit (bench/collector.py measures the difference)."""
    for _ in range(_TURNS_BEFORE_A_BATCH):
        await asyncio.sleep(0)


_TURNS_BEFORE_A_BATCH = 3


def _settle(batch: list[_Pending], error: Exception | None) -> None:
    for _, _, future in batch:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
