"""Where a hit's time goes: the collector's steps measured one by one, then under load.

    .venv/bin/python bench/profile_hitpath.py [--duration 10] [--only sqlite|postgresql]
                                              [--no-spy]

1. Captures the requests bench/wrk/collect.lua sends (against the bare app), so every
   measurement below uses the benchmark's own bodies and user-agent mix.
2. In-process CPU cost of each step of `POST /api/collect` (thread CPU time, best of 3):
   body decode, user-agent enrichment cold and cached, URL/UTM/referrer work, channel
   classification, the whole `process()`.
3. The database write of one group-commit batch, by batch size, on SQLite and PostgreSQL.
4. A real server under wrk (bench/instrumented_serve.py: the handler and the writer wrapped
   with timers), with py-spy sampling it: batch sizes, commit times, CPU per request, and
   the share of the server's CPU per component.

Diagnostics for the lead; bench/collector.py is the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from collector import (
    BENCH,
    PEGADA,
    CpuMeter,
    Processes,
    exit_on_signal,
    free_port,
    http,
    log,
    pegada_env,
    run_wrk,
    tail,
    throwaway_postgres,
    wait_ready,
)
from useragents import build_mix

SPY = Path(sys.executable).with_name("py-spy")

# ------------------------------------------------------------------------------- capture


def capture(workdir: Path, procs: Processes, seconds: float = 2.0) -> list[tuple[str, bytes]]:
    """(user agent, body) of every request collect.lua sends in `seconds` (bare app)."""
    agents = workdir / "agents.tsv"
    build_mix().write_lua_data(agents)
    port = free_port()
    log_path = workdir / "capture-bare.log"
    server = procs.start(
        [sys.executable, str(BENCH / "bare_app.py"), "--port", str(port)],
        log_path=log_path,
        cwd=workdir,
    )
    url = f"http://127.0.0.1:{port}/api/collect"
    try:
        wait_ready(server, lambda: http("POST", url, b"{}")[0] == 204, log_path, "bare app")
        run_wrk(
            url,
            seconds=seconds,
            connections=8,
            threads=1,
            agents=agents,
            host_client="aSLhOBjZV5wD7YEpppb3",
            log_path=workdir / "capture-wrk.txt",
            procs=procs,
            cwd=workdir,
            dump=workdir / "requests",
        )
    finally:
        procs.stop(server)
    pairs = []
    for path in sorted(workdir.glob("requests.*")):
        for line in path.read_bytes().splitlines():
            ua, _, body = line.partition(b"\t")
            pairs.append((ua.decode(), body))
    return pairs


# ------------------------------------------------------------------------------- timing


def cpu_per_call(fn: Callable[[Any], Any], items: list[Any], repeat: int = 3) -> float:
    """Microseconds of this thread's CPU per call, best of `repeat` passes over `items`."""
    best = float("inf")
    for _ in range(repeat):
        start = time.thread_time()
        for item in items:
            fn(item)
        best = min(best, time.thread_time() - start)
    return 1e6 * best / max(len(items), 1)


def pct(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def micro(pairs: list[tuple[str, bytes]]) -> list[str]:
    from starlette.requests import Request

    from pegada.api.collector import decode as _decode
    from pegada.attribution.rules import Touch, default_rules
    from pegada.clock import utcnow
    from pegada.ingest import useragent
    from pegada.ingest.payload import CollectBody
    from pegada.ingest.pipeline import RequestContext, occurred_at
    from pegada.ingest.urls import campaign_params, ip_prefix, referrer_host, split_url

    rules = default_rules()
    names = param_names(rules)
    process = run_process(rules)
    raws = [body for _, body in pairs]
    bodies = [_decode(raw, CollectBody) for raw in raws]
    hits = [b.hits[0] for b in bodies]
    agents = [ua for ua, _ in pairs]
    distinct = list(dict.fromkeys(agents))
    now = utcnow()
    lines = [
        f"{len(pairs):,} captured requests, {len(distinct)} distinct user agents "
        f"({100 * len(distinct) / len(pairs):.1f} % of requests see a UA for the first time "
        "in a run this long)",
        "",
        f"{'step (in-process, CPU time per call)':52} {'µs':>9}",
    ]

    def row(label: str, micros: float) -> None:
        lines.append(f"{label:52} {micros:9.2f}")

    row("body: NUL check + msgspec decode to CollectBody", cpu_per_call(_decode_of(_decode), raws))

    from crawlerdetect import CrawlerDetect

    from pegada.ingest.bots import looks_like_a_bot

    detector = CrawlerDetect()  # the library itself, for comparison with ingest/bots.py

    def cold(fn: Callable[[str], Any]) -> float:
        """First sight of each distinct UA: every cache emptied (ours, crawlerdetect's own
        1,024-entry one; ua-parser's is defeated by a suffix that changes per pass)."""
        best = float("inf")
        for attempt in range(3):
            useragent.describe.cache_clear()
            useragent.is_bot.cache_clear()
            detector._cached_check.cache_clear()
            fresh = [f"{ua} bench/{attempt}" for ua in distinct]
            best = min(best, cpu_per_call(fn, fresh, repeat=1))
        return best

    useragent.describe("warm up the regex compilation")
    row("UA: describe() cold (bot patterns via RE2 + ua-parser)", cold(useragent.describe))
    row("UA:   looks_like_a_bot() alone (ingest/bots.py, RE2)", cold(looks_like_a_bot))
    row("UA:   crawlerdetect isCrawler() alone (for comparison)", cold(detector.isCrawler))
    row("UA:   ua_parser.parse() alone", cold(useragent.parse))
    for ua in distinct:
        useragent.describe(ua)
    row("UA: describe() cached (lru_cache hit)", cpu_per_call(useragent.describe, agents))
    row("URL: split_url(page) (urlsplit + parse_qsl)", cpu_per_call(lambda h: split_url(h.u), hits))
    row("URL: referrer_host(referrer)", cpu_per_call(lambda h: referrer_host(h.r), hits))
    splits = [split_url(h.u) for h in hits]
    row(
        "URL: campaign_params(lp, query)",
        cpu_per_call(lambda i: campaign_params(hits[i].lp, splits[i][2], names), range(len(hits))),
    )
    touches = [
        Touch(campaign_params(h.lp, s[2], names), referrer_host(h.r), s[0])
        for h, s in zip(hits, splits, strict=True)
    ]
    row("channel: rules.classify(touch)", cpu_per_call(rules.classify, touches))
    row("IP: ip_prefix('127.0.0.1') (ipaddress)", cpu_per_call(ip_prefix, ["127.0.0.1"] * 2000))
    row("time: occurred_at(hit) + utcnow()", cpu_per_call(lambda h: occurred_at(h, utcnow()), hits))
    contexts = [RequestContext(1, ua, "127.0.0.1", now) for ua in agents]
    row(
        "process(): the whole pipeline, UA cached",
        cpu_per_call(lambda i: process(bodies[i], contexts[i]), range(len(bodies))),
    )
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/collect",
        "headers": [
            (k.encode(), v.encode())
            for k, v in {
                "host": "127.0.0.1:8000",
                "content-type": "text/plain;charset=UTF-8",
                "user-agent": agents[0],
                "origin": "https://www.colegioexemplo.com.br",
                "referer": "https://www.colegioexemplo.com.br/",
                "accept": "*/*",
                "accept-language": "pt-BR,pt;q=0.9",
                "accept-encoding": "gzip, deflate, br",
                "sec-fetch-mode": "cors",
                "sec-fetch-site": "cross-site",
                "sec-fetch-dest": "empty",
                "content-length": "400",
            }.items()
        ],
    }

    def headers(_: Any) -> None:
        request = Request(scope)
        h = request.headers
        h.get("origin"), h.get("origin"), h.get("dnt"), h.get("sec-gpc"), h.get("user-agent")

    row("headers: Request(scope) + 5 header lookups", cpu_per_call(headers, range(5000)))
    cold_share = len(distinct) / len(pairs)
    lines.append(
        f"UA cold cost amortised over this run: {cold_share:.3f} × cold describe() per request"
    )
    return lines


def run_process(rules: Any) -> Callable[[Any, Any], Any]:
    """`process(body, context)` for this version of src (its signature has changed before)."""
    from pegada.ingest.pipeline import process

    if len(inspect.signature(process).parameters) >= 4:
        return lambda body, context: process(body, context, rules, param_names(rules))
    return lambda body, context: process(body, context, rules)


def group_commit_write() -> Callable[..., None]:
    """`write_batch(conn, views, drops, now)` as the hit writer calls it in this version."""
    from pegada.ingest import writer

    return writer.write_batch  # type: ignore[no-any-return]


def param_names(rules: Any) -> frozenset[str]:
    names = getattr(rules, "param_names", None)
    return frozenset(names) if names else frozenset(rules.utm_params + rules.click_ids)


def _decode_of(decode: Callable[[bytes, Any], Any]) -> Callable[[bytes], Any]:
    from pegada.ingest.payload import CollectBody

    return lambda raw: decode(raw, CollectBody)


# ------------------------------------------------------------------------------- DB writes


def db_writes(label: str, url: str, pairs: list[tuple[str, bytes]]) -> list[str]:
    """Wall time of one group-commit transaction by batch size (hits from the capture)."""
    from pegada.api.collector import decode as _decode
    from pegada.attribution.rules import default_rules
    from pegada.clock import utcnow
    from pegada.ingest.payload import CollectBody
    from pegada.ingest.pipeline import RequestContext
    from pegada.settings import Settings
    from pegada.storage.engine import build_engine, write_transaction
    from pegada.storage.migrate import upgrade
    from pegada.tenancy import create_tenant

    write_batch = group_commit_write()
    settings = Settings(database_url=url)
    engine = build_engine(settings)
    try:
        upgrade(engine)
        with write_transaction(engine) as conn:
            tenant_id = create_tenant(conn, "bench").id
        process = run_process(default_rules())
        views = []
        for ua, raw in pairs:
            body = _decode(raw, CollectBody)
            got, _ = process(body, RequestContext(tenant_id, ua, "127.0.0.1", utcnow()))
            views += got
        lines = [
            f"{label}: one write transaction (BEGIN … write_batch … COMMIT), wall time",
            f"  {'batch size':>10} {'batches':>8} {'ms/batch p50':>13} {'p90':>7} "
            f"{'commit p50':>11} {'µs per hit':>11}",
        ]
        offset = 0
        for size in (1, 8, 32, 128):
            count = max(5, min(40, 600 // size))
            walls, commits = [], []
            for _ in range(count):
                batch = views[offset : offset + size]
                offset += size
                if len(batch) < size:
                    break
                start = time.perf_counter()
                with write_transaction(engine) as conn:
                    write_batch(conn, batch, [], utcnow())
                    written = time.perf_counter()
                end = time.perf_counter()
                walls.append(end - start)
                commits.append(end - written)
            if walls:
                lines.append(
                    f"  {size:>10} {len(walls):>8} {1e3 * statistics.median(walls):>13.2f} "
                    f"{1e3 * pct(walls, 90):>7.2f} {1e3 * statistics.median(commits):>11.2f} "
                    f"{1e6 * statistics.median(walls) / size:>11.0f}"
                )
        return lines
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------- ASGI


def _scope(ua: str, length: int) -> dict[str, Any]:
    headers = {
        "host": "127.0.0.1:8000",
        "content-type": "text/plain;charset=UTF-8",
        "content-length": str(length),
        "user-agent": ua,
        "origin": "https://www.colegioexemplo.com.br",
        "referer": "https://www.colegioexemplo.com.br/",
        "accept": "*/*",
        "accept-language": "pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7",
        "accept-encoding": "gzip, deflate, br",
        "sec-fetch-mode": "cors",
        "sec-fetch-site": "cross-site",
        "sec-fetch-dest": "empty",
    }
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/collect",
        "raw_path": b"/api/collect",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _request(app: Any, ua: str, body: bytes) -> int:
    delivered = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(ua, len(body)), receive, send)
    return status


class _Lifespan:
    """Runs an ASGI app's lifespan (startup … shutdown) around a block."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __aenter__(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        reply = await self.outbox.get()
        assert reply["type"] == "lifespan.startup.complete", reply

    async def __aexit__(self, *_exc: object) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        await self.task


class _NoWriter:
    async def submit(self, views: list[Any], drops: list[Any]) -> None:
        return None


def asgi_costs(pairs: list[tuple[str, bytes]], workdir: Path, pg_url: str | None) -> list[str]:
    """CPU per request of the apps driven in-process through ASGI (no HTTP, no sockets):
    the bare app; Pegada with the writer replaced by a no-op; Pegada with its real group
    commit, 32 requests at a time, on SQLite (and PostgreSQL)."""
    import bare_app
    import uvloop

    from pegada.app import create_app
    from pegada.settings import Settings
    from pegada.storage.engine import build_engine, write_transaction
    from pegada.storage.migrate import upgrade
    from pegada.tenancy import create_tenant

    def prepared(url: str) -> tuple[Any, str]:
        settings = Settings(database_url=url)
        engine = build_engine(settings)
        upgrade(engine)
        with write_transaction(engine) as conn:
            code = create_tenant(conn, "bench").host_client
        engine.dispose()
        return create_app(settings), code

    def with_code(host_client: str) -> list[tuple[str, bytes]]:
        code = host_client.encode()
        return [(ua, body.replace(b"aSLhOBjZV5wD7YEpppb3", code)) for ua, body in pairs]

    lines = ["in-process ASGI (no HTTP parsing, no sockets), CPU of the whole process per request:"]

    async def sequential(app: Any, requests: list[tuple[str, bytes]]) -> float:
        for ua, body in requests[:200]:  # warm: imports, caches, tenant directory
            await _request(app, ua, body)
        start = time.process_time()
        for ua, body in requests:
            status = await _request(app, ua, body)
            assert status == 204, status
        return 1e6 * (time.process_time() - start) / len(requests)

    async def concurrent(app: Any, requests: list[tuple[str, bytes]]) -> float:
        queue = list(reversed(requests))

        async def client() -> None:
            while queue:
                ua, body = queue.pop()
                status = await _request(app, ua, body)
                assert status == 204, status

        start = time.process_time()
        await asyncio.gather(*(client() for _ in range(32)))
        return 1e6 * (time.process_time() - start) / len(requests)

    async def main() -> None:
        bare = await sequential(bare_app.app, pairs)
        lines.append(f"  bare Starlette app                                     {bare:7.0f} µs")
        app, code = prepared(f"sqlite:///{workdir / 'asgi.db'}")
        requests = with_code(code)
        async with _Lifespan(app):
            writer = app.state.hit_writer
            app.state.hit_writer = _NoWriter()
            cost = await sequential(app, requests[: len(requests) // 2])
            lines.append(f"  Pegada, writer replaced by a no-op (handler+pipeline)  {cost:7.0f} µs")
            app.state.hit_writer = writer
            cost = await concurrent(app, requests[len(requests) // 2 :])
            lines.append(f"  Pegada + group commit on SQLite, 32 concurrent         {cost:7.0f} µs")
        if pg_url:
            app, code = prepared(pg_url)
            async with _Lifespan(app):
                cost = await concurrent(app, with_code(code)[: len(pairs) // 2])
            lines.append(f"  Pegada + group commit on PostgreSQL, 32 concurrent     {cost:7.0f} µs")

    uvloop.run(main())
    return lines


# ------------------------------------------------------------------------------- under load

#: (category, pattern on a frame's file) tried from the leaf frame upwards; first match wins.
CATEGORIES: list[tuple[str, re.Pattern[str]]] = [
    ("event loop itself (uvloop, C)", re.compile(r"^asyncio/runners.py Runner.run$")),
    ("UA: crawlerdetect", re.compile(r"crawlerdetect")),
    ("UA: ua_parser", re.compile(r"ua_parser")),
    ("UA: pegada useragent.py", re.compile(r"pegada/ingest/useragent")),
    ("URL/IP parsing (urllib, ipaddress, urls.py)", re.compile(r"urllib/|ipaddress|ingest/urls")),
    ("channel classification", re.compile(r"pegada/attribution")),
    ("pipeline glue (pipeline.py)", re.compile(r"pegada/ingest/pipeline")),
    ("body decode (api/body.py, collector.decode)", re.compile(r"api/body| decode$")),
    ("DB: sqlite3/psycopg driver", re.compile(r"sqlite3|psycopg|do_execute|do_commit")),
    ("DB: SQLAlchemy (compile, execute, pool)", re.compile(r"sqlalchemy")),
    ("DB: storage/*_repo.py, engine.py", re.compile(r"_repo\.py|storage/engine|storage/dialect")),
    ("DB: driver statements (storage/hot_writes.py)", re.compile(r"storage/hot_writes")),
    ("in-order batch (ingest/in_order.py)", re.compile(r"ingest/in_order")),
    ("hits entry (api/hits.py)", re.compile(r"pegada/api/hits")),
    ("visits, touches (journeys/, ingest/commit.py)", re.compile(r"pegada/journeys|ingest/commit")),
    ("writer glue (writer.py)", re.compile(r"ingest/writer")),
    ("handler glue (collector.py, tenants, clock)", re.compile(r"pegada/")),
    ("Starlette CORS middleware", re.compile(r"starlette/middleware/cors")),
    ("Starlette (routing, request, response)", re.compile(r"starlette/")),
    ("uvicorn (HTTP protocol)", re.compile(r"uvicorn/")),
    ("anyio / asyncio / threads", re.compile(r"anyio/|asyncio/|concurrent/|threading")),
]
_FRAME_FILE = re.compile(r"\((.*?):\d+\)$")


def spy_categories(raw: Path) -> tuple[Counter[str], int, int]:
    """Samples per category, total samples, samples in the writer's worker thread. A sample
    whose leaf is the loop's own `Runner.run` is time in uvloop's C code (sockets, callbacks)."""
    counts: Counter[str] = Counter()
    total = writer = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        n = int(number)
        frames = stack.split(";")
        total += n
        if any("_write_sync" in f or "write_sync" in f for f in frames):
            writer += n
        category = "other"
        frames = [f for f in frames if f.strip()]
        for frame in reversed(frames):
            match = _FRAME_FILE.search(frame)
            name = (match.group(1) if match else frame) + " " + frame.split(" ")[0]
            found = next((c for c, pattern in CATEGORIES if pattern.search(name)), None)
            if found:
                category = found
                break
        counts[category] += n
    return counts, total, writer


def under_load(
    label: str,
    url: str,
    workdir: Path,
    procs: Processes,
    seconds: float,
    spy: bool,
    connections: int = 32,
) -> list[str]:
    env = pegada_env(url)
    stats_path = workdir / f"stats-{label}.json"
    env["BENCH_STATS"] = str(stats_path)
    port = free_port()
    log_path = workdir / f"server-{label}.log"
    server = procs.start(
        [sys.executable, str(BENCH / "instrumented_serve.py"), "--port", str(port)],
        log_path=log_path,
        env=env,
        cwd=workdir,
    )
    base = f"http://127.0.0.1:{port}"
    agents = workdir / "agents.tsv"
    spy_out = workdir / f"spy-{label}.txt"
    try:
        wait_ready(server, lambda: http("GET", f"{base}/healthz")[0] == 200, log_path, label)
        created = subprocess.run(
            [str(PEGADA), "tenant", "create", "bench", "--json"],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        host_client = json.loads(created.stdout)["hostClient"]
        common: dict[str, Any] = dict(
            connections=connections,
            threads=1,
            agents=agents,
            host_client=host_client,
            procs=procs,
            cwd=workdir,
        )
        run_wrk(f"{base}/api/collect", seconds=2, log_path=workdir / "w.txt", **common)
        spy_proc = None
        if spy and SPY.exists():
            spy_proc = procs.start(
                [
                    str(SPY),
                    "record",
                    "--pid",
                    str(server.pid),
                    "--rate",
                    "200",
                    "--duration",
                    str(int(seconds)),
                    "--format",
                    "raw",
                    "--gil",  # only the thread holding the GIL: where the Python CPU goes
                    "--nonblocking",
                    "--output",
                    str(spy_out),
                ],
                log_path=workdir / f"spy-{label}.log",
                cwd=workdir,
            )
        with CpuMeter(server.pid, "postgresql" in url) as cpu:
            result = run_wrk(
                f"{base}/api/collect",
                seconds=seconds,
                log_path=workdir / f"wrk-{label}.txt",
                **common,
            )
        if spy_proc is not None:
            try:
                spy_proc.wait(timeout=30)
            finally:
                procs.stop(spy_proc)
    finally:
        procs.stop(server, timeout=30)
    stats: dict[str, list[float]] = json.loads(stats_path.read_text())
    replies = result.raw["r2xx"]
    cpu_us = 1e6 * cpu.server * cpu.wall / max(replies, 1)
    views = stats["batch_views"]
    overhead = [w - s for w, s in zip(stats["batch_wall"], stats["sql_wall"], strict=True)]
    setup = f"wrk -c{connections}"
    lines = [
        f"{label} ({setup}): {result.rate:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 "
        f"{result.p99_ms:.1f} ms (instrumented server, whole-run stats include the warm-up); "
        f"server CPU {100 * cpu.server:.0f} % of a core = {cpu_us:.0f} µs per request; "
        f"other processes {100 * cpu.others:.0f} %; non-2xx {result.non_2xx}, socket errors "
        f"{result.socket_errors}",
        f"  batches: {len(views):,}, hits per batch mean {statistics.mean(views):.1f}, "
        f"p50 {pct(views, 50):.0f}, p90 {pct(views, 90):.0f}, max {max(views):.0f}; in order "
        f"(middle of the run): {', '.join(str(int(v)) for v in views[len(views) // 2 :][:16])}",
        f"  per batch: wall p50 {1e3 * pct(stats['batch_wall'], 50):.2f} ms, "
        f"p90 {1e3 * pct(stats['batch_wall'], 90):.2f} ms; SQL statements p50 "
        f"{1e3 * pct(stats['sql_wall'], 50):.2f} ms; BEGIN+COMMIT+connection p50 "
        f"{1e3 * pct(overhead, 50):.2f}"
        f" ms; CPU in the writer thread p50 {1e3 * pct(stats['batch_cpu'], 50):.2f} ms "
        f"= {1e6 * sum(stats['batch_cpu']) / max(sum(views), 1):.0f} µs per stored hit",
        f"  per request: handler CPU before submit p50 "
        f"{1e6 * pct(stats['handler_cpu_before_submit'], 50):.0f} µs, p99 "
        f"{1e6 * pct(stats['handler_cpu_before_submit'], 99):.0f} µs, mean "
        f"{1e6 * statistics.mean(stats['handler_cpu_before_submit']):.0f} µs; waiting for the "
        f"commit p50 {1e3 * pct(stats['submit_wait'], 50):.1f} ms, p99 "
        f"{1e3 * pct(stats['submit_wait'], 99):.1f} ms; handler wall p50 "
        f"{1e3 * pct(stats['handler_wall'], 50):.1f} ms",
    ]
    statements = sorted(
        ((k[5:], v) for k, v in stats.items() if k.startswith("stmt:")),
        key=lambda kv: -sum(kv[1]),
    )
    for kind, values in statements[:8]:
        lines.append(
            f"  statement {kind!r:32} ×{len(values):>6,}  p50 {1e3 * pct(values, 50):6.2f} ms  "
            f"total {sum(values):6.2f} s"
        )
    if spy_out.exists():
        counts, total, writer = spy_categories(spy_out)
        spied = min(seconds, int(seconds))
        per_req = 1e6 / 200 / max(result.rate * spied, 1)  # µs of GIL per sample per request
        lines.append(
            f"  py-spy --gil: {total:,} samples at 200 Hz in {spied:g} s = GIL held "
            f"{100 * total / (200 * spied):.0f} % of the time, {total * per_req:.0f} µs per "
            f"request; writer thread {100 * writer / max(total, 1):.0f} % of it. By component "
            "(leaf-most frame that matches):"
        )
        for category, n in counts.most_common():
            share = n / max(total, 1)
            lines.append(f"    {category:46} {100 * share:5.1f} %  {n * per_req:6.0f} µs/req")
    else:
        lines.append("  (no py-spy profile)")
    if "Traceback" in tail(log_path, 200):
        lines.append(f"  server log has a traceback:\n{tail(log_path, 20)}")
    return lines


# ------------------------------------------------------------------------------- main


def in_process(
    pairs: list[tuple[str, bytes]], wanted: list[str], workdir: Path, pg_admin_url: str
) -> list[str]:
    out: list[str] = []
    log("in-process step costs")
    out += micro(pairs) + [""]
    log("in-process ASGI costs")
    if "postgresql" in wanted:
        with throwaway_postgres(pg_admin_url) as url:
            out += asgi_costs(pairs[:6000], workdir, url) + [""]
    else:
        out += asgi_costs(pairs[:6000], workdir, None) + [""]
    sample = pairs[:4000]
    if "sqlite" in wanted:
        log("SQLite batch writes")
        out += db_writes("SQLite", f"sqlite:///{workdir / 'writes.db'}", sample) + [""]
    if "postgresql" in wanted:
        log("PostgreSQL batch writes")
        with throwaway_postgres(pg_admin_url) as url:
            out += db_writes("PostgreSQL", url, sample) + [""]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--no-spy", action="store_true", help="do not run py-spy")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections under load")
    parser.add_argument("--load-only", action="store_true", help="skip the in-process measurements")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, exit_on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="pegada-profile-"))
    procs = Processes()
    wanted = [args.only] if args.only else ["sqlite", "postgresql"]
    out: list[str] = []
    try:
        log("capturing the benchmark's requests")
        pairs = capture(workdir, procs)
        if not args.load_only:
            out += in_process(pairs, wanted, workdir, args.pg_admin_url)
        for label in wanted:
            log(f"{label} under load ({args.duration:g} s)")
            if label == "sqlite":
                out += under_load(
                    label,
                    f"sqlite:///{workdir / 'load.db'}",
                    workdir,
                    procs,
                    args.duration,
                    not args.no_spy,
                    args.connections,
                )
            else:
                with throwaway_postgres(args.pg_admin_url) as url:
                    try:
                        out += under_load(
                            label,
                            url,
                            workdir,
                            procs,
                            args.duration,
                            not args.no_spy,
                            args.connections,
                        )
                    finally:
                        procs.stop_all()
            out.append("")
        print("\n".join(out), flush=True)
        return 0
    finally:
        procs.stop_all()
        if args.keep:
            log(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
