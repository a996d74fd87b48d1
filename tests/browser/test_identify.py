"""The visitor becomes a contact: `sendData` from the page links every earlier page access
(retroactively), `sendEvent` lands on the timeline, a second domain shares the session
through `getHash(link)` and pre-fills its form with `getData`, `clearSession()` starts over."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine

from tests.browser.conftest import (
    BrowserUnderTest,
    Pegada,
    Sites,
    Visitor,
    eventually,
    session_hits,
    session_visits,
    set_allowed_origins,
    wait_for_seqs,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LEAD = {
    "nome": "Maria Souza",
    "emailPrincipal": "maria.souza@example.com",
    "telefonePrincipal": "(31) 99876-5432",
}


def browse_to_form(visitor: Visitor, sites: Sites, engine: Engine) -> str:
    """Index → cursos → curso → inscricao; returns the hash once all four are stored."""
    page = visitor.page
    page.goto(sites.a.url("/index.html?utm_source=facebook&utm_medium=social"))
    for _ in range(3):
        with page.expect_navigation():
            page.click("#next")
    session_hash = visitor.hash()
    wait_for_seqs(engine, session_hash, 4)
    return session_hash


def fill_and_submit(page: Any, lead: dict[str, str]) -> dict[str, Any]:
    page.fill("#nome", lead["nome"])
    page.fill("#email", lead["emailPrincipal"])
    page.fill("#telefone", lead["telefonePrincipal"])
    page.click("button[type=submit]")
    page.wait_for_function("window.lastReply !== undefined")
    return dict(page.evaluate("window.lastReply"))


def test_send_data_links_every_earlier_page(
    pegada: Pegada, sites: Sites, visitor: Visitor, engine: Engine, chromium: BrowserUnderTest
) -> None:
    session_hash = browse_to_form(visitor, sites, engine)
    assert all(h["contact_id"] is None for h in session_hits(engine, session_hash))

    reply = fill_and_submit(visitor.page, LEAD)
    assert reply["success"] is True, reply
    assert set(reply) == {"success", "data"}
    contact_id = reply["data"]["id"]
    assert re.fullmatch(r"[0-9]+", contact_id), reply
    assert visitor.page.text_content("#status") == f"ok:{contact_id}"

    person = pegada.dados_pessoa(contact_id)
    assert person["nome"] == LEAD["nome"]
    assert person["emailPrincipal"] == LEAD["emailPrincipal"]
    assert [s["session_id"] for s in person["sessoes"]] == [session_hash]
    visits = person["acessos"]
    assert [a["url"] for a in visits] == [
        sites.a.url("/index.html?utm_source=facebook&utm_medium=social"),
        sites.a.url("/cursos.html"),
        sites.a.url("/curso.html"),
        sites.a.url("/inscricao.html"),
    ]
    assert [a["sequencia"] for a in visits] == [1, 2, 3, 4]
    assert [a["titulo"] for a in visits][-1] == "Inscrição"
    assert {a["session_id"] for a in visits} == {session_hash}
    assert visits[0]["utm"] == {"utm_source": "facebook", "utm_medium": "social"}
    assert {a["canal"] for a in visits} == {"Social"}
    assert visits[0]["referrer"] is None
    assert visits[1]["referrer"] == visits[0]["url"]
    device = visits[0]["dispositivo"]
    assert device["tipo"] == "desktop"
    assert device["sistema"] == "Linux"
    assert device["navegador"] == "Chrome"
    assert device["navegadorVersao"] == f"{chromium.major}.0"
    assert device["idioma"] == "pt-BR"
    assert device["tela"] == "1366x768"

    # A page seen after the form joins the timeline at once.
    with visitor.page.expect_navigation():
        visitor.page.click("#next")

    def five_visits() -> list[dict[str, Any]]:
        later = pegada.dados_pessoa(contact_id)["acessos"]
        assert len(later) == 5, later
        return list(later)

    later = eventually(five_visits)
    assert later[-1]["url"] == sites.a.url("/index.html")
    assert later[-1]["sequencia"] == 5
    assert later[-1]["referrer"] == sites.a.url("/inscricao.html")


def test_send_event_lands_on_the_timeline(
    pegada: Pegada, sites: Sites, visitor: Visitor, engine: Engine
) -> None:
    page = visitor.page
    page.goto(sites.a.url("/inscricao.html"))
    session_hash = visitor.hash()

    # Before the visitor is known, the event (v1 shape) waits on the session...
    early = visitor.call(
        "RBTracking.sendEvent({eventType: '29', eventData: {codCurso: '1', codOferta: '3',"
        " codLocalOferta: '3-5', descricao: 'Simulou a mensalidade'}}, done, done)"
    )
    assert early["success"] is True, early

    reply = fill_and_submit(page, LEAD)
    contact_id = reply["data"]["id"]

    # ...and after: the flat v2 shape by type id, by type code, and an array of both shapes.
    flat = visitor.call(
        "RBTracking.sendEvent({tipo: 29, codCurso: '7', descricao: 'Inscrito no curso 7'},"
        " done, done)"
    )
    assert flat["success"] is True, flat
    by_code = visitor.call(
        "RBTracking.sendEvent({codTipo: 'inscricao', codOferta: '9', descricao: 'Por código'},"
        " done, done)"
    )
    assert by_code["success"] is True, by_code
    several = visitor.call(
        "RBTracking.sendEvent([{tipo: 29, descricao: 'Lote 1'},"
        " {eventType: 29, eventData: {descricao: 'Lote 2'}}], done, done)"
    )
    assert several["success"] is True, several

    events = pegada.dados_pessoa(contact_id)["eventos"]
    described = {e["dados"].get("descricao"): e for e in events}
    assert set(described) == {
        "Simulou a mensalidade",
        "Inscrito no curso 7",
        "Por código",
        "Lote 1",
        "Lote 2",
    }, events
    assert all(e["tipo"]["id"] == 29 for e in events)
    assert all(e["session_id"] == session_hash for e in events)
    assert described["Simulou a mensalidade"]["dados"]["codLocalOferta"] == "3-5"
    assert described["Inscrito no curso 7"]["dados"]["codCurso"] == "7"
    assert described["Por código"]["dados"]["codOferta"] == "9"

    # An event without a type is refused with the server's reason, not thrown at the page.
    # (Chromium itself logs the 422 of that request; that line is expected here.)
    visitor.allow_console(r"status of 422 .*/api/sendEvent")
    refused = visitor.call("RBTracking.sendEvent({descricao: 'sem tipo'}, done, done)")
    assert refused["success"] is False, refused
    assert refused["error"], refused
    assert len(pegada.dados_pessoa(contact_id)["eventos"]) == 5
    eventually(lambda: _queue_empty(visitor))


def _queue_empty(visitor: Visitor) -> None:
    assert visitor.page.evaluate("localStorage.getItem('_rbt_q')") is None


def test_cross_domain_shares_the_session_and_prefills(
    pegada: Pegada, sites: Sites, visitor: Visitor, engine: Engine
) -> None:
    page = visitor.page
    page.goto(sites.a.url("/inscricao.html"))
    hash_a = visitor.hash()
    reply = fill_and_submit(page, LEAD)
    assert reply["success"] is True, reply

    with page.expect_navigation():
        page.click("#partner")  # RBTracking.getHash('http://localhost:B/parceiro.html')
    page.wait_for_function("document.getElementById('prefill').textContent !== 'pending'")

    # On site B: same hash, and the carried `_rbt` parameter is gone from the address bar.
    assert urlsplit(page.url).netloc == urlsplit(sites.b.origin).netloc
    assert page.url == sites.b.url("/parceiro.html")
    assert "_rbt" not in page.evaluate("location.href")
    assert page.evaluate("RBTracking.getHash()") == hash_a
    assert page.evaluate("document.cookie").startswith("_rbt=" + hash_a)

    # getData returned what sendData sent on site A: the form is pre-filled.
    assert page.text_content("#prefill") == "done"
    assert page.input_value("#nome") == LEAD["nome"]
    assert page.input_value("#email") == LEAD["emailPrincipal"]
    data = visitor.call("RBTracking.getData(done, done)")
    assert data["success"] is True, data
    assert data["data"]["nome"] == LEAD["nome"]
    assert data["data"]["telefonePrincipal"] == LEAD["telefonePrincipal"]
    assert "token" not in data["data"] and "origem" not in data["data"]

    # Both sites' accesses are one session: A's page, then B's (without `_rbt`).
    hits = wait_for_seqs(engine, hash_a, 2)
    assert [(h["host"], h["url"]) for h in hits] == [
        ("127.0.0.1", sites.a.url("/inscricao.html")),
        ("localhost", sites.b.url("/parceiro.html")),
    ]
    assert [h["seq"] for h in hits] == [1, 2], "B continues A's sequence"
    # Cross-origin, Chromium's default referrer policy sends only A's origin.
    assert hits[1]["referrer"] == sites.a.url("/")
    assert hits[1]["time_on_previous_ms"] is None, "no time-on-page across domains"
    contact_id = reply["data"]["id"]
    visits = pegada.dados_pessoa(contact_id)["acessos"]
    assert [a["url"] for a in visits] == [h["url"] for h in hits]


def test_get_data_on_a_new_visitor_fails_cleanly(
    pegada: Pegada, sites: Sites, visitor: Visitor
) -> None:
    """A visitor who never sent anything and has no hash: no request, the fail shape."""
    visitor.page.goto(sites.a.url("/manual.html"))
    reply = visitor.call("RBTracking.getData(done, done)")
    assert reply == {"status": "fail", "error": "Hash não enviado"}
    assert visitor.collect_requests(pegada, "/api/getData") == []


def test_clear_session_starts_a_new_one(
    pegada: Pegada, sites: Sites, visitor: Visitor, engine: Engine
) -> None:
    page = visitor.page
    page.goto(sites.a.url("/index.html"))
    with page.expect_navigation():
        page.click("#next")
    old = visitor.hash()
    wait_for_seqs(engine, old, 2)

    page.evaluate("RBTracking.clearSession()")
    new = visitor.hash()
    assert new != old
    assert page.evaluate("document.cookie").startswith("_rbt=" + new)
    with page.expect_navigation():
        page.click("#next")
    assert visitor.hash() == new
    with page.expect_navigation():
        page.click("#next")

    hits = wait_for_seqs(engine, new, 2)
    assert [h["seq"] for h in hits] == [1, 2], "the sequence starts over"
    assert [h["url"] for h in hits] == [sites.a.url("/curso.html"), sites.a.url("/inscricao.html")]
    assert hits[0]["time_on_previous_ms"] is None
    assert [h["url"] for h in session_hits(engine, old)] == [
        sites.a.url("/index.html"),
        sites.a.url("/cursos.html"),
    ]


def test_cross_domain_keeps_the_landing_channel(
    pegada: Pegada, sites: Sites, visitor: Visitor, engine: Engine
) -> None:
    """A visitor from a paid ad who crosses to the institution's second site through
    getHash(link) is still on the visit from that ad, not a referral from the institution's
    own first site: the tenant lists both sites as its origins."""
    set_allowed_origins(engine, pegada.tenant.host_client, [sites.a.origin, sites.b.origin])
    page = visitor.page
    page.goto(sites.a.url("/inscricao.html?utm_source=google&utm_medium=cpc"))
    session_hash = visitor.hash()
    wait_for_seqs(engine, session_hash, 1)
    with page.expect_navigation():
        page.click("#partner")
    hits = wait_for_seqs(engine, session_hash, 2)
    assert [h["host"] for h in hits] == ["127.0.0.1", "localhost"]
    assert [h["channel_type"] for h in hits] == ["Mídia paga", "Mídia paga"]
    (visit,) = session_visits(engine, session_hash)
    assert visit["channel_type"] == "Mídia paga"
    assert visit["page_count"] == 2
    assert visit["exit_url"] == sites.b.url("/parceiro.html")
