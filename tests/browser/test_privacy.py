"""Do Not Track, Global Privacy Control and opt-out are honoured in the browser; an unknown
`rbclicod` gives a script that records nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, Table, func, select

from pegada.storage.tables import page_views, sessions
from tests.browser.conftest import Pegada, Sites, Visitor, all_hits, session_hits, wait_for_seqs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Chromium sends a DNT header when asked to, but navigator.doNotTrack (what a script
#: reads) only follows the browser's own setting; so the init script sets the property.
DNT = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'});"
GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"


def count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("init_script", [DNT, GPC], ids=["do-not-track", "gpc"])
def test_privacy_signal_records_nothing(
    pegada: Pegada,
    sites: Sites,
    visitor_factory: Callable[..., Visitor],
    engine: Engine,
    init_script: str,
) -> None:
    visitor = visitor_factory(init_script)
    page = visitor.page
    page.goto(sites.a.url("/index.html?utm_source=google&utm_medium=cpc"))
    with page.expect_navigation():
        page.click("#next")
    page.evaluate("history.pushState(null, '', '/cursos.html?aba=2')")
    # navigate() calls back at once when no hit is recorded.
    assert visitor.call("RBTracking.navigate(done)") is None

    assert page.evaluate("RBTracking.getHostClient()") == pegada.tenant.host_client
    assert visitor.collect_requests(pegada, "/api/collect") == []
    assert page.evaluate("document.cookie") == "", "no identifier is stored"
    assert page.evaluate("localStorage.length") == 0
    assert all_hits(engine) == []
    assert count(engine, sessions) == 0

    # The visitor may still submit a form on purpose: that goes (the visitor chose to).
    reply = visitor.call(
        "RBTracking.sendData({nome: 'Ana', emailPrincipal: 'ana@example.com'}, done, done)"
    )
    assert reply["success"] is True, reply
    person = pegada.dados_pessoa(reply["data"]["id"])
    assert person["acessos"] == []
    assert count(engine, page_views) == 0


def test_opt_out_then_opt_in(
    pegada: Pegada, sites: Sites, visitor: Visitor, engine: Engine
) -> None:
    page = visitor.page
    page.goto(sites.a.url("/index.html"))
    session_hash = visitor.hash()
    wait_for_seqs(engine, session_hash, 1)

    page.evaluate("RBTracking.optOut()")
    with page.expect_navigation():
        page.click("#next")  # cursos.html: not recorded, on any page from now on
    page.evaluate("RBTracking.optIn()")
    with page.expect_navigation():
        page.click("#next")  # curso.html: recorded again

    hits = wait_for_seqs(engine, session_hash, 2)
    assert [h["url"] for h in hits] == [sites.a.url("/index.html"), sites.a.url("/curso.html")]
    assert [h["seq"] for h in hits] == [1, 2]


def test_unknown_host_client_records_nothing(
    pegada: Pegada, sites: Sites, visitor: Visitor, engine: Engine
) -> None:
    page = visitor.page
    page.goto(sites.a.url("/unknown.html?utm_source=google&utm_medium=cpc"))
    assert page.evaluate("typeof RBTracking") == "object"
    assert page.evaluate("RBTracking.getHostClient()") == ""
    assert page.evaluate("RBTracking.getHash()") == ""
    assert visitor.call("RBTracking.navigate(done)") is None
    page.evaluate(
        "RBTracking.start(); RBTracking.clearSession(); history.pushState(null, '', '/x')"
    )

    # Every call is a harmless no-op; the callbacks get the fail shape, nothing is sent.
    assert visitor.call(
        "RBTracking.sendData({nome: 'Ana', emailPrincipal: 'a@b.co'}, done, done)"
    ) == {
        "status": "fail",
        "error": "hostClient inválido",
    }
    assert visitor.call("RBTracking.sendEvent({tipo: 29}, done, done)") == {
        "status": "fail",
        "error": "hostClient inválido",
    }
    assert visitor.call("RBTracking.getData(done, done)") == {
        "status": "fail",
        "error": "Hash não enviado",
    }
    script = [u for u in visitor.requests if u.startswith(pegada.url)]
    assert script == [f"{pegada.url}/libs/RBTracking.min.js?rbclicod=ZZZZZZZZZZZZZZZZZZZZ"]
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("localStorage.length") == 0
    assert all_hits(engine) == []
    assert count(engine, sessions) == 0
    assert session_hits(engine, "") == []
