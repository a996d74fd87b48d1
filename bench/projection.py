"""Projection benchmark: how fast spooled hit requests become sessions, visits and page views
(ingest/projector.py), on SQLite and PostgreSQL — the rate the database keeps up with the
collector, which answers as soon as a request is in the spool (bench/collector.py).

    .venv/bin/python bench/projection.py [--requests 60000] [--batch N]
                                         [--only sqlite|postgresql] [--profile]

The requests are what bench/wrk/collect.lua sends (captured from the bare app: realistic
sessions, landings, user agents, 8 % bots), spooled as the collector spools them, then
projected by one `Projector.catch_up()` in this process with nothing else running. Prints
requests/s, wall and CPU per request, and checks every non-bot hit became one page view.
`--profile` adds the top functions by cumulative time (cProfile) per database.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import signal
import sys
import tempfile
import time
from pathlib import Path

from collector import Processes, exit_on_signal, fmt_table, log, throwaway_postgres
from profile_hitpath import capture
from sqlalchemy import text

HOST_CLIENT = "aSLhOBjZV5wD7YEpppb3"  # what the captured bodies carry


def measure(
    label: str, url: str, spool_dir: Path, pairs: list[tuple[str, bytes]], args: argparse.Namespace
) -> tuple[list[str], str]:
    from pegada.attribution.rules import default_rules
    from pegada.ingest.projector import Projector
    from pegada.ingest.tenants import TenantDirectory
    from pegada.settings import Settings
    from pegada.storage.engine import build_engine, write_transaction
    from pegada.storage.migrate import upgrade
    from pegada.storage.spool import Spool
    from pegada.tenancy import create_tenant

    engine = build_engine(Settings(database_url=url))
    spool = Spool(spool_dir / f"spool-{label}.db")
    try:
        upgrade(engine)
        with write_transaction(engine) as conn:
            create_tenant(conn, "Colégio Exemplo (bench)", HOST_CLIENT)
        received = time.time_ns() // 1000
        records = [
            (received + index, HOST_CLIENT, ua, "203.0.113.0/24", None, 0, body)
            for index, (ua, body) in enumerate(pairs)
        ]
        for start in range(0, len(records), 5_000):
            spool.append(records[start : start + 5_000])
        projector = Projector(
            engine, spool, TenantDirectory(engine), default_rules(), batch=args.batch
        )
        profiler = cProfile.Profile() if args.profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        projector.catch_up()
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        with engine.connect() as conn:
            views = conn.execute(text("SELECT count(*) FROM page_views")).scalar_one()
            bots = conn.execute(
                text("SELECT coalesce(sum(count), 0) FROM ingest_drops WHERE reason = 'bot'")
            ).scalar_one()
        n = len(pairs)
        row = [
            label,
            f"{n:,}",
            f"{n / wall:,.0f}",
            f"{1e6 * wall / n:.0f}",
            f"{1e6 * cpu / n:.0f}",
            f"{views:,}",
            f"{bots:,}",
            "ok"
            if views + bots == n and spool.pending_after(projector.projected_through) == 0
            else "FAIL",
        ]
        profile = ""
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            profile = f"--- {label}: cProfile, top {args.top} by cumulative time\n{out.getvalue()}"
        return row, profile
    finally:
        spool.close()
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60_000)
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="requests per transaction (default: the projector's own, per database)",
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_signal)
    procs = Processes()
    with tempfile.TemporaryDirectory(prefix="pegada-projection-") as tmp:
        workdir = Path(tmp)
        try:
            log("capturing the benchmark's requests")
            pairs: list[tuple[str, bytes]] = []
            while len(pairs) < args.requests:
                pairs += capture(workdir, procs, seconds=3.0)
            pairs = pairs[: args.requests]
        finally:
            procs.stop_all()
        rows = [
            [
                "database",
                "requests",
                "requests/s",
                "wall µs/req",
                "CPU µs/req",
                "page views",
                "bot drops",
                "check",
            ]
        ]
        profiles = []
        if args.only in (None, "sqlite"):
            log("sqlite: projecting")
            row, profile = measure(
                "sqlite", f"sqlite:///{workdir / 'pegada.db'}", workdir, pairs, args
            )
            rows.append(row)
            profiles.append(profile)
        if args.only in (None, "postgresql"):
            with throwaway_postgres(args.pg_admin_url) as url:
                log("postgresql: projecting")
                row, profile = measure("postgresql", url, workdir, pairs, args)
                rows.append(row)
                profiles.append(profile)
    print(
        f"projection of {len(pairs):,} captured requests, {args.batch} per transaction, one process"
    )
    print(fmt_table(rows, right={1, 2, 3, 4, 5, 6}))
    for profile in profiles:
        if profile:
            print(profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
