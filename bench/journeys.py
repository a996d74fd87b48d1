"""Read-side benchmark: a year of journeys (1 M page hits, 50 k contacts by default) loaded
into PostgreSQL and SQLite, then the read API timed as a user gets it.

    .venv/bin/python bench/journeys.py [--hits 1000000] [--contacts 50000]
                                       [--only postgresql|sqlite] [--repeat 5] [--keep]

The data (bench/journeys_data.py) is what the hit path, identify and sendEvent would have
stored for a school's year of traffic, written straight into the tables
(bench/journeys_load.py) so loading takes a minute instead of hours. A small second tenant
shares the database, and the reports of each tenant must count only its own rows.

Then, through the real application (`create_app`, Starlette's TestClient: routing,
authentication, parameter parsing, the use case, the SQL, JSON encoding), each request is
sent `--repeat` times after one warm-up: the contact timeline, the contacts search and list
filters, and every report of /api/v1/reports/* for the whole year and for one month. The
table shows the median and the slowest time per request on each database, against the
goals of issue 4 (timeline < 50 ms, reports < 1 s on PostgreSQL).

Checks (exit status 1 when one fails): the year's overview and completeness equal what was
generated, for both tenants; and when both databases ran, every report answers the same on
both. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from journeys_data import ZONE, Rows, Shape, Tenancy, Truth, generate
from journeys_load import create_pg_database, load_postgresql, load_sqlite, prepare
from starlette.testclient import TestClient

from pegada.app import create_app
from pegada.settings import Settings
from pegada.storage.engine import build_engine
from pegada.usecases import rollups

TARGETS = ("postgresql", "sqlite")
TIMELINE_GOAL_MS = 50.0
REPORT_GOAL_MS = 1000.0
DIMENSIONS = ("channel", "source_medium_campaign", "landing_page", "device", "browser", "os")
METRICS = ("visitors", "visits", "pageviews", "contacts", "conversions")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- what is timed ---------------------------------------------------------------------------


@dataclass
class Probe:
    """One line of the table: requests sent in turn (`repeat` rounds after a warm-up)."""

    label: str
    requests: list[tuple[str, dict[str, Any]]]
    goal_ms: float | None
    #: Replies must be the same on both databases (reports, searches: not timelines,
    #: whose contacts are picked per run).
    compare: bool = True
    times: dict[str, list[float]] = field(default_factory=dict)
    replies: dict[str, list[Any]] = field(default_factory=dict)
    #: Run (untimed) before the warm-up and before each timed round.
    before: Callable[[TestClient, Tenancy], None] | None = None


def month_of(shape: Shape) -> tuple[date, date]:
    """The last whole calendar month of the year."""
    last = shape.last_day.replace(day=1) - timedelta(days=1)
    if last < shape.first_day:
        return shape.first_day, shape.last_day
    return last.replace(day=1), last


def report_probes(shape: Shape) -> list[Probe]:
    month = month_of(shape)
    ranges = [
        ("year", {"from": shape.first_day.isoformat(), "to": shape.last_day.isoformat()}),
        ("month", {"from": month[0].isoformat(), "to": month[1].isoformat()}),
    ]
    probes = []
    for name, window in ranges:
        asked = [("overview", "overview", {})]
        asked += [(f"breakdown by {d}", "breakdown", {"by": d}) for d in DIMENSIONS]
        asked += [(f"timeseries {m}", "timeseries", {"metric": m}) for m in METRICS]
        asked += [("top pages", "top-pages", {}), ("events by type", "events", {})]
        asked.append(("completeness", "completeness", {}))
        probes += [
            Probe(
                f"{label} ({name})",
                [(f"/api/v1/reports/{path}", {**params, **window})],
                REPORT_GOAL_MS,
            )
            for label, path, params in asked
        ]
    return probes


#: Browsers and hits sent through POST /api/collect before each round of the "after new hits"
#: probe: what the report's refresh of the rollups then has to catch up with.
NEW_BROWSERS = 50
HITS_PER_BROWSER = 4
CHROME = (
    "Mozilla/5.0 (Linux; Android 14; SM-A155F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)


def send_new_hits(client: TestClient, tenancy: Tenancy) -> None:
    """New browsers browsing now (today: outside the ranges reported, so the replies of
    both databases stay comparable), through the real collector."""
    now_ms = int(time.time() * 1000)
    for _ in range(NEW_BROWSERS):
        session = f"{random.getrandbits(108) % 10**32:032d}{now_ms:013d}"
        pages = ["/", "/cursos", "/cursos/direito", "/vestibular/inscricao"]
        hits = [
            {
                "q": n + 1,
                "u": f"https://{tenancy.site}{path}",
                "ts": now_ms - (HITS_PER_BROWSER - n) * 60_000,
                "r": "https://www.google.com/" if n == 0 else f"https://{tenancy.site}/",
                "t": path,
            }
            for n, path in enumerate(pages[:HITS_PER_BROWSER])
        ]
        reply = client.post(
            "/api/collect",
            content=json.dumps({"h": tenancy.host_client, "s": session, "hits": hits}),
            headers={
                "content-type": "text/plain;charset=UTF-8",
                "user-agent": CHROME,
                "origin": f"https://{tenancy.site}",
            },
        )
        if reply.status_code != 204:
            raise RuntimeError(f"/api/collect: {reply.status_code} {reply.text[:300]}")


def catch_up_probe(shape: Shape) -> Probe:
    window = {"from": shape.first_day.isoformat(), "to": shape.last_day.isoformat()}
    return Probe(
        f"overview (year) just after {NEW_BROWSERS * HITS_PER_BROWSER} new hits "
        f"of {NEW_BROWSERS} browsers",
        [("/api/v1/reports/overview", window)],
        REPORT_GOAL_MS,
        before=send_new_hits,
    )


def people_probes(shape: Shape, truth: Truth) -> list[Probe]:
    timeline = "/api/v1/contacts/{}/timeline"
    busiest = truth.busy_contacts[0]
    probes = [
        Probe(
            "timeline, busiest contact",
            [(timeline.format(busiest), {})],
            TIMELINE_GOAL_MS,
            compare=False,
        ),
        Probe(
            "timeline, busiest contact, oldest first",
            [(timeline.format(busiest), {"order": "asc"})],
            TIMELINE_GOAL_MS,
            compare=False,
        ),
        Probe(
            f"timeline, {len(truth.typical_contacts)} typical contacts",
            [(timeline.format(c), {}) for c in truth.typical_contacts],
            TIMELINE_GOAL_MS,
            compare=False,
        ),
    ]
    nome, email, cpf, phone = truth.people[0]
    first, *_, last = nome.split()
    month = month_of(shape)
    searches = [
        ("search: a common first name, no accent", {"q": "joao"}),
        ("search: accented surname typed plain", {"q": "conceicao"}),
        ("search: first and last name, upper case", {"q": f"{first.upper()} {last.upper()}"}),
        ("search: e-mail", {"q": email}),
        ("search: CPF with punctuation", {"q": cpf}),
        ("search: phone as typed", {"q": phone}),
        ("search: no match (every contact read)", {"q": "xyzzyqwv"}),
        ("list: newest contacts", {}),
        ("list: channel Mídia paga", {"channel": "Mídia paga"}),
        ("list: campaign", {"campaign": truth.campaigns[0]}),
        (
            "list: created in a month",
            {"created_from": month[0].isoformat(), "created_to": month[1].isoformat()},
        ),
        ("list: has a Matrícula event", {"event_type": 30}),
        (
            "list: Busca orgânica + month + search",
            {
                "channel": "Busca orgânica",
                "created_from": month[0].isoformat(),
                "created_to": month[1].isoformat(),
                "q": "silva",
            },
        ),
    ]
    probes += [
        Probe(label, [("/api/v1/contacts", params)], REPORT_GOAL_MS) for label, params in searches
    ]
    return probes


# --- running ---------------------------------------------------------------------------------


def timed(client: TestClient, token: str, path: str, params: dict[str, Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    reply = client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
    elapsed = (time.perf_counter() - started) * 1000
    if reply.status_code != 200:
        raise RuntimeError(f"{path} {params}: {reply.status_code} {reply.text[:300]}")
    return elapsed, reply.json()["dados"]


def run_probes(target: str, url: str, main: Tenancy, probes: list[Probe], repeat: int) -> None:
    settings = Settings(database_url=url)
    with TestClient(create_app(settings)) as client:
        for probe in probes:
            replies = []
            if probe.before:
                probe.before(client, main)
            for path, params in probe.requests:
                _, reply = timed(client, main.token, path, params)  # warm-up
                replies.append(reply)
            times = []
            for _ in range(repeat):
                if probe.before:
                    probe.before(client, main)
                for path, params in probe.requests:
                    elapsed, _ = timed(client, main.token, path, params)
                    times.append(elapsed)
            probe.times[target] = times
            probe.replies[target] = replies
            log(
                f"  {probe.label}: median {statistics.median(times):.1f} ms, "
                f"max {max(times):.1f} ms"
            )


def build_rollups(url: str, tenancies: list[Tenancy]) -> float:
    """Build the report rollups of the freshly loaded tenants; seconds taken."""
    engine = build_engine(Settings(database_url=url))
    try:
        started = time.perf_counter()
        for tenancy in tenancies:
            rollups.refresh(engine, tenancy.tenant_id)
        elapsed = time.perf_counter() - started
        log(f"  report rollups built in {elapsed:.1f} s")
        return elapsed
    finally:
        engine.dispose()


def check_truth(
    target: str, url: str, shape: Shape, tenancies: list[Tenancy], rows: Rows
) -> list[str]:
    """The year's overview and completeness of each tenant against what was generated."""
    failures = []
    window = {"from": shape.first_day.isoformat(), "to": shape.last_day.isoformat()}
    with TestClient(create_app(Settings(database_url=url))) as client:
        for tenancy in tenancies:
            truth = rows.truth[tenancy.tenant_id]
            _, overview = timed(client, tenancy.token, "/api/v1/reports/overview", window)
            expected = {
                "visitors": truth.sessions,
                "visits": truth.visits,
                "pageviews": truth.pageviews,
                "contacts": truth.contacts,
                "conversions": truth.conversions,
            }
            got = {name: overview[name] for name in expected}
            if got != expected:
                failures.append(
                    f"{target} tenant {tenancy.tenant_id}: overview {got} != {expected}"
                )
            _, complete = timed(client, tenancy.token, "/api/v1/reports/completeness", window)
            if complete["totals"]["missing"] != truth.missing:
                failures.append(
                    f"{target} tenant {tenancy.tenant_id}: missing hits "
                    f"{complete['totals']['missing']} != {truth.missing}"
                )
            if complete["totals"]["stored"] != truth.pageviews:
                failures.append(
                    f"{target} tenant {tenancy.tenant_id}: stored hits "
                    f"{complete['totals']['stored']} != {truth.pageviews}"
                )
    return failures


# --- the table -------------------------------------------------------------------------------


def cell(times: list[float] | None) -> str:
    if not times:
        return "—"
    return f"{statistics.median(times):.0f} / {max(times):.0f}"


def verdict(probe: Probe) -> str:
    """The goal, and on PostgreSQL whether the median and the slowest time meet it."""
    if probe.goal_ms is None:
        return ""
    goal = f"< {probe.goal_ms / 1000:g} s" if probe.goal_ms >= 1000 else f"< {probe.goal_ms:g} ms"
    pg = probe.times.get("postgresql")
    if not pg:
        return goal
    if statistics.median(pg) >= probe.goal_ms:
        return f"{goal}: OVER"
    if max(pg) >= probe.goal_ms:
        return f"{goal}: median ok, max over"
    return f"{goal}: ok"


def table(probes: list[Probe]) -> str:
    lines = [
        "| request | PostgreSQL ms (median / max) | SQLite ms (median / max) | goal (PostgreSQL) |",
        "| --- | ---: | ---: | --- |",
    ]
    for probe in probes:
        lines.append(
            f"| {probe.label} | {cell(probe.times.get('postgresql'))} | "
            f"{cell(probe.times.get('sqlite'))} | {verdict(probe)} |"
        )
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=1_000_000, help="page hits of the main tenant")
    parser.add_argument("--contacts", type=int, default=50_000, help="its contacts")
    parser.add_argument("--only", choices=TARGETS, help="one database only")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds after the warm-up")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument(
        "--pg-admin-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="where the throw-away database is created (and dropped)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the databases (their URLs are printed)"
    )
    args = parser.parse_args()

    today = datetime.now(ZoneInfo(ZONE)).date()
    shape = Shape(
        args.hits, args.contacts, today - timedelta(days=365), today - timedelta(days=1), args.seed
    )
    targets = [args.only] if args.only else list(TARGETS)
    workdir = Path(tempfile.mkdtemp(prefix="pegada-journeys-"))
    cleanups: list[Callable[[], None]] = []
    urls: dict[str, str] = {}
    failures: list[str] = []
    try:
        tenancies: list[Tenancy] = []
        for target in targets:
            if target == "postgresql":
                url, drop = create_pg_database(args.pg_admin_url)
                if not args.keep:
                    cleanups.append(drop)
            else:
                url = f"sqlite:///{workdir / 'journeys.db'}"
            urls[target] = url
            made = list(prepare(url))
            if tenancies and not all(a.same_ids(b) for a, b in zip(tenancies, made, strict=True)):
                raise RuntimeError("the two databases gave the tenants different ids")
            tenancies = tenancies or made
        started = time.perf_counter()
        rows = generate(shape, tenancies[0], tenancies[1], log)
        counts = ", ".join(f"{name} {n:,}" for name, n in rows.count().items())
        log(f"generated in {time.perf_counter() - started:.1f} s: {counts}")

        probes = [*report_probes(shape), catch_up_probe(shape)]
        people = people_probes(shape, rows.truth[tenancies[0].tenant_id])
        loads: dict[str, float] = {}
        builds: dict[str, float] = {}
        for target in targets:
            log(f"{target}: loading")
            started = time.perf_counter()
            if target == "postgresql":
                load_postgresql(urls[target], rows, log)
            else:
                load_sqlite(str(workdir / "journeys.db"), rows, log)
            loads[target] = time.perf_counter() - started
            builds[target] = build_rollups(urls[target], tenancies)
            failures += check_truth(target, urls[target], shape, tenancies, rows)
            log(f"{target}: timing")
            run_probes(target, urls[target], tenancies[0], [*people, *probes], args.repeat)
        if len(targets) == 2:
            for probe in [*people, *probes]:
                if probe.compare and probe.replies["postgresql"] != probe.replies["sqlite"]:
                    failures.append(f"{probe.label}: PostgreSQL and SQLite answer differently")

        truth = rows.truth[tenancies[0].tenant_id]
        month = month_of(shape)
        print(
            f"\nData: {truth.pageviews:,} page hits in {truth.visits:,} visits of "
            f"{truth.sessions:,} sessions, {truth.contacts:,} contacts, "
            f"{len(rows.tables['events']):,} events; {shape.first_day} to {shape.last_day} "
            f"({ZONE}); month = {month[0]} to {month[1]}. Second tenant: "
            f"{rows.truth[tenancies[1].tenant_id].pageviews:,} hits."
        )
        print(
            "Load: "
            + ", ".join(f"{target} {seconds:.0f} s" for target, seconds in loads.items())
            + ". Report rollups built from nothing (what the first report after the load, "
            "or `pegada attribution recompute`, does): "
            + ", ".join(f"{target} {seconds:.1f} s" for target, seconds in builds.items())
            + f". Each request: 1 warm-up + {args.repeat} timed (timelines: per contact).\n"
        )
        print(table([*people, *probes]))
        if args.keep:
            print("\nKept: " + ", ".join(f"{t}: {u}" for t, u in urls.items()))
        for failure in failures:
            print(f"CHECK FAILED: {failure}")
        if not failures:
            print(
                "\nChecks: overview and completeness equal the generated data (both tenants)"
                + ("; PostgreSQL and SQLite answer the same." if len(targets) == 2 else ".")
            )
    finally:
        for cleanup in cleanups:
            cleanup()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
