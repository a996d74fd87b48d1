"""`pegada serve`, one worker, with timers around the hit path (for bench/profile_hitpath.py).

    PEGADA_DATABASE_URL=... BENCH_STATS=/tmp/stats.json \\
        .venv/bin/python bench/instrumented_serve.py --port 8000

Nothing in src/ is changed: the hits handler (api/hits.py `serve_hits`) and the group-commit
writer are wrapped before the app is built. When the server stops (SIGTERM), one JSON document
goes to $BENCH_STATS with, per request, the CPU spent in the handler before it hands its hits
to the writer, the time it then waits for the commit; and per batch (transaction) its size,
the wall and CPU time of the whole write and of the SQL statements alone.
"""

from __future__ import annotations

import argparse
import contextvars
import json
import os
import signal
import sys
import time
from collections import defaultdict
from typing import Any

import uvicorn
from sqlalchemy import event
from sqlalchemy.engine import Engine

from pegada.api import hits
from pegada.ingest import writer
from pegada.settings import Settings
from pegada.storage.migrate import upgrade

STATS: dict[str, list[float]] = defaultdict(list)
_handler_cpu_start: contextvars.ContextVar[float] = contextvars.ContextVar("handler_cpu_start")

_serve_hits = hits.serve_hits
_submit = writer.HitWriter.submit
_write_sync = writer.HitWriter._write_sync
_write_batch = writer.write_batch


async def serve_hits(scope: Any, receive: Any, send: Any) -> None:
    _handler_cpu_start.set(time.thread_time())
    wall = time.perf_counter()
    try:
        await _serve_hits(scope, receive, send)
    finally:
        STATS["handler_wall"].append(time.perf_counter() - wall)


async def submit(self: writer.HitWriter, views: list[Any], drops: list[Any]) -> None:
    start = _handler_cpu_start.get(None)
    if start is not None:
        STATS["handler_cpu_before_submit"].append(time.thread_time() - start)
    wall = time.perf_counter()
    try:
        await _submit(self, views, drops)
    finally:
        STATS["submit_wait"].append(time.perf_counter() - wall)


def write_sync(self: writer.HitWriter, views: list[Any], drops: list[Any]) -> None:
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        _write_sync(self, views, drops)
    finally:
        STATS["batch_views"].append(len(views))
        STATS["batch_drops"].append(len(drops))
        STATS["batch_wall"].append(time.perf_counter() - wall)
        STATS["batch_cpu"].append(time.thread_time() - cpu)


def write_batch(conn: Any, views: list[Any], drops: list[Any], now: Any) -> None:
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        _write_batch(conn, views, drops, now)
    finally:
        STATS["sql_wall"].append(time.perf_counter() - wall)
        STATS["sql_cpu"].append(time.thread_time() - cpu)


_statement_start: dict[int, float] = {}


@event.listens_for(Engine, "before_cursor_execute")
def _before(conn: Any, _cursor: Any, _stmt: str, _params: Any, _ctx: Any, _many: bool) -> None:
    _statement_start[id(conn)] = time.perf_counter()


@event.listens_for(Engine, "after_cursor_execute")
def _after(conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, _many: bool) -> None:
    start = _statement_start.pop(id(conn), None)
    if start is None:
        return
    words = statement.split()
    kind = " ".join(words[:3]).lower() if words else "?"
    STATS[f"stmt:{kind}"].append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = Settings.from_env()
    if settings.auto_migrate:
        from pegada.storage.engine import build_engine

        engine = build_engine(settings)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
    hits.serve_hits = serve_hits  # type: ignore[assignment]  # looked up per request
    writer.HitWriter.submit = submit  # type: ignore[method-assign]
    writer.HitWriter._write_sync = write_sync  # type: ignore[method-assign]
    writer.write_batch = write_batch  # type: ignore[assignment]
    # uvicorn restores the handlers it found and re-raises SIGTERM/SIGINT once it has shut
    # down (lifespan included, so the writer has flushed): that is when the stats are final.
    signal.signal(signal.SIGTERM, _dump_and_exit)
    signal.signal(signal.SIGINT, _dump_and_exit)
    uvicorn.run(
        "pegada.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=1,
        log_level="warning",
        access_log=False,
    )
    _dump_and_exit(0, None)


def _dump_and_exit(signum: int, _frame: object) -> None:
    out = os.environ.get("BENCH_STATS")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(STATS, handle)
    sys.exit(0)


if __name__ == "__main__":
    main()
