"""A visitor lands from an ad and clicks through the site: every page access is stored,
enriched from the real Chromium user agent, in order, with the landing's campaign."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, select

from pegada.storage.tables import ingest_drops
from tests.browser.conftest import (
    LOCALE,
    SCREEN,
    BrowserUnderTest,
    Pegada,
    Sites,
    Visitor,
    all_hits,
    eventually,
    session_visits,
    wait_for_seqs,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GOOGLE = "https://www.google.com/"
PAGES = ["/index.html", "/cursos.html", "/curso.html", "/inscricao.html"]
TITLES = ["Faculdade Exemplo - Início", "Cursos", "Engenharia de Software", "Inscrição"]


def click_through(visitor: Visitor, sites: Sites, landing: str) -> str:
    """Lands on `landing` (coming from Google), then follows the "next" link three times;
    returns the session hash."""
    page = visitor.page
    page.goto(sites.a.url(landing), referer=GOOGLE)
    session_hash = visitor.hash()
    for path in PAGES[1:]:
        with page.expect_navigation():
            page.click("#next")
        assert urlsplit(page.url).path == path
        assert visitor.hash() == session_hash, "the session hash is kept across pages"
    return session_hash


@pytest.mark.parametrize(
    ("query", "channel", "utm"),
    [
        (
            "?utm_source=google&utm_medium=cpc&utm_campaign=x",
            "Mídia paga",
            {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "x"},
        ),
        ("?gclid=EAIaIQobChMI-test", "Display", {"gclid": "EAIaIQobChMI-test"}),
    ],
    ids=["utm-cpc", "gclid"],
)
def test_landing_with_campaign_then_three_pages(
    pegada: Pegada,
    sites: Sites,
    visitor: Visitor,
    engine: Engine,
    chromium: BrowserUnderTest,
    query: str,
    channel: str,
    utm: dict[str, str],
) -> None:
    session_hash = click_through(visitor, sites, PAGES[0] + query)
    hits = wait_for_seqs(engine, session_hash, len(PAGES))

    assert [h["seq"] for h in hits] == [1, 2, 3, 4]
    expected_urls = [sites.a.url(PAGES[0] + query)] + [sites.a.url(p) for p in PAGES[1:]]
    assert [h["url"] for h in hits] == expected_urls
    assert [h["title"] for h in hits] == TITLES
    # The landing's referrer is Google; each later page's is the page before it.
    assert [h["referrer"] for h in hits] == [GOOGLE, *expected_urls[:-1]]
    assert hits[0]["referrer_host"] == "www.google.com"

    # Campaign: the landing carries its parameters; the whole session has its channel type.
    assert hits[0]["utm"] == utm
    assert [h["utm"] for h in hits[1:]] == [None, None, None]
    assert [h["channel_type"] for h in hits] == [channel] * 4
    # One visit, classified by its landing.
    (visit,) = session_visits(engine, session_hash)
    assert visit["channel_type"] == channel
    assert visit["landing_url"] == expected_urls[0]
    assert visit["page_count"] == 4

    # Time on the previous page: none for the landing, then a real duration.
    assert hits[0]["time_on_previous_ms"] is None
    assert all(h["time_on_previous_ms"] is not None for h in hits[1:])
    assert all(0 <= h["time_on_previous_ms"] < 120_000 for h in hits[1:])

    # What the browser itself told: screen, language, and the device from its user agent.
    for hit in hits:
        assert hit["host"] == "127.0.0.1"
        assert hit["screen"] == f"{SCREEN['width']}x{SCREEN['height']}"
        assert hit["language"] == LOCALE
        assert hit["device_type"] == "desktop"
        assert hit["os"] == "Linux"
        assert hit["browser"] == "Chrome"
        assert hit["browser_version"] == f"{chromium.major}.0"
        assert hit["ip_prefix"] == "127.0.0.0/24", "the IP is never stored in full"

    # Delivered: nothing left in the tracker's send queue.
    eventually(lambda: _queue_empty(visitor))


def _queue_empty(visitor: Visitor) -> None:
    assert visitor.page.evaluate("localStorage.getItem('_rbt_q')") is None


def test_direct_visit_is_direct_access(
    pegada: Pegada, sites: Sites, visitor: Visitor, engine: Engine
) -> None:
    visitor.page.goto(sites.a.url("/index.html"))
    session_hash = visitor.hash()
    (hit,) = wait_for_seqs(engine, session_hash, 1)
    assert hit["referrer"] is None
    assert hit["utm"] is None
    assert hit["channel_type"] == "Acesso direto"


def test_headless_user_agent_is_dropped_as_a_bot(
    pegada: Pegada,
    sites: Sites,
    chromium: BrowserUnderTest,
    visitor_factory: Callable[..., Visitor],
    engine: Engine,
) -> None:
    """Chromium's headless UA says "HeadlessChrome": the collector drops it as a bot and
    counts the drop (which is why the other tests present the headed UA)."""
    bot = visitor_factory(user_agent=chromium.headless_user_agent)
    assert "HeadlessChrome" in bot.page.evaluate("navigator.userAgent")
    bot.page.goto(sites.a.url("/index.html"))

    def dropped() -> None:
        with engine.connect() as conn:
            rows = conn.execute(select(ingest_drops.c.reason, ingest_drops.c.count))
            counts = {row.reason: row.count for row in rows}
        assert counts.get("bot") == 1, counts

    eventually(dropped)
    assert all_hits(engine) == []


def test_the_console_guard_sees_errors(pegada: Pegada, sites: Sites, visitor: Visitor) -> None:
    """The check every test ends with is not vacuous: a console error and an uncaught
    exception on the host page are both caught (then cleared, so this test passes)."""
    page = visitor.page
    page.goto(sites.a.url("/index.html"))
    page.evaluate("console.error('site error'); setTimeout(() => { throw new Error('boom'); })")
    eventually(lambda: _assert_seen(visitor), page=page)
    assert any("site error" in line for line in visitor.console_errors)
    assert any("boom" in error for error in visitor.page_errors)
    visitor.console_errors.clear()
    visitor.page_errors.clear()


def _assert_seen(visitor: Visitor) -> None:
    assert visitor.console_errors and visitor.page_errors
