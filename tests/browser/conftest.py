"""Real-browser fixtures: Debian's Chromium driven by Playwright against a live `pegada serve`.

Per test: a migrated SQLite file holding the seed tenant (hostClient aSLhOBjZV5wD7YEpppb3,
channel origem 3, event type 29), a `pegada serve` process on a free port of 127.0.0.1, the
fixture site (`site/`) served on `127.0.0.1:A` and again on `localhost:B` (a second origin,
for cross-domain), and a fresh browser context (its own cookies, storage and cache).
Per module: one Chromium process (see `chromium`).

Nothing here measures time: results are awaited by polling Pegada's database or API until
a deadline (`eventually`).

The user agent: headless Chromium says "HeadlessChrome/N", which the collector rightly drops
as a bot (`test_headless_user_agent_is_dropped_as_a_bot`); every other test presents the
same browser's UA without the "Headless" mark, i.e. what a person's Chromium N sends.

Console errors: every test fails (at teardown) if a host page logged a console error or
raised an uncaught exception (`pageerror`, context event "weberror"). A script cannot
silence the browser's own network log, so two narrow, explicit exceptions exist:
- while Pegada is down on purpose, `visitor.allow_refused(pegada.url)` accepts exactly
  "Failed to load resource: net::ERR_CONNECTION_REFUSED" (or _RESET / _EMPTY_RESPONSE, for a
  request cut by the kill) whose source URL is Pegada's; the tracker itself logs nothing;
- a request a test makes fail on purpose (an event without a type, refused with a 422; a
  reply cut by a route) is accepted with `visitor.allow_console(pattern)` for that line only.
Anything else, and every uncaught exception, still fails the test
(`test_the_console_guard_sees_errors` shows the guard is not vacuous).
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from sqlalchemy import Engine, select

from pegada.storage.tables import page_views, sessions, tenants, visits
from tests.conftest import SeedTenant
from tests.servers import PEGADA, START_TIMEOUT, Server, _wait_healthy, free_port, pegada_env
from tests.spooled import project_spool_of

CHROMIUM = os.environ.get("PEGADA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SITE_DIR = Path(__file__).resolve().parent / "site"
#: The viewport's screen, as the tracker reports it (`screen.width` x `screen.height`).
SCREEN = {"width": 1366, "height": 768}
LOCALE = "pt-BR"
DEADLINE = 30.0

T = TypeVar("T")


def eventually(
    check: Callable[[], T],
    timeout: float = DEADLINE,
    interval: float = 0.1,
    page: Page | None = None,
) -> T:
    """Calls `check` until it returns without an AssertionError, then returns its value.
    After `timeout` seconds the last AssertionError is raised (a failure, not a hang).
    With `page`, waits inside Playwright (`wait_for_timeout`), so that route handlers and
    event listeners of the sync API run meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        if page is not None:
            page.wait_for_timeout(interval * 1000)
        else:
            time.sleep(interval)


# ---- the database (SQLite only: the browser path does not depend on the database kind) ----


@pytest.fixture
def db_url(sqlite_template: Path, tmp_path: Path) -> str:
    """Overrides the parent's SQLite/PostgreSQL parameter: one migrated SQLite file."""
    target = tmp_path / "pegada.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


def session_hits(engine: Engine, session_hash: str) -> list[dict[str, Any]]:
    """Every stored page access of one session hash, by host then sequence number."""
    project_spool_of(engine)
    query = (
        select(page_views, sessions.c.session_hash, sessions.c.contact_id)
        .join(sessions, sessions.c.id == page_views.c.session_id)
        .where(sessions.c.session_hash == session_hash)
        .order_by(page_views.c.occurred_at, page_views.c.seq, page_views.c.id)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def session_visits(engine: Engine, session_hash: str) -> list[dict[str, Any]]:
    """The visits (hits grouped by the server) of one session hash, oldest first."""
    project_spool_of(engine)
    query = (
        select(visits)
        .join(sessions, sessions.c.id == visits.c.session_id)
        .where(sessions.c.session_hash == session_hash)
        .order_by(visits.c.started_at, visits.c.id)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def set_allowed_origins(engine: Engine, host_client: str, origins: list[str]) -> None:
    """The tenant lists its sites (before Pegada has loaded the tenant: it caches it)."""
    with engine.begin() as conn:
        conn.execute(
            tenants.update()
            .where(tenants.c.host_client == host_client)
            .values(allowed_origins=origins)
        )


def all_hits(engine: Engine) -> list[dict[str, Any]]:
    project_spool_of(engine)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(page_views))]


# ---- the Pegada server process ----------------------------------------------------------


@dataclass
class Pegada:
    """A `pegada serve` process that a test can kill and start again on the same port."""

    database_url: str
    log_dir: Path
    tenant: SeedTenant
    server: Server | None = None
    port: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, same_port: bool = False) -> None:
        """Starts the server (again on the same port when `same_port`), ready when /healthz
        answers."""
        for _attempt in range(4):
            if not same_port:
                self.port = free_port()
            log_path = self.log_dir / f"pegada-{len(self.logs)}-{self.port}.log"
            self.logs.append(log_path)
            log = log_path.open("wb")
            process = subprocess.Popen(
                [PEGADA, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=pegada_env(self.database_url, PEGADA_AUTO_MIGRATE="0"),  # migrated copy
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.server = Server(self.port, process, log, log_path)
            if _wait_healthy(self.server, time.monotonic() + START_TIMEOUT):
                return
            output = self.server.output()
            self.server.stop()
            if same_port or "address already in use" not in output.lower():
                raise RuntimeError(f"pegada serve exited early:\n{output}")
        raise RuntimeError("no free port for pegada serve")

    def kill(self) -> None:
        """SIGKILL: the server vanishes as in a crash (no graceful shutdown)."""
        assert self.server is not None
        self.server.kill_hard()
        self.server.stop()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def output(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def dados_pessoa(self, contact_id: str | int) -> dict[str, Any]:
        """`POST /api/Contato/dadosPessoa` with the channel's credentials."""
        reply = httpx.post(
            f"{self.url}/api/Contato/dadosPessoa",
            json={"hostClient": self.tenant.host_client, **self.tenant.creds(), "id": contact_id},
            timeout=10.0,
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["success"] is True, body
        return dict(body["dados"])


@pytest.fixture
def pegada(db_url: str, seed_tenant: SeedTenant, tmp_path: Path) -> Iterator[Pegada]:
    service = Pegada(db_url, tmp_path / "logs", seed_tenant)
    service.log_dir.mkdir(parents=True, exist_ok=True)
    service.start()
    try:
        yield service
    finally:
        service.stop()
    output = service.output()
    if len(output.splitlines()) > len(service.logs):  # more than the start-up banners
        print(f"pegada serve output:\n{output}")  # shown with the report of a failing test
    assert "Traceback" not in output, output


# ---- the fixture sites --------------------------------------------------------------------


class _SiteHandler(http.server.BaseHTTPRequestHandler):
    """Serves `site/*.html` with `{{PEGADA}}` (Pegada's base URL) and `{{OTHER}}` (the other
    site's origin) filled in; `/app/...` is the SPA's fallback to `spa.html`."""

    values: dict[str, str] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path == "/":
            path = "/index.html"
        if path.startswith("/app/"):
            path = "/spa.html"
        name = path.lstrip("/")
        file = SITE_DIR / name
        if "/" in name or not re.fullmatch(r"[a-z0-9_-]+\.html", name) or not file.is_file():
            self.send_error(404)
            return
        text = file.read_text(encoding="utf-8")
        for key, value in self.values.items():
            text = text.replace("{{" + key + "}}", value)
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@dataclass
class Site:
    origin: str
    httpd: http.server.ThreadingHTTPServer

    def url(self, path: str) -> str:
        return self.origin + path


@dataclass
class Sites:
    a: Site  # http://127.0.0.1:A
    b: Site  # http://localhost:B (another origin)


def _serve(values: dict[str, str]) -> http.server.ThreadingHTTPServer:
    handler = type("Handler", (_SiteHandler,), {"values": values})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture
def sites(pegada: Pegada) -> Iterator[Sites]:
    values_a: dict[str, str] = {"PEGADA": pegada.url}
    values_b: dict[str, str] = {"PEGADA": pegada.url}
    httpd_a, httpd_b = _serve(values_a), _serve(values_b)
    a = Site(f"http://127.0.0.1:{httpd_a.server_address[1]}", httpd_a)
    b = Site(f"http://localhost:{httpd_b.server_address[1]}", httpd_b)
    values_a["OTHER"], values_b["OTHER"] = b.origin, a.origin
    try:
        yield Sites(a, b)
    finally:
        for httpd in (httpd_a, httpd_b):
            httpd.shutdown()
            httpd.server_close()


# ---- the browser --------------------------------------------------------------------------


@dataclass
class BrowserUnderTest:
    browser: Browser
    headless_user_agent: str

    @property
    def user_agent(self) -> str:
        """The UA a person's Chromium of this version sends: the headless one without the
        "Headless" mark (which bot detection rightly drops)."""
        return self.headless_user_agent.replace("HeadlessChrome/", "Chrome/")

    @property
    def major(self) -> str:
        return self.browser.version.split(".", 1)[0]


@pytest.fixture(scope="module")
def chromium() -> Iterator[BrowserUnderTest]:
    """One Chromium per test module. Not per session: Playwright's sync API leaves its event
    loop marked as running between calls, which would break `asyncio.run()` in other test
    modules that share this xdist worker; a module fixture is torn down before the worker
    moves on to another module."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            user_agent = str(page.evaluate("navigator.userAgent"))
            page.close()
            yield BrowserUnderTest(browser, user_agent)
        finally:
            browser.close()


#: Chromium's own log line for a request to a closed port (or one cut by the kill).
_REFUSED = re.compile(
    r"^Failed to load resource: net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE)$"
)


@dataclass
class Visitor:
    """One person's browser: a fresh context (cookies, storage, cache) and its first tab,
    with every console error and uncaught exception of every page collected."""

    context: BrowserContext
    page: Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    refused_ok_for: str | None = None
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow_console(self, pattern: str) -> None:
        """Accept console errors matching `pattern` (checked against "text (at url)"): for
        Chromium's own log line about a request a test made fail on purpose."""
        self.allowed.append(re.compile(pattern))

    def allow_refused(self, pegada_url: str) -> None:
        """From now on, accept Chromium's own connection-refused console error for requests to
        `pegada_url` (the server is down on purpose)."""
        self.refused_ok_for = pegada_url

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = str(message.location.get("url", ""))
        text = message.text
        if (
            self.refused_ok_for is not None
            and _REFUSED.search(text)
            and url.startswith(self.refused_ok_for + "/")
        ):
            return
        line = f"{text} (at {url})"
        if not any(p.search(line) for p in self.allowed):
            self.console_errors.append(line)

    def attach(self) -> None:
        self.context.on("console", self._on_console)
        self.context.on("weberror", lambda error: self.page_errors.append(str(error.error)))
        self.context.on("request", lambda request: self.requests.append(request.url))

    def collect_requests(self, pegada: Pegada, path: str) -> list[str]:
        """Requests this browser made to a Pegada endpoint."""
        return [u for u in self.requests if u.startswith(pegada.url + path)]

    def hash(self, page: Page | None = None) -> str:
        value = str((page or self.page).evaluate("RBTracking.getHash()"))
        assert re.fullmatch(r"\d{45}", value), value
        return value

    def call(self, script: str, page: Page | None = None) -> Any:
        """Runs `script` (a JS expression using `done`, a callback) and returns what `done`
        was called with. E.g. `RBTracking.sendData({...}, done, done)`."""
        result = (page or self.page).evaluate(
            "() => new Promise((done) => { setTimeout(() => done('no callback'), "
            + str(int(DEADLINE * 1000))
            + "); "
            + script
            + "; })",
        )
        assert result != "no callback", f"no callback within {DEADLINE} s: {script}"
        return result

    def assert_clean(self) -> None:
        assert self.page_errors == [], f"uncaught exceptions on the page: {self.page_errors}"
        assert self.console_errors == [], f"console errors on the page: {self.console_errors}"


def new_visitor(
    chromium: BrowserUnderTest, init_script: str | None = None, **options: Any
) -> Visitor:
    settings: dict[str, Any] = {
        "user_agent": chromium.user_agent,
        "locale": LOCALE,
        "viewport": {"width": 1280, "height": 700},
        "screen": SCREEN,
    }
    context = chromium.browser.new_context(**{**settings, **options})
    context.set_default_timeout(15_000)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    visitor = Visitor(context, page)
    visitor.attach()
    return visitor


@pytest.fixture
def visitor_factory(chromium: BrowserUnderTest) -> Iterator[Callable[..., Visitor]]:
    """Makes visitors; at the end of the test each must have seen no console error and no
    uncaught exception."""
    made: list[Visitor] = []

    def make(init_script: str | None = None, **options: Any) -> Visitor:
        made.append(new_visitor(chromium, init_script, **options))
        return made[-1]

    yield make
    for visitor in made:
        visitor.context.close()
    for visitor in made:
        visitor.assert_clean()


@pytest.fixture
def visitor(visitor_factory: Callable[..., Visitor]) -> Visitor:
    return visitor_factory()


def wait_for_seqs(engine: Engine, session_hash: str, count: int) -> list[dict[str, Any]]:
    """The session's hits once exactly `count` distinct ones are stored."""

    def check() -> list[dict[str, Any]]:
        hits = session_hits(engine, session_hash)
        assert len(hits) >= count, hits
        return hits

    hits = eventually(check)
    assert len(hits) == count, [(h["seq"], h["url"]) for h in hits]
    return hits
