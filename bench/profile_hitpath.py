"""Where a hit's time goes in `POST /api/collect`, measured in-process.

    .venv/bin/python bench/profile_hitpath.py [--only sqlite|postgresql] [--keep]

The collector validates a request and appends it to the spool (storage/spool.py) through
the group-commit writer (ingest/writer.py); enrichment and the database write happen later,
in the projector (ingest/projector.py). This measures:

1. `capture`: the requests bench/wrk/collect.lua sends (against the bare app), so every
   measurement below uses the benchmark's own bodies and user-agent mix (bench/projection.py
   uses it too).
2. `micro`: in-process CPU cost of each step (thread CPU time, best of 3). In the request:
   body decode, header scan, `ip_prefix`, one spool append (CPU and wall, alone and in a
   group). In the projector: user-agent enrichment cold and cached, URL/UTM/referrer work,
   channel classification, the whole `process()`.
3. `asgi_costs`: CPU per request of the apps driven through ASGI (no HTTP, no sockets): the
   bare Starlette app, Pegada with the writer replaced by a no-op, Pegada with its real spool
   writer (one request at a time, and 32 at a time so commits are shared).

Diagnostics for the lead. The write side (projection into SQLite/PostgreSQL) is measured by
bench/projection.py; HTTP under load, with the projector running beside the server, by
bench/collector.py, the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collector import (
    BENCH,
    Processes,
    exit_on_signal,
    free_port,
    http,
    log,
    run_wrk,
    throwaway_postgres,
    wait_ready,
)
from useragents import build_mix

#: The hostClient the captured bodies carry (collect.lua's, for the bare app).
CAPTURED_HOST_CLIENT = "aSLhOBjZV5wD7YEpppb3"
#: What the micro-benchmarks pass as the visitor's network (`ingest/urls.ip_prefix`).
NETWORK = "127.0.0.0/24"

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
            host_client=CAPTURED_HOST_CLIENT,
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


def spool_append_costs(
    path: Path, records: list[Any], group: int, appends: int
) -> tuple[float, float]:
    """(CPU µs, wall µs) per request of `Spool.append`, `group` records per transaction
    (a durable commit each: WAL, synchronous=FULL), best of 3 passes of `appends` commits."""
    from pegada.storage.spool import Spool

    spool = Spool(path)
    try:
        spool.append(records[:group])  # the file, its schema and WAL exist before timing
        best_cpu = best_wall = float("inf")
        for _ in range(3):
            batches = [
                [records[(i * group + j) % len(records)] for j in range(group)]
                for i in range(appends)
            ]
            cpu, wall = time.thread_time(), time.perf_counter()
            for batch in batches:
                spool.append(batch)
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
            best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
        n = group * appends
        return 1e6 * best_cpu / n, 1e6 * best_wall / n
    finally:
        spool.close()


def micro(pairs: list[tuple[str, bytes]], workdir: Path) -> list[str]:
    from pegada.api.collector import decode as _decode
    from pegada.api.hits import _Headers
    from pegada.attribution.rules import Touch, default_rules
    from pegada.clock import utcnow
    from pegada.ingest import useragent
    from pegada.ingest.payload import CollectBody
    from pegada.ingest.pipeline import RequestContext, occurred_at, process
    from pegada.ingest.urls import campaign_params, ip_prefix, referrer_host, split_url

    rules = default_rules()
    names = rules.param_names
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
        f"{'step (in-process, CPU time per call)':60} {'µs':>9}",
        "in the request (api/hits.py):",
    ]

    def row(label: str, micros: float, note: str = "") -> None:
        lines.append(f"  {label:58} {micros:9.2f}{note}")

    row("body: NUL check + msgspec decode to CollectBody", cpu_per_call(_decode_of(_decode), raws))
    raw_headers = [
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
    ]
    row(
        "headers: _Headers(scope['headers']) (one pass)",
        cpu_per_call(lambda _: _Headers(raw_headers), range(5000)),
    )
    row("IP: ip_prefix('127.0.0.1'), lru_cache hit", cpu_per_call(ip_prefix, ["127.0.0.1"] * 2000))
    row(
        "IP: ip_prefix() uncached (ipaddress)",
        cpu_per_call(ip_prefix.__wrapped__, ["127.0.0.1"] * 2000),
    )
    received_us = time.time_ns() // 1000
    records = [
        (received_us + i, CAPTURED_HOST_CLIENT, ua, NETWORK, None, 0, body)
        for i, (ua, body) in enumerate(pairs[:2000])
    ]
    for group, appends in ((1, 100), (32, 30)):
        cpu, wall = spool_append_costs(workdir / f"micro-spool-{group}.db", records, group, appends)
        row(
            f"spool: Spool.append, {group} request(s) per commit",
            cpu,
            f"  (wall {wall:,.0f} µs per request, fsync included)",
        )

    lines.append("in the projector (ingest/projector.py → pipeline.process):")
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
    row("time: occurred_at(hit, received_at)", cpu_per_call(lambda h: occurred_at(h, now), hits))
    contexts = [RequestContext(1, ua, NETWORK, now) for ua in agents]
    row(
        "process(): the whole pipeline, UA cached",
        cpu_per_call(lambda i: process(bodies[i], contexts[i], rules), range(len(bodies))),
    )
    cold_share = len(distinct) / len(pairs)
    lines.append(
        f"UA cold cost amortised over this run: {cold_share:.3f} × cold describe() per request"
    )
    return lines


def _decode_of(decode: Callable[[bytes, Any], Any]) -> Callable[[bytes], Any]:
    from pegada.ingest.payload import CollectBody

    return lambda raw: decode(raw, CollectBody)


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
    """`HitWriter` without the spool: `submit(record)` returns at once."""

    async def submit(self, record: Any) -> None:
        return None


class _CountingAppends:
    """Wraps a `Spool.append` to count commits and the requests they carried."""

    def __init__(self, append: Callable[[list[Any]], None]) -> None:
        self.append = append
        self.commits = 0
        self.requests = 0

    def __call__(self, records: list[Any]) -> None:
        self.append(records)
        self.commits += 1
        self.requests += len(records)


def asgi_costs(
    pairs: list[tuple[str, bytes]], workdir: Path, databases: list[tuple[str, str]]
) -> list[str]:
    """CPU (and wall) per request of the apps driven in-process through ASGI (no HTTP, no
    sockets): the bare app; then, per main database, Pegada with the writer replaced by a
    no-op, and Pegada with its real spool writer one request at a time and 32 at a time.
    The spool is a SQLite file whatever the main database; nothing projects it here."""
    import bare_app
    import uvloop

    from pegada.app import create_app
    from pegada.settings import Settings
    from pegada.storage.engine import build_engine, write_transaction
    from pegada.storage.migrate import upgrade
    from pegada.tenancy import create_tenant

    def prepared(label: str, url: str) -> tuple[Any, str]:
        spool = workdir / f"asgi-spool-{label}.db"
        settings = Settings(database_url=url, spool_path=str(spool))
        engine = build_engine(settings)
        upgrade(engine)
        with write_transaction(engine) as conn:
            code = create_tenant(conn, "bench").host_client
        engine.dispose()
        return create_app(settings), code

    def with_code(host_client: str) -> list[tuple[str, bytes]]:
        code = host_client.encode()
        marker = CAPTURED_HOST_CLIENT.encode()
        return [(ua, body.replace(marker, code)) for ua, body in pairs]

    lines = [
        "in-process ASGI (no HTTP parsing, no sockets), per request:",
        f"  {'':62} {'CPU µs':>8} {'wall µs':>8}",
    ]

    def row(label: str, cost: tuple[float, float], note: str = "") -> None:
        lines.append(f"  {label:62} {cost[0]:8.0f} {cost[1]:8.0f}{note}")

    async def sequential(app: Any, requests: list[tuple[str, bytes]]) -> tuple[float, float]:
        for ua, body in requests[:200]:  # warm: imports, caches, tenant directory
            await _request(app, ua, body)
        requests = requests[200:]
        cpu, wall = time.process_time(), time.perf_counter()
        for ua, body in requests:
            status = await _request(app, ua, body)
            assert status == 204, status
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return 1e6 * cpu / len(requests), 1e6 * wall / len(requests)

    async def concurrent(app: Any, requests: list[tuple[str, bytes]]) -> tuple[float, float]:
        queue = list(reversed(requests))

        async def client() -> None:
            while queue:
                ua, body = queue.pop()
                status = await _request(app, ua, body)
                assert status == 204, status

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client() for _ in range(32)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return 1e6 * cpu / len(requests), 1e6 * wall / len(requests)

    async def pegada(label: str, url: str) -> None:
        app, code = prepared(label, url)
        requests = with_code(code)
        async with _Lifespan(app):
            writer = app.state.hit_writer
            app.state.hit_writer = _NoWriter()
            row(f"Pegada ({label}), writer replaced by a no-op", await sequential(app, requests))
            app.state.hit_writer = writer
            spool = writer.spool
            before = spool.newest_id()
            counter = spool.append = _CountingAppends(spool.append)
            one_by_one = requests[:700]  # a durable commit per request: keep it short
            row(
                f"Pegada ({label}) + spool writer, one request at a time",
                await sequential(app, one_by_one),
            )
            shared = requests[700:]
            counter.commits = counter.requests = 0
            cost = await concurrent(app, shared)
            mean = counter.requests / max(counter.commits, 1)
            row(
                f"Pegada ({label}) + spool writer, 32 concurrent",
                cost,
                f"  ({mean:.1f} requests per commit)",
            )
            spooled = spool.newest_id() - before
            if spooled != len(one_by_one) + len(shared):
                lines.append(
                    f"  CHECK FAILED: {spooled:,} requests spooled, "
                    f"{len(one_by_one) + len(shared):,} answered 204"
                )

    async def main() -> None:
        row("bare Starlette app", await sequential(bare_app.app, pairs))
        for label, url in databases:
            await pegada(label, url)

    uvloop.run(main())
    return lines


# ------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=["sqlite", "postgresql"],
        help="main database of the ASGI measurements (default: both, one after the other)",
    )
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
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
        procs.stop_all()
        log("in-process step costs")
        out += micro(pairs, workdir) + [""]
        log("in-process ASGI costs")
        sample = pairs[:4000]
        sqlite = ("sqlite", f"sqlite:///{workdir / 'asgi.db'}")
        if "postgresql" in wanted:
            with throwaway_postgres(args.pg_admin_url) as url:
                databases = [sqlite] if "sqlite" in wanted else []
                out += asgi_costs(sample, workdir, [*databases, ("postgresql", url)]) + [""]
        else:
            out += asgi_costs(sample, workdir, [sqlite]) + [""]
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
