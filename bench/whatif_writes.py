"""What would the group-commit write cost without SQLAlchemy Core on the hot path?

    .venv/bin/python bench/whatif_writes.py [--batch 16] [--only sqlite|postgresql]

Writes the same enriched hits (the benchmark's captured requests through `process()`) three
ways and prints CPU (this thread) and wall time per stored hit:

- `write_batch, today`: what the hit writer runs in its transaction in this version of src
  (whatever it does: sessions, resent-hit check, visits, page_views, touches).
- `sessions + page_views, SQLAlchemy Core`: only the two essential writes, resolving the
  sessions (`INSERT … ON CONFLICT DO NOTHING` + `SELECT`) and inserting the page views,
  through SQLAlchemy Core as src does.
- `sessions + page_views, DBAPI`: the same two through the driver (sqlite3 / psycopg) with the
  SQL written once and plain tuples; on PostgreSQL the sessions are resolved in one
  `INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE … RETURNING`.

So (1) − (2) is what the extra bookkeeping costs, (2) − (3) what SQLAlchemy Core costs on the
same statements. An estimate for the lead, not code to copy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from collector import Processes, exit_on_signal, log, throwaway_postgres
from profile_hitpath import capture, group_commit_write, run_process

COLUMNS = (
    "tenant_id session_id seq occurred_at received_at url host path title referrer "
    "referrer_host utm channel_type source medium campaign device_type device_name os "
    "os_version browser browser_version screen language time_on_previous_ms ip_prefix"
).split()


def enriched(url: str, pairs: list[tuple[str, bytes]]) -> tuple[Any, int, list[Any]]:
    from pegada.api.collector import decode as _decode
    from pegada.attribution.rules import default_rules
    from pegada.clock import utcnow
    from pegada.ingest.payload import CollectBody
    from pegada.ingest.pipeline import RequestContext
    from pegada.settings import Settings
    from pegada.storage.engine import build_engine, write_transaction
    from pegada.storage.migrate import upgrade
    from pegada.tenancy import create_tenant

    engine = build_engine(Settings(database_url=url))
    upgrade(engine)
    with write_transaction(engine) as conn:
        tenant_id = create_tenant(conn, "bench").id
    process = run_process(default_rules())
    views: list[Any] = []
    for ua, raw in pairs:
        body = _decode(raw, CollectBody)
        views += process(body, RequestContext(tenant_id, ua, "127.0.0.1", utcnow()))[0]
    return engine, tenant_id, views


def today_write(engine: Any) -> Callable[[list[Any]], None]:
    from pegada.clock import utcnow
    from pegada.storage.engine import write_transaction

    write_batch = group_commit_write()

    def write(batch: list[Any]) -> None:
        with write_transaction(engine) as conn:
            write_batch(conn, batch, [], utcnow())

    return write


def core_essentials(engine: Any) -> Callable[[list[Any]], None]:
    from pegada.clock import utcnow
    from pegada.storage import hits_repo
    from pegada.storage.dialect import insert_ignoring_conflicts
    from pegada.storage.engine import write_transaction
    from pegada.storage.tables import page_views

    ensure = getattr(hits_repo, "ensure_sessions", None) or hits_repo._ensure_sessions

    def write(batch: list[Any]) -> None:
        with write_transaction(engine) as conn:
            sessions = ensure(conn, {(v.tenant_id, v.session_hash) for v in batch}, utcnow())
            rows = [
                dict(zip(COLUMNS, _row(v, sessions[(v.tenant_id, v.session_hash)].id), strict=True))
                for v in batch
            ]
            conn.execute(
                insert_ignoring_conflicts(
                    conn, page_views, ["tenant_id", "session_id", "host", "seq"]
                ),
                rows,
            )

    return write


def _row(view: Any, session_id: int) -> tuple[Any, ...]:
    c = view.classification
    values = dict(
        view.row,
        tenant_id=view.tenant_id,
        session_id=session_id,
        channel_type=c.channel,
        source=c.source,
        medium=c.medium,
        campaign=c.campaign,
    )
    return tuple(values[name] for name in COLUMNS)


def dbapi_sqlite(engine: Any) -> Callable[[list[Any]], None]:
    from pegada.clock import utcnow

    raw = engine.raw_connection()
    db = raw.driver_connection
    db.isolation_level = None
    insert_views = (
        f"INSERT INTO page_views ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        " ON CONFLICT (tenant_id, session_id, host, seq) DO NOTHING"
    )

    def iso(value: Any) -> Any:
        return value.replace(tzinfo=None).isoformat(" ") if hasattr(value, "tzinfo") else value

    def write(batch: list[Any]) -> None:
        now = iso(utcnow())
        keys = sorted({(v.tenant_id, v.session_hash) for v in batch})
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO sessions (tenant_id, session_hash, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (tenant_id, session_hash) DO NOTHING",
            [(t, h, now) for t, h in keys],
        )
        marks = ", ".join("?" * len(keys))
        ids = {
            (t, h): i
            for i, t, h in db.execute(
                f"SELECT id, tenant_id, session_hash FROM sessions WHERE tenant_id = ? "
                f"AND session_hash IN ({marks})",
                [keys[0][0], *(h for _, h in keys)],
            )
        }
        rows = []
        for view in batch:
            row = list(_row(view, ids[(view.tenant_id, view.session_hash)]))
            row[3], row[4] = iso(row[3]), iso(row[4])
            row[11] = json.dumps(row[11]) if row[11] is not None else None
            rows.append(row)
        db.executemany(insert_views, rows)
        db.execute("COMMIT")

    return write


def dbapi_postgres(engine: Any) -> Callable[[list[Any]], None]:
    from psycopg.types.json import Jsonb

    from pegada.clock import utcnow

    raw = engine.raw_connection()
    db = raw.driver_connection
    db.autocommit = True
    insert_views = (
        f"INSERT INTO page_views ({', '.join(COLUMNS)}) VALUES "
        f"({', '.join(['%s'] * len(COLUMNS))})"
        " ON CONFLICT (tenant_id, session_id, host, seq) DO NOTHING"
    )

    def write(batch: list[Any]) -> None:
        now = utcnow()
        tenants, hashes = zip(*sorted({(v.tenant_id, v.session_hash) for v in batch}), strict=True)
        with db.transaction(), db.cursor() as cur:
            cur.execute(
                "INSERT INTO sessions (tenant_id, session_hash, created_at) "
                "SELECT t, h, %s FROM unnest(%s::bigint[], %s::text[]) AS k(t, h) "
                "ON CONFLICT (tenant_id, session_hash) DO UPDATE SET session_hash = "
                "excluded.session_hash RETURNING id, tenant_id, session_hash",
                (now, list(tenants), list(hashes)),
            )
            ids = {(t, h): i for i, t, h in cur.fetchall()}
            rows = []
            for view in batch:
                row = list(_row(view, ids[(view.tenant_id, view.session_hash)]))
                row[11] = Jsonb(row[11]) if row[11] is not None else None
                rows.append(row)
            cur.executemany(insert_views, rows)

    return write


def measure(name: str, write: Callable[[list[Any]], None], views: list[Any], size: int) -> str:
    batches = [views[i : i + size] for i in range(0, len(views) - size + 1, size)]
    write(batches[0])  # warm: statement caches, connections
    cpu, wall = time.thread_time(), time.perf_counter()
    for batch in batches[1:]:
        write(batch)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    hits = size * (len(batches) - 1)
    return f"  {name:44} CPU {1e6 * cpu / hits:6.0f} µs/hit   wall {1e6 * wall / hits:6.0f} µs/hit"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16, help="hits per transaction")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, exit_on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="pegada-whatif-"))
    procs = Processes()
    out = []
    try:
        pairs = capture(workdir, procs, seconds=1.5)[:6000]
        third = len(pairs) // 3
        variants: dict[str, list[tuple[str, Callable[[Any], Callable[[list[Any]], None]]]]] = {
            "sqlite": [
                ("write_batch, today", today_write),
                ("sessions + page_views, SQLAlchemy Core", core_essentials),
                ("sessions + page_views, DBAPI sqlite3", dbapi_sqlite),
            ],
            "postgresql": [
                ("write_batch, today", today_write),
                ("sessions + page_views, SQLAlchemy Core", core_essentials),
                ("sessions + page_views, DBAPI psycopg", dbapi_postgres),
            ],
        }
        for name in [args.only] if args.only else ["sqlite", "postgresql"]:
            with ExitStack() as stack:
                if name == "sqlite":
                    url = f"sqlite:///{workdir / 'w.db'}"
                else:
                    url = stack.enter_context(throwaway_postgres(args.pg_admin_url))
                engine, _, views = enriched(url, pairs)
                stack.callback(engine.dispose)
                out.append(f"{name}, {args.batch} hits per transaction:")
                for index, (label, factory) in enumerate(variants[name]):
                    part = views[index * third : (index + 1) * third]
                    out.append(measure(label, factory(engine), part, args.batch))
        print("\n".join(out))
        return 0
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
        log("done")


if __name__ == "__main__":
    sys.exit(main())
