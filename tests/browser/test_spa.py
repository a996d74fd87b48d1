"""Single-page apps: automatic mode records History API navigations; manual mode (`mm=1`)
records nothing until `start()`, then one access per `navigate()`."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.browser.conftest import Pegada, Sites, Visitor, eventually, session_hits, wait_for_seqs

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_push_state_routes_are_page_accesses(
    pegada: Pegada, sites: Sites, visitor: Visitor, engine: Engine
) -> None:
    page = visitor.page
    page.goto(sites.a.url("/spa.html"))
    session_hash = visitor.hash()
    wait_for_seqs(engine, session_hash, 1)

    page.click("text=Cursos")  # pushState('/app/cursos')
    wait_for_seqs(engine, session_hash, 2)
    page.click("text=Curso 1")  # pushState('/app/curso/1')
    wait_for_seqs(engine, session_hash, 3)

    # Same path again (state and fragment only): not a new page access.
    page.evaluate("history.replaceState({again: true}, '', location.pathname)")
    page.evaluate("history.replaceState(null, '', location.pathname + '#detalhes')")
    page.evaluate("history.pushState(null, '', location.pathname + '#inscricao')")
    # A real route change afterwards is the barrier: had the calls above been recorded,
    # this access would not be number 4.
    page.go_back()  # popstate back to '/app/curso/1#detalhes': same path, not recorded
    page.go_back()  # popstate to '/app/cursos'
    hits = wait_for_seqs(engine, session_hash, 4)

    spa, cursos, curso = (sites.a.url(p) for p in ("/spa.html", "/app/cursos", "/app/curso/1"))
    assert [h["seq"] for h in hits] == [1, 2, 3, 4]
    assert [h["url"] for h in hits] == [spa, cursos, curso, cursos]
    assert [h["referrer"] for h in hits] == [None, spa, cursos, curso]
    # The title is read after the route rendered (the tracker waits for it).
    assert [h["title"] for h in hits] == [
        "Portal do candidato",
        "Portal - Cursos",
        "Portal - Curso 1",
        "Portal - voltou",
    ]
    assert [h["path"] for h in hits] == ["/spa.html", "/app/cursos", "/app/curso/1", "/app/cursos"]
    assert all(h["time_on_previous_ms"] is not None for h in hits[1:])

    # A push immediately followed by a replace (a router's redirect) is one access, of the
    # final route; the next route change is the barrier again.
    page.evaluate(
        "history.pushState(null, '', '/app/antigo'); history.replaceState(null, '', '/app/novo');"
        " document.title = 'Portal - Novo'"
    )
    wait_for_seqs(engine, session_hash, 5)
    page.click("text=Curso 1")
    hits = wait_for_seqs(engine, session_hash, 6)
    assert [(h["seq"], h["path"], h["title"]) for h in hits[4:]] == [
        (5, "/app/novo", "Portal - Novo"),
        (6, "/app/curso/1", "Portal - Curso 1"),
    ]
    assert hits[5]["referrer"] == sites.a.url("/app/novo")


def test_manual_mode_records_only_after_start_and_on_navigate(
    pegada: Pegada, sites: Sites, visitor: Visitor, engine: Engine
) -> None:
    page = visitor.page
    page.goto(sites.a.url("/manual.html"))
    assert page.evaluate("RBTracking.getHostClient()") == pegada.tenant.host_client
    # Route changes before start(): not recorded, and no identifier stored yet.
    page.evaluate("history.pushState(null, '', '/manual.html?tela=1')")
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("localStorage.getItem('_rbt')") is None
    assert visitor.collect_requests(pegada, "/api/collect") == []

    page.evaluate("RBTracking.start()")
    page.evaluate("RBTracking.start()")  # a second start() does nothing
    session_hash = visitor.hash()
    (first,) = wait_for_seqs(engine, session_hash, 1)
    assert first["url"] == sites.a.url("/manual.html?tela=1")
    assert first["referrer"] is None

    # Route changes are still not automatic in manual mode...
    page.evaluate("history.pushState(null, '', '/manual.html?tela=2'); document.title = 'Tela 2'")
    # ...navigate(cb) records exactly one access and calls cb once it is delivered.
    reply = visitor.call("RBTracking.navigate(done)")
    assert reply["success"] is True, reply  # a 204: {success: true, data: undefined}
    hits = session_hits(engine, session_hash)
    assert [h["seq"] for h in hits] == [1, 2], "navigate() reported delivery before storage"
    assert hits[1]["url"] == sites.a.url("/manual.html?tela=2")
    assert hits[1]["title"] == "Tela 2"
    assert hits[1]["referrer"] == sites.a.url("/manual.html?tela=1")

    # One more route, one more navigate(): still one access each.
    page.evaluate("history.pushState(null, '', '/manual.html?tela=3')")
    assert visitor.call("RBTracking.navigate(done)")["success"] is True
    hits = eventually(lambda: _count(engine, session_hash, 3))
    assert [h["url"] for h in hits][-1] == sites.a.url("/manual.html?tela=3")


def _count(engine: Engine, session_hash: str, count: int) -> list[dict[str, object]]:
    hits = session_hits(engine, session_hash)
    assert len(hits) == count, hits
    return hits
