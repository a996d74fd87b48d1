"""Delivery: the server dies while the visitor browses (the queued hits arrive after a
restart on the same port, every sequence number once); a reply lost on the way back makes
the tracker send again, and the server stores it once; a page left right after a send."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Route
from sqlalchemy import Engine, select

from pegada.storage.tables import events, sessions, submissions
from tests.browser.conftest import Pegada, Sites, Visitor, eventually, session_hits, wait_for_seqs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUEUED_HITS = (
    "JSON.parse(localStorage.getItem('_rbt_q') || '[]').filter(e => e.a == '/api/collect')"
)


def test_hits_queued_while_server_is_down_arrive_after_restart(
    pegada: Pegada, sites: Sites, visitor: Visitor, engine: Engine
) -> None:
    page = visitor.page
    page.goto(sites.a.url("/index.html?utm_source=google&utm_medium=cpc"))
    session_hash = visitor.hash()
    wait_for_seqs(engine, session_hash, 1)
    eventually(lambda: _drained(visitor), page=page)  # the page has seen the 204 as well
    port = pegada.port

    # Down, as in a crash. The pages still load (the script comes from the browser's cache,
    # Cache-Control max-age), keep working, and throw nothing.
    visitor.allow_refused(pegada.url)
    pegada.kill()
    for path in ("/cursos.html", "/curso.html"):
        with page.expect_navigation():
            page.click("#next")
        assert urlsplit(page.url).path == path
        assert page.evaluate("typeof RBTracking.getHash") == "function"
        assert visitor.hash() == session_hash
    # Page code that waits for a callback is not left hanging: fail({status:'fail'}) now.
    offline = visitor.call("RBTracking.sendEvent({tipo: 29, descricao: 'offline'}, done, done)")
    assert offline == {"status": "fail", "error": "offline"}
    queued = page.evaluate(QUEUED_HITS)
    assert sorted(h["q"] for e in queued for h in e["b"]["hits"]) == [2, 3]
    assert [h["seq"] for h in session_hits(engine, session_hash)] == [1]

    # Back on the same port, same database. One more page: the queue goes out with it.
    pegada.start(same_port=True)
    assert pegada.port == port
    with page.expect_navigation():
        page.click("#next")

    hits = wait_for_seqs(engine, session_hash, 4)
    assert [h["seq"] for h in hits] == [1, 2, 3, 4]
    assert [urlsplit(h["url"]).path for h in hits] == [
        "/index.html",
        "/cursos.html",
        "/curso.html",
        "/inscricao.html",
    ]
    # A queued hit keeps the time it happened and its place in the session.
    assert [h["occurred_at"] for h in hits] == sorted(h["occurred_at"] for h in hits)
    assert {h["channel_type"] for h in hits} == {"Mídia paga"}
    assert all(h["time_on_previous_ms"] is not None for h in hits[1:])

    # Nothing left queued; the event sent while offline was delivered too, exactly once.
    eventually(lambda: _drained(visitor))
    assert [h["seq"] for h in session_hits(engine, session_hash)] == [1, 2, 3, 4]
    with engine.connect() as conn:
        waiting = conn.execute(
            select(events.c.fields)
            .join(sessions, sessions.c.id == events.c.session_id)
            .where(sessions.c.session_hash == session_hash)
        ).all()
    assert [row.fields.get("descricao") for row in waiting] == ["offline"]


def _drained(visitor: Visitor) -> None:
    assert visitor.page.evaluate("localStorage.getItem('_rbt_q')") is None


def _submissions(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(submissions)).all())


def _events(engine: Engine, descricao: str) -> list[Any]:
    with engine.connect() as conn:
        rows = conn.execute(select(events)).all()
    return [row for row in rows if row.fields.get("descricao") == descricao]


def test_submit_then_leave_at_once(
    pegada: Pegada, sites: Sites, visitor: Visitor, engine: Engine
) -> None:
    """`sendData(...); location.href = ...` without waiting: what a hurried form handler
    does (checkout.html, whose own code also listens for pagehide). The unload cannot learn
    whether its keepalive fetch arrived, so the next page sends it once more
    (at-least-once; its request_id / event_id make the server store it once); the unload
    itself must not add beacon copies on top."""
    page = visitor.page
    page.goto(sites.a.url("/checkout.html"))
    session_hash = visitor.hash()
    wait_for_seqs(engine, session_hash, 1)
    with page.expect_navigation():
        page.click("button[type=submit]")
    wait_for_seqs(engine, session_hash, 2)
    eventually(lambda: _drained(visitor))

    copies = _submissions(engine)
    assert len(copies) == 1, f"the request_id makes a resent sendData one submission: {copies}"
    assert len(_events(engine, "saiu")) == 1, "the event_id makes a resent event one event"
    contact_id = copies[0].contact_id
    visits = pegada.dados_pessoa(contact_id)["acessos"]
    assert [urlsplit(a["url"]).path for a in visits] == ["/checkout.html", "/index.html"]


LEAD_WITH_EVENT = (
    "{nome: 'Ana', emailPrincipal: 'ana@example.com', evento: {tipo: 29, descricao: 'perdido'}}"
)


@pytest.mark.parametrize(
    ("path", "script"),
    [
        ("/api/collect", None),
        ("/api/sendEvent", "RBTracking.sendEvent({tipo: 29, descricao: 'perdido'}, done, done)"),
        ("/api/v2/sendData", f"RBTracking.sendData({LEAD_WITH_EVENT}, done, done)"),
    ],
    ids=["hit", "sendEvent", "sendData"],
)
def test_a_lost_reply_is_resent_and_stored_once(
    pegada: Pegada,
    sites: Sites,
    visitor: Visitor,
    engine: Engine,
    path: str,
    script: str | None,
) -> None:
    """The server stores the request but its reply never reaches the page (the connection
    drops): the tracker keeps the request and sends it again with the same ids; the server
    must store it once."""
    delivered: list[int] = []

    def lose_first_reply(route: Route) -> None:
        if delivered:
            route.continue_()
            return
        reply = route.fetch()  # the server gets it and answers...
        delivered.append(reply.status)
        route.abort("connectionreset")  # ...but the page never sees the answer

    visitor.context.route(pegada.url + path, lose_first_reply)
    # Chromium's own log line for the request the route cut; nothing else is accepted.
    visitor.allow_console(r"^Failed to load resource: net::ERR_CONNECTION_RESET \(at .*" + path)
    page = visitor.page
    page.goto(sites.a.url("/inscricao.html"))
    session_hash = visitor.hash()
    if script is not None:
        assert visitor.call(script) == {"status": "fail", "error": "offline"}
    # (Route handlers run while the test is inside a Playwright call: wait through `page`.)
    eventually(lambda: _assert(delivered and delivered[0] < 300, delivered), page=page)

    with page.expect_navigation():
        page.click("#next")  # the next page sends the queue again
    eventually(lambda: _drained(visitor))
    hits = wait_for_seqs(engine, session_hash, 2)
    assert [h["seq"] for h in hits] == [1, 2]
    if path == "/api/sendEvent":
        assert len(_events(engine, "perdido")) == 1
    if path == "/api/v2/sendData":
        assert len(_events(engine, "perdido")) == 1
        assert len(_submissions(engine)) == 1


def _assert(condition: object, detail: object) -> None:
    assert condition, detail
