"""Collector benchmark: hits/s and latency of `POST /api/collect` on SQLite and PostgreSQL,
next to a bare Starlette endpoint measured in the same run, plus the tracker's size.

    .venv/bin/python bench/collector.py [--duration 10] [--connections 32]
                                        [--only bare|sqlite|postgresql]

Every target is one uvicorn worker started like `pegada serve` starts it, loaded by wrk with
bench/wrk/collect.lua (realistic tracker requests: one hit each, sessions with increasing
`q`, UTM landings and referrers, a weighted mix of the 1,000 user agents of
/work/shared/data/user-agents.txt). The same script drives the bare app, so the ratio compares
the servers only. After each Pegada run the database is checked: every 2xx reply to a
browser's hit is a stored `page_views` row, every reply to a bot a counted drop, nothing else.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import itertools
import json
import math
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from useragents import AgentMix, build_mix

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent
PEGADA = BIN / "pegada"
LUA = BENCH / "wrk" / "collect.lua"
#: The pegada package the servers will import (PYTHONPATH can point at a snapshot of src/).
_SPEC = importlib.util.find_spec("pegada")
PACKAGE = Path(_SPEC.origin).parent if _SPEC and _SPEC.origin else ROOT / "src" / "pegada"
TRACKER = PACKAGE / "tracker" / "RBTracking.min.js"
GOAL = 0.60
#: After the active window each wrk connection stops sending and waits for its last reply.
DRAIN_SECONDS = 1.5
START_TIMEOUT = 45.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: Any 20-character code: the bare app does not read the body.
BARE_HOST_CLIENT = "aSLhOBjZV5wD7YEpppb3"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- processes


class Processes:
    """Every child runs in its own session (process group) and is ended with its group: on
    success, on error, on Ctrl-C and on SIGTERM."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def start(
        self, argv: list[str], *, log_path: Path, env: dict[str, str] | None = None, cwd: Path
    ) -> subprocess.Popen[bytes]:
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if process.poll() is None:  # not reaped yet, so its group id is still its own
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait(timeout=timeout)
        if process in self._running:
            self._running.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self._running)):
            try:
                self.stop(process)
            except Exception as exc:  # keep ending the others
                log(f"could not stop pid {process.pid}: {exc}")

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, dict(reply.headers.items()), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def wait_ready(
    process: subprocess.Popen[bytes], probe: Callable[[], bool], log_path: Path, what: str
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{tail(log_path)}")
        try:
            if probe():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {START_TIMEOUT:.0f} s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def pegada_env(database_url: str, spool: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEGADA_")}
    env.update(
        PEGADA_DATABASE_URL=database_url,
        PEGADA_SPOOL_PATH=str(spool),
        PEGADA_AUTO_MIGRATE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


# ------------------------------------------------------------------------------- CPU use


def _proc_cpu_seconds(pid: int | str) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _children_cpu_seconds(pid: int) -> float:
    """CPU of a process's children (the projector `pegada serve` starts beside itself)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                total += _proc_cpu_seconds(entry.name)
    return total


def _postgres_cpu_seconds() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += _proc_cpu_seconds(entry.name)
            except OSError:
                continue
    return total


def _machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine (all cores), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def wait_until_quiet(limit_s: float, threshold: float = 0.3) -> float:
    """Wait (up to `limit_s`) until the machine uses less than `threshold` of one core for
    a whole second; returns the last reading. For shared machines; 0 = do not wait."""
    deadline = time.monotonic() + limit_s
    while True:
        start = _machine_busy_seconds()
        time.sleep(1.0)
        busy = _machine_busy_seconds() - start
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        log(f"machine busy ({100 * busy:.0f} % of a core), waiting for a quiet moment")


@dataclass
class CpuMeter:
    """CPU used during a run, as shares of one core: the server, its projector, PostgreSQL,
    wrk, and every other process on the machine (which makes the numbers noisy when it is
    not near 0)."""

    server_pid: int
    with_postgres: bool
    _start: tuple[float, ...] = ()
    server: float = 0.0
    projector: float = 0.0
    postgres: float | None = None
    wrk: float = 0.0
    others: float = 0.0
    wall: float = 0.0

    def _sample(self) -> tuple[float, ...]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (
            time.monotonic(),
            _proc_cpu_seconds(self.server_pid),
            _children_cpu_seconds(self.server_pid),
            _postgres_cpu_seconds() if self.with_postgres else 0.0,
            children.ru_utime + children.ru_stime,  # wrk, once it has been waited for
            _machine_busy_seconds(),
        )

    def __enter__(self) -> CpuMeter:
        self._start = self._sample()
        return self

    def __exit__(self, *_exc: object) -> None:
        end = self._sample()
        wall = self.wall = max(end[0] - self._start[0], 1e-9)
        used = [(e - s) / wall for s, e in zip(self._start[1:], end[1:], strict=True)]
        self.server, self.projector, postgres, self.wrk, machine = used
        self.postgres = postgres if self.with_postgres else None
        self.others = max(0.0, machine - self.server - self.projector - postgres - self.wrk)


# ------------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    raw: dict[str, Any]

    @property
    def active_s(self) -> float:
        return self.raw["active_us"] / 1e6

    @property
    def rate(self) -> float:
        """2xx replies per second of the active window (first request to last reply)."""
        return self.raw["r2xx"] / self.active_s if self.raw["active_us"] else 0.0

    @property
    def p50_ms(self) -> float:
        return self.raw["p50_us"] / 1000

    @property
    def p99_ms(self) -> float:
        return self.raw["p99_us"] / 1000

    @property
    def non_2xx(self) -> int:
        return int(self.raw["r3xx"] + self.raw["r4xx"] + self.raw["r5xx"])

    @property
    def socket_errors(self) -> int:
        return sum(int(self.raw[k]) for k in ("connect", "read", "write", "timeout"))

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    @property
    def in_flight(self) -> int:
        """Requests sent but never answered (0 unless a reply took longer than the drain)."""
        return int(self.raw["sent"] - self.raw["replies"])


def run_wrk(
    url: str,
    *,
    seconds: float,
    connections: int,
    threads: int,
    agents: Path,
    host_client: str,
    log_path: Path,
    procs: Processes,
    cwd: Path,
    dump: Path | None = None,
) -> WrkResult:
    """One wrk run with collect.lua; `dump` also writes every request (ua TAB body) to
    `<dump>.<thread>`."""
    wrk = shutil.which("wrk") or "/usr/bin/wrk"
    nonce = secrets.randbelow(1_000_000)
    total = math.ceil(seconds + DRAIN_SECONDS)  # wrk takes whole seconds
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{total}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        url,
        "--",
        str(agents),
        host_client,
        str(nonce),
        f"{seconds:g}",
        str(dump or ""),
    ]
    process = procs.start(argv, log_path=log_path, cwd=cwd)
    try:
        process.wait(timeout=total + 30)
    finally:
        procs.stop(process)
    output = log_path.read_text(errors="replace")
    for line in output.splitlines():
        if line.startswith("BENCH "):
            return WrkResult(json.loads(line[len("BENCH ") :]))
    raise RuntimeError(f"wrk gave no result (exit {process.returncode}):\n{output[-3000:]}")


# ------------------------------------------------------------------------------- databases


@dataclass(frozen=True)
class Counts:
    page_views: int
    bot_drops: int
    other_drops: int


def db_counts(engine: Engine) -> Counts:
    with engine.connect() as conn:
        views = conn.execute(text("SELECT count(*) FROM page_views")).scalar_one()
        drops = dict(
            conn.execute(
                text("SELECT reason, coalesce(sum(count), 0) FROM ingest_drops GROUP BY reason")
            ).all()
        )
    bots = int(drops.pop("bot", 0))
    return Counts(int(views), bots, int(sum(drops.values())))


def spool_backlog(engine: Engine, spool: Path) -> int:
    """Requests in the server's spool that the projector has not written yet: the newest
    spooled id minus the mark (ids are consecutive; an O(1) look, so polling it does not
    take CPU from the projector it is waiting for)."""
    with closing(sqlite3.connect(f"file:{spool}?mode=ro", uri=True)) as db:
        spool_id = db.execute("SELECT spool_id FROM spool_identity").fetchone()[0]
        newest = db.execute("SELECT newest_id FROM spool_counter").fetchone()
    with engine.connect() as conn:
        mark = conn.execute(
            text("SELECT projected_through FROM spool_marks WHERE spool_id = :spool"),
            {"spool": spool_id},
        ).scalar()
    return max(0, (newest[0] if newest else 0) - (mark or 0))


def wait_projected(engine: Engine, spool: Path, timeout: float = 900.0) -> float:
    """Seconds until the projector has written everything spooled."""
    start = time.monotonic()
    while spool_backlog(engine, spool) > 0:
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"the projector did not catch up within {timeout:g} s")
        time.sleep(0.2)
    return time.monotonic() - start


def enrichment_summary(engine: Engine) -> str:
    """A glance at what the stored rows say (channel types, devices, sessions)."""
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM page_views")).scalar_one() or 1
        sessions = conn.execute(
            text("SELECT count(DISTINCT session_id) FROM page_views")
        ).scalar_one()
        channels = conn.execute(
            text(
                "SELECT channel_type, count(*) AS n FROM page_views GROUP BY channel_type "
                "ORDER BY n DESC"
            )
        ).all()
        devices = conn.execute(
            text(
                "SELECT device_type, count(*) AS n FROM page_views GROUP BY device_type "
                "ORDER BY n DESC"
            )
        ).all()
        browsers = conn.execute(
            text("SELECT count(DISTINCT browser || ' ' || coalesce(os, '')) FROM page_views")
        ).scalar_one()

    def shares(rows: list[Any]) -> str:
        return ", ".join(f"{name} {100 * n / total:.0f} %" for name, n in rows[:6])

    return (
        f"{total:,} rows in {sessions:,} sessions; {browsers} browser/OS pairs\n"
        f"    channels: {shares(channels)}\n"
        f"    devices:  {shares(devices)}"
    )


@contextmanager
def throwaway_postgres(admin_url: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server of `admin_url`, dropped afterwards."""
    import psycopg

    admin = make_url(admin_url).set(drivername="postgresql")
    name = f"pegada_bench_{os.getpid()}_{secrets.token_hex(3)}"
    conninfo = admin.render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        safe = admin.render_as_string(hide_password=True)
        raise RuntimeError(f"cannot create a database on {safe}: {exc}") from exc
    log(f"created throw-away database {name}")
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C must not skip this
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            log(f"dropped database {name}")
        finally:
            signal.signal(signal.SIGINT, previous)


def sqlalchemy_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# ------------------------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    wrk: WrkResult
    cpu: CpuMeter
    warmup: WrkResult | None = None
    counts: Counts | None = None  # of the measured run only
    enrichment: str = ""
    checks: list[tuple[str, bool]] = field(default_factory=list)
    served: tuple[int, int, int, str] | None = None  # raw, gzip -9, wire, Content-Encoding
    #: Spooled requests not yet projected when the load ended, and the seconds until all were.
    backlog: int | None = None
    drained_s: float | None = None
    #: The bare run measured just before this one: its ratio is taken against it, so the
    #: machine's drift (tens of percent within minutes on a shared VM) weighs little.
    reference: Target | None = None

    @property
    def ok(self) -> bool:
        return self.wrk.errors == 0 and all(passed for _, passed in self.checks)


@dataclass
class Run:
    args: argparse.Namespace
    workdir: Path
    agents: Path
    procs: Processes
    serial: Iterator[int] = field(default_factory=itertools.count)

    def warm_up(self, name: str, url: str, host_client: str) -> WrkResult | None:
        """The same load for a moment first: imports, caches, pool and file warm."""
        a = self.args
        warmup = None
        if a.wait_quiet > 0:
            wait_until_quiet(a.wait_quiet)
        if a.warmup > 0:
            log(f"{name}: warm-up {a.warmup:g} s")
            warmup = run_wrk(
                url,
                seconds=a.warmup,
                connections=a.connections,
                threads=a.threads,
                agents=self.agents,
                host_client=host_client,
                log_path=self.workdir / f"wrk-{name}-warmup.txt",
                procs=self.procs,
                cwd=self.workdir,
            )
        return warmup

    def load(self, name: str, url: str, host_client: str, server_pid: int, pg: bool) -> Target:
        a = self.args
        if a.wait_quiet > 0 and a.warmup == 0:
            wait_until_quiet(a.wait_quiet)
        log(f"{name}: wrk -t{a.threads} -c{a.connections} for {a.duration:g} s")
        with CpuMeter(server_pid, pg) as cpu:
            result = run_wrk(
                url,
                seconds=a.duration,
                connections=a.connections,
                threads=a.threads,
                agents=self.agents,
                host_client=host_client,
                log_path=self.workdir / f"wrk-{name}.txt",
                procs=self.procs,
                cwd=self.workdir,
            )
        return Target(name, result, cpu)

    def bare(self) -> Target:
        port = free_port()
        log_path = self.workdir / "server-bare.log"
        server = self.procs.start(
            [sys.executable, str(BENCH / "bare_app.py"), "--port", str(port)],
            log_path=log_path,
            cwd=self.workdir,
        )
        url = f"http://127.0.0.1:{port}/api/collect"
        wait_ready(server, lambda: http("POST", url, b"{}")[0] == 204, log_path, "bare app")
        try:
            warmup = self.warm_up("bare", url, BARE_HOST_CLIENT)
            target = self.load("bare", url, BARE_HOST_CLIENT, server.pid, False)
            target.warmup = warmup
            return target
        finally:
            self.procs.stop(server)

    def pegada(self, name: str, database_url: str, *, projection_after: bool = False) -> Target:
        """`pegada serve` on this database. With `projection_after` it runs without its
        projector (`--no-projector`): the measured load only spools, and `pegada project
        --once` writes the backlog into the database afterwards (timed) — a burst absorbed
        first and processed later, the collector's own capacity on this machine."""
        slug = f"{re.sub(r'[^a-z]+', '-', name)}-{next(self.serial)}"  # a file set per run
        spool = self.workdir / f"spool-{slug}.db"
        env = pegada_env(database_url, spool)
        port = free_port()
        log_path = self.workdir / f"server-{slug}.log"
        extra = ["--no-projector"] if projection_after else []
        server = self.procs.start(
            [str(PEGADA), "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
            log_path=log_path,
            env=env,
            cwd=self.workdir,
        )
        base = f"http://127.0.0.1:{port}"
        engine = create_engine(sqlalchemy_url(database_url), poolclass=NullPool)
        try:
            wait_ready(
                server, lambda: http("GET", f"{base}/healthz")[0] == 200, log_path, "pegada serve"
            )
            host_client = self.cli(env, "tenant", "create", "Colégio Exemplo (bench)")["hostClient"]
            self.cli(env, "channel", "create", host_client, "site")
            served = self.served_tracker(base, host_client)
            url = f"{base}/api/collect"
            status, _, reply = http(
                "POST", url, b'{"h":"' + host_client.encode() + b'","s":"1","hits":[]}'
            )
            if not 400 <= status < 500:  # smoke test: the route refuses an empty batch
                raise RuntimeError(f"/api/collect answered {status}: {reply[:200]!r}")
            warmup = self.warm_up(name, url, host_client)
            if projection_after:
                self.project_once(env)
            wait_projected(engine, spool)
            before = db_counts(engine)
            target = self.load(name, url, host_client, server.pid, "postgresql" in name)
            target.backlog = spool_backlog(engine, spool)
            started = time.monotonic()
            if projection_after:
                self.project_once(env)
            target.drained_s = wait_projected(engine, spool) + time.monotonic() - started
            log(f"{name}: {target.backlog:,} requests were waiting to be projected")
            after = db_counts(engine)
            target.warmup = warmup
            target.served = served
            target.counts = Counts(
                after.page_views - before.page_views,
                after.bot_drops - before.bot_drops,
                after.other_drops - before.other_drops,
            )
            target.checks = reconcile(target.wrk, target.counts)
            target.enrichment = enrichment_summary(engine)
            problems = [
                line
                for line in tail(log_path, 400).splitlines()
                if "Traceback" in line or "ERROR" in line or "WARNING" in line
            ]
            if problems:
                log(f"{name}: the server logged {problems[0]!r} (run with --keep to read it)")
            return target
        finally:
            engine.dispose()
            self.procs.stop(server)

    def project_once(self, env: dict[str, str]) -> None:
        self.run_pegada(env, ["project", "--once"], timeout=1800)

    def cli(self, env: dict[str, str], *args: str) -> dict[str, Any]:
        return dict(json.loads(self.run_pegada(env, [*args, "--json"], timeout=60)))

    def run_pegada(self, env: dict[str, str], args: list[str], timeout: float) -> str:
        """A `pegada` command's stdout; RuntimeError with its stderr if it fails."""
        done = subprocess.run(
            [str(PEGADA), *args],
            env=env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pegada {' '.join(args)} failed:\n{done.stderr[-2000:]}")
        return done.stdout

    def served_tracker(self, base: str, host_client: str) -> tuple[int, int, int, str]:
        status, headers, body = http(
            "GET",
            f"{base}/libs/RBTracking.min.js?rbclicod={host_client}",
            headers={"Accept-Encoding": "gzip, deflate, br"},
        )
        if status != 200:
            raise RuntimeError(f"GET /libs/RBTracking.min.js answered {status}")
        encoding = headers.get("content-encoding", headers.get("Content-Encoding", ""))
        raw = gzip.decompress(body) if encoding == "gzip" else body
        return len(raw), len(gzip.compress(raw, 9, mtime=0)), len(body), encoding or "none"


def reconcile(wrk: WrkResult, counts: Counts) -> list[tuple[str, bool]]:
    """What the database must show after the run, given what wrk sent and got back."""
    r = wrk.raw
    sent, bots = int(r["sent"]), int(r["sent_bots"])
    checks = [
        ("no non-2xx replies, no socket errors", wrk.errors == 0),
        ("no other drops (origin, DNT, bad URL)", counts.other_drops == 0),
    ]
    if wrk.in_flight == 0:
        # Every request was answered, so the 2xx replies to browsers are exactly the
        # browser hits sent, and those to bots the bot hits sent.
        checks += [
            (
                f"page_views rows = non-bot 2xx replies ({sent - bots:,})",
                counts.page_views == sent - bots,
            ),
            (f"bot drops = bot 2xx replies ({bots:,})", counts.bot_drops == bots),
        ]
    else:  # some replies never came: only bounds can be checked
        checks += [
            ("rows + bot drops >= 2xx replies", counts.page_views + counts.bot_drops >= r["r2xx"]),
            ("rows <= non-bot hits sent", counts.page_views <= sent - bots),
            ("bot drops <= bot hits sent", counts.bot_drops <= bots),
        ]
    return checks


# ------------------------------------------------------------------------------- report


def fmt_table(rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def revision() -> str:
    if PACKAGE.parent != ROOT / "src":
        return f"src from {PACKAGE.parent}"
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "revision unknown"
    return f"git {head}{' + uncommitted src changes' if dirty else ''}"


def report(args: argparse.Namespace, mix: AgentMix, targets: list[Target], heading: str) -> str:
    out: list[str] = []
    out.append(
        f"Pegada collector benchmark, {heading}  {datetime.now():%Y-%m-%d %H:%M}  {revision()}  "
        f"{os.cpu_count()} CPUs shared by server, database and wrk; load average "
        f"{os.getloadavg()[0]:.2f} at the end"
    )
    out.append(
        f"wrk -t{args.threads} -c{args.connections}, {args.duration:g} s measured after "
        f"{args.warmup:g} s warm-up; 1 uvicorn worker (options of `pegada serve`); "
        "POST /api/collect, text/plain, 1 hit per request"
    )
    out.append(
        f"user agents: {len(mix.browsers) + len(mix.bots)} from user-agents.txt; "
        f"{len(mix.browsers)} browsers weighted by kind + Zipf(s={mix.zipf_s:g}) "
        f"(top 1 = {100 * mix.top_share(1):.0f} %, top 10 = {100 * mix.top_share(10):.0f} %, "
        f"top 100 = {100 * mix.top_share(100):.0f} % of sessions); "
        f"{len(mix.bots)} bots on {100 * mix.bot_session_share:.0f} % of sessions"
    )
    out.append("")
    rows = [
        [
            "target",
            "req/s",
            "p50 ms",
            "p99 ms",
            "ratio to bare",
            "rows stored",
            "errors",
            "unprojected at end",
            "all stored after",
        ]
    ]
    for t in targets:
        share = ratio_to_bare(t)
        ratio = "-" if share is None else f"{100 * share:.1f} %"
        rows.append(
            [
                t.name,
                f"{t.wrk.rate:,.0f}",
                f"{t.wrk.p50_ms:.2f}",
                f"{t.wrk.p99_ms:.2f}",
                ratio,
                f"{t.counts.page_views:,}" if t.counts else "-",
                str(t.wrk.errors),
                f"{t.backlog:,}" if t.backlog is not None else "-",
                f"{t.drained_s:.1f} s" if t.drained_s is not None else "-",
            ]
        )
    out.append(fmt_table(rows, right={1, 2, 3, 4, 5, 6, 7, 8}))
    out.append("")
    goal = f"goal: collector ≥ {100 * GOAL:.0f} % of bare (the bare run just above it)"
    verdicts = []
    for t in targets:
        share = ratio_to_bare(t)
        if share is not None:
            met = "met" if share >= GOAL else "NOT met"
            verdicts.append(f"{t.name} {100 * share:.1f} % ({met})")
    out.append(goal + ("  →  " + ", ".join(verdicts) if verdicts else ""))
    out.append("")
    out.append("details (req/s = 2xx replies / active window; collector req/s = hits/s):")
    for t in targets:
        r = t.wrk.raw
        cpu = f"server {100 * t.cpu.server:.0f} %"
        if t.name != "bare":
            cpu += f", projector {100 * t.cpu.projector:.0f} %"
        if t.cpu.postgres is not None:
            cpu += f", postgres (all its processes) {100 * t.cpu.postgres:.0f} %"
        cpu += f", wrk {100 * t.cpu.wrk:.0f} %, other processes {100 * t.cpu.others:.0f} %"
        cpu += " of one core"
        if r["r2xx"]:
            wall = t.cpu.wall
            cpu += f"; server CPU {1e6 * t.cpu.server * wall / r['r2xx']:.0f} µs per request"
        out.append(
            f"  {t.name}: {r['r2xx']:,} 2xx in {t.wrk.active_s:.2f} s (sent {r['sent']:,}, "
            f"bots {r['sent_bots']:,}, in flight at end {t.wrk.in_flight}), "
            f"p90 {r['p90_us'] / 1000:.2f} ms, max {r['max_us'] / 1000:.1f} ms; "
            f"non-2xx {t.wrk.non_2xx}, socket errors {t.wrk.socket_errors}; cpu: {cpu}"
        )
        if t.backlog is not None and t.drained_s is not None:
            rate = f" ({t.backlog / t.drained_s:,.0f} requests/s)" if t.drained_s > 0.2 else ""
            out.append(
                f"    projection: {t.backlog:,} spooled requests not yet in the database when "
                f"the load ended, all in it {t.drained_s:.1f} s later{rate}"
            )
        if t.counts is not None:
            out.append(
                f"    database after the run: +{t.counts.page_views:,} page_views, "
                f"+{t.counts.bot_drops:,} bot drops, +{t.counts.other_drops} other drops"
            )
            for label, passed in t.checks:
                out.append(f"    [{'ok' if passed else 'FAIL'}] {label}")
            out.append(f"    stored so far (with warm-up): {t.enrichment}")
    noisy = [t.name for t in targets if t.cpu.others > 0.25]
    if noisy:
        out.append(
            f"WARNING: other processes used more than 25 % of a core during {', '.join(noisy)}:"
            " those numbers are lower than on a quiet machine."
        )
    out.append("")
    raw = TRACKER.read_bytes()
    out.append(
        f"tracker {TRACKER.relative_to(PACKAGE.parent.parent)}: {len(raw):,} bytes raw, "
        f"{len(gzip.compress(raw, 9, mtime=0)):,} bytes gzip -9"
    )
    served = next((t.served for t in targets if t.served), None)
    if served:
        out.append(
            f"as served (GET /libs/RBTracking.min.js?rbclicod=…, config substituted): "
            f"{served[0]:,} bytes raw, {served[1]:,} bytes gzip -9; on the wire "
            f"{served[2]:,} bytes (Content-Encoding: {served[3]}); budget 2,500 gzipped"
        )
    else:
        out.append("as served: not measured (no Pegada server in this run)")
    return "\n".join(out)


# ------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Pegada collector benchmark (see bench/README.md)."
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per target")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of load before measuring (0: none)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=["bare", "sqlite", "postgresql"],
        help="measure only this target (repeatable)",
    )
    parser.add_argument(
        "--projection",
        choices=["running", "after", "both"],
        default="both",
        help="Pegada with its projector running during the load, with projection only after "
        "it (the load only spools), or both",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="run every target this many times, alternating, and report the medians",
    )
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL server to create the throw-away database on",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each measured run, wait up to this long for other processes to go quiet",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, SQLite)")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 300 or not 0 <= args.warmup <= 60:
        parser.error("--duration must be in (0, 300], --warmup in [0, 60]")
    if not 1 <= args.threads <= args.connections <= 1000:
        parser.error("need 1 <= --threads <= --connections <= 1000")
    return args


def run_round(run: Run, wanted: list[str], number: int) -> list[Target]:
    """Each target once, one after the other (fresh databases each round), each Pegada
    target right after a bare run of its own, which its ratio is taken against."""
    targets: list[Target] = []

    def measure(name: str, url: str, after: bool) -> None:
        reference = run.bare() if "bare" in wanted else None
        if reference is not None:
            targets.append(reference)
        target = run.pegada(name, url, projection_after=after)
        target.reference = reference
        targets.append(target)

    modes = {"running": [False], "after": [True], "both": [False, True]}[run.args.projection]
    for after in modes if "sqlite" in wanted else []:
        name = "sqlite, projection after" if after else "sqlite"
        measure(name, f"sqlite:///{run.workdir / f'pegada-{number}-{int(after)}.db'}", after)
    for after in modes if "postgresql" in wanted else []:
        with throwaway_postgres(run.args.pg_admin_url) as url:
            try:
                name = "postgresql, projection after" if after else "postgresql"
                measure(name, url, after)
            finally:
                run.procs.stop_all()  # the server must be gone before the database is dropped
    if not targets and "bare" in wanted:
        targets.append(run.bare())
    return targets


def ratio_to_bare(target: Target) -> float | None:
    bare = target.reference
    return target.wrk.rate / bare.wrk.rate if bare is not None and bare.wrk.rate else None


def summary(rounds: list[list[Target]]) -> str:
    """Medians over the rounds; each ratio is taken against the bare run just before its
    target, so the machine's drift (large on a shared VM) mostly cancels out."""
    rows = [
        [
            "target",
            "median req/s",
            "median p50 ms",
            "median p99 ms",
            "ratio to bare (median)",
            "ratios by round",
        ]
    ]
    verdicts = []
    for name in dict.fromkeys(t.name for t in rounds[0]):
        runs = [t for targets in rounds for t in targets if t.name == name]
        ratios = [r for r in map(ratio_to_bare, runs) if r is not None]
        ratio = statistics.median(ratios) if ratios else None
        rows.append(
            [
                name,
                f"{statistics.median(t.wrk.rate for t in runs):,.0f}",
                f"{statistics.median(t.wrk.p50_ms for t in runs):.2f}",
                f"{statistics.median(t.wrk.p99_ms for t in runs):.2f}",
                f"{100 * ratio:.1f} %" if ratio is not None else "-",
                ", ".join(f"{100 * r:.0f} %" for r in ratios) or "-",
            ]
        )
        if name != "bare" and ratio is not None:
            verdict = "met" if ratio >= GOAL else "NOT met"
            verdicts.append(f"{name} {100 * ratio:.1f} % ({verdict})")
    out = [f"summary of {len(rounds)} rounds", fmt_table(rows, right={1, 2, 3, 4})]
    if verdicts:
        goal = f"goal: collector ≥ {100 * GOAL:.0f} % of bare (median of the rounds)"
        out.append(f"{goal}  →  " + ", ".join(verdicts))
    return "\n".join(out)


def exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not PEGADA.exists() or shutil.which("wrk") is None and not Path("/usr/bin/wrk").exists():
        print("needs .venv/bin/pegada and wrk", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGHUP, exit_on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="pegada-bench-"))
    procs = Processes()
    mix = build_mix()
    agents = workdir / "agents.tsv"
    mix.write_lua_data(agents)
    run = Run(args, workdir, agents, procs)
    wanted = [t for t in ("bare", "sqlite", "postgresql") if not args.only or t in args.only]
    rounds: list[list[Target]] = []
    try:
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                log(f"round {number} of {args.rounds}")
            rounds.append(run_round(run, wanted, number))
            print(report(args, mix, rounds[-1], f"round {number} of {args.rounds}"), flush=True)
            print(flush=True)
        if args.rounds > 1:
            print(summary(rounds), flush=True)
        return 0 if all(t.ok for targets in rounds for t in targets) else 1
    except RuntimeError as exc:  # a server or wrk failed: say what, after cleaning up
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop cleanup
        procs.stop_all()
        if args.keep:
            log(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
