"""The browser trust level (SPEC §4): a page calls sendData / sendEvent / getData with no
secret. It may create a contact and add to one, never overwrite what an authenticated
channel set; it is rate-limited; getData returns only what the same session sent; origins a
tenant has not allowed are refused. A server that forgot its token is still refused (401).
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from pegada.app import create_app
from pegada.ids import new_tracking_id
from pegada.settings import Settings
from pegada.storage.tables import contacts, events, sessions, submissions, tenants
from tests.conftest import SEED_HOST_CLIENT, SeedTenant

SITE = "https://www.escola.edu.br"
ORIGIN = {"Origin": SITE}
SESSION = "663303050524637653063286663526141567525958427"
OTHER_SESSION = "111122223333444455556666777788881567525958427"


# --- helpers ---------------------------------------------------------------------------------


def browser_send_data(
    client: TestClient,
    session: str = SESSION,
    headers: dict[str, str] | None = ORIGIN,
    **fields: Any,
) -> httpx2.Response:
    """What RBTracking.sendData posts: the form's fields, hostClient, session, a new
    request_id (its idempotency key), no token."""
    body = {
        "substitute_id": new_tracking_id(),
        **fields,
        "hostClient": SEED_HOST_CLIENT,
        "session_id": session,
        "request_id": new_tracking_id(),
    }
    return client.patch("/api/v2/sendData", json=body, headers=headers or {})


def browser_send_event(
    client: TestClient, session: str = SESSION, headers: dict[str, str] | None = ORIGIN
) -> httpx2.Response:
    body = {
        "event": [{"eventType": "29", "eventData": {"codCurso": "1"}}],
        "hostClient": SEED_HOST_CLIENT,
        "session_id": session,
        "event_id": new_tracking_id(),
    }
    return client.patch("/api/sendEvent", json=body, headers=headers or {})


def get_data(
    client: TestClient, session: str | None, headers: dict[str, str] | None = ORIGIN
) -> httpx2.Response:
    body: dict[str, Any] = {"h": SEED_HOST_CLIENT}
    if session is not None:
        body["s"] = session
    return client.post(
        "/api/getData",
        content=json.dumps(body),
        headers={"content-type": "text/plain;charset=UTF-8", **(headers or {})},
    )


def crm_cadastro(client: TestClient, tenant: SeedTenant, **fields: Any) -> str:
    reply = client.post("/api/Contato/cadastro", json={**tenant.creds(), **fields})
    assert reply.status_code == 200, reply.text
    contact_id: str = reply.json()["dados"]["id"]
    return contact_id


def details(client: TestClient, tenant: SeedTenant, contact_id: str) -> dict[str, Any]:
    reply = client.post("/api/Contato/dadosPessoa", json={"id": contact_id, **tenant.creds()})
    assert reply.status_code == 200, reply.text
    dados: dict[str, Any] = reply.json()["dados"]
    return dados


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def ok_id(reply: httpx2.Response) -> str:
    assert reply.status_code in (200, 201), reply.text
    body = reply.json()
    assert body["success"] is True
    contact_id: str = body["dados"]["id"]
    assert contact_id.isdigit()
    return contact_id


def set_allowed_origins(client: TestClient, engine: Engine, origins: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(
            tenants.update()
            .where(tenants.c.host_client == SEED_HOST_CLIENT)
            .values(allowed_origins=origins)
        )
    client.app.state.tenants.forget()  # type: ignore[attr-defined]


# --- sendData --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v2/sendData", "/api/identify"])
def test_tokenless_send_data_from_a_page_creates_and_links_the_contact(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, path: str
) -> None:
    reply = client.patch(
        path,
        json={
            "hostClient": SEED_HOST_CLIENT,
            "session_id": SESSION,
            "substitute_id": new_tracking_id(),
            "nome": "Ana Lima",
            "emailPrincipal": "ana@example.com",
        },
        headers=ORIGIN,
    )
    contact_id = ok_id(reply)
    contact = details(client, seed_tenant, contact_id)
    assert contact["nome"] == "Ana Lima"
    assert contact["emailPrincipal"] == "ana@example.com"
    assert [s["session_id"] for s in contact["sessoes"]] == [SESSION]
    with engine.connect() as conn:
        endpoint = conn.execute(select(submissions.c.endpoint)).scalar_one()
        created_by = conn.execute(select(contacts.c.created_channel_id)).scalar_one()
    assert endpoint.startswith("browser:")
    assert created_by is None  # filed under the site, not under a channel


def test_a_second_browser_send_data_updates_the_same_contact(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    first = ok_id(browser_send_data(client, emailPrincipal="ana@example.com", nome="Ana"))
    again = ok_id(
        browser_send_data(
            client, OTHER_SESSION, emailPrincipal="ANA@example.com", profissao="Enfermeira"
        )
    )
    assert again == first
    contact = details(client, seed_tenant, first)
    assert (contact["nome"], contact["profissao"]) == ("Ana", "Enfermeira")
    assert sorted(s["session_id"] for s in contact["sessoes"]) == sorted([SESSION, OTHER_SESSION])
    assert count(engine, contacts) == 1


def post_as_the_tracker(client: TestClient, path: str, body: dict[str, Any]) -> httpx2.Response:
    """The tracker's request: a text/plain JSON POST from the page's origin."""
    return client.post(
        path,
        content=json.dumps(body),
        headers={"content-type": "text/plain;charset=UTF-8", **ORIGIN},
    )


def test_a_resent_browser_send_data_is_stored_once(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """The reply to a sendData was lost and the tracker sends the same body again (same
    request_id): one submission, one nested event, and the first reply again."""
    body = {
        "substitute_id": new_tracking_id(),
        "nome": "Ana",
        "emailPrincipal": "ana@example.com",
        "evento": {"tipo": 29, "descricao": "perdido"},
        "hostClient": SEED_HOST_CLIENT,
        "session_id": SESSION,
        "request_id": new_tracking_id(),
    }
    first = post_as_the_tracker(client, "/api/v2/sendData", body)
    contact_id = ok_id(first)
    second = post_as_the_tracker(client, "/api/v2/sendData", body)
    assert second.status_code == first.status_code
    assert second.json() == first.json() == {"success": True, "dados": {"id": contact_id}}
    assert (count(engine, submissions), count(engine, events), count(engine, contacts)) == (1, 1, 1)
    assert [
        e["dados"]["descricao"] for e in details(client, seed_tenant, contact_id)["eventos"]
    ] == ["perdido"]
    # /api/identify is the same operation: the same key there is the same request.
    assert post_as_the_tracker(client, "/api/identify", body).json() == first.json()
    assert count(engine, submissions) == 1

    # The key belongs to the session: another session's request with it is stored.
    other = {**body, "session_id": OTHER_SESSION}
    assert ok_id(post_as_the_tracker(client, "/api/v2/sendData", other)) == contact_id
    # A new call (new request_id) with the same data is a new submission.
    again = {**body, "request_id": new_tracking_id()}
    assert ok_id(post_as_the_tracker(client, "/api/v2/sendData", again)) == contact_id
    assert (count(engine, submissions), count(engine, events), count(engine, contacts)) == (3, 3, 1)


def test_server_identify_stores_every_call_unless_it_repeats_a_request_id(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """Server-to-server calls (token) without request_id store every call, as before; a
    backend that sends a request_id gets the same once-only behaviour as the tracker."""
    body = {
        **seed_tenant.creds(),
        "hostClient": SEED_HOST_CLIENT,
        "session_id": SESSION,
        "substitute_id": new_tracking_id(),
        "emailPrincipal": "ana@example.com",
        "evento": {"tipo": 29},
    }
    ids = {ok_id(client.patch("/api/identify", json=body)) for _ in range(2)}
    assert len(ids) == 1
    assert (count(engine, submissions), count(engine, events)) == (2, 2)

    # A refused call stores nothing, its key included: sent again corrected, it is stored.
    keyed = {**body, "request_id": "pedido-991", "evento": {"tipo": 999}}
    assert client.patch("/api/identify", json=keyed).status_code == 422  # unknown tipo
    keyed["evento"] = {"tipo": 29}
    replies = [client.patch("/api/identify", json=keyed).json() for _ in range(2)]
    assert replies[0] == replies[1] == {"success": True, "dados": {"id": ids.pop()}}
    assert (count(engine, submissions), count(engine, events)) == (3, 3)


def test_tokenless_send_data_without_origin_is_a_server_that_forgot_its_token(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    reply = browser_send_data(client, headers=None, emailPrincipal="ana@example.com")
    assert reply.status_code == 401
    body = reply.json()
    assert body["success"] is False
    assert "token" in body["fields"]
    assert count(engine, contacts) == 0
    assert count(engine, sessions) == 0


def test_a_wrong_token_is_refused_even_with_an_origin(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """Credentials given means the server trust level: they must be right."""
    reply = browser_send_data(client, emailPrincipal="ana@example.com", origem=3, token="0" * 32)
    assert reply.status_code == 401
    assert count(engine, contacts) == 0


def test_browser_never_overwrites_what_the_crm_set(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = crm_cadastro(
        client,
        seed_tenant,
        nome="Ana Souza",
        emailPrincipal="ana@example.com",
        telefonePrincipal="(11) 98765-4321",
        camposPersonalizados={"curso_interesse": "Direito"},
        tags=["crm"],
    )
    reply = browser_send_data(
        client,
        emailPrincipal="ana@example.com",
        nome="Outra Pessoa",
        telefonePrincipal="(21) 99999-0000",
        camposPersonalizados={"curso_interesse": "Medicina", "turno": "noite"},
        tags=["site"],
        email=["ana.pessoal@example.com"],
        profissao="Engenheira",
    )
    assert ok_id(reply) == contact_id
    contact = details(client, seed_tenant, contact_id)
    # What the CRM set stays.
    assert contact["nome"] == "Ana Souza"
    assert contact["telefonePrincipal"] == "(11) 98765-4321"
    assert contact["camposPersonalizados"]["curso_interesse"] == "Direito"
    # What is new is added.
    assert contact["camposPersonalizados"]["turno"] == "noite"
    assert set(contact["tags"]) == {"crm", "site"}
    assert "ana.pessoal@example.com" in contact["email"]
    assert contact["profissao"] == "Engenheira"
    assert [s["session_id"] for s in contact["sessoes"]] == [SESSION]
    # The submission is kept as sent, marked as coming from a browser.
    with engine.connect() as conn:
        rows = conn.execute(
            select(submissions.c.endpoint, submissions.c.payload).order_by(submissions.c.id)
        ).all()
    assert [row.endpoint for row in rows] == ["Contato/cadastro", "browser:v2/sendData"]
    assert rows[1].payload["nome"] == "Outra Pessoa"
    assert rows[1].payload["telefonePrincipal"] == "(21) 99999-0000"
    assert "token" not in rows[1].payload
    # The phone the browser gave does not become a key that finds this contact.
    other = ok_id(
        browser_send_data(client, OTHER_SESSION, telefonePrincipal="(21) 99999-0000", nome="X")
    )
    assert other != contact_id


def test_browser_fills_a_field_the_crm_never_set_and_the_crm_can_still_change_it(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = crm_cadastro(client, seed_tenant, nome="Bia", emailPrincipal="bia@example.com")
    browser_send_data(
        client, emailPrincipal="bia@example.com", cpf="529.982.247-25", bairro="Centro"
    )
    contact = details(client, seed_tenant, contact_id)
    assert (contact["cpf"], contact["bairro"]) == ("52998224725", "Centro")
    crm_cadastro(client, seed_tenant, emailPrincipal="bia@example.com", bairro="Savassi")
    assert details(client, seed_tenant, contact_id)["bairro"] == "Savassi"
    # ...and once the CRM has set it, the browser can no longer change it.
    browser_send_data(client, emailPrincipal="bia@example.com", bairro="Lourdes")
    assert details(client, seed_tenant, contact_id)["bairro"] == "Savassi"


def test_server_identify_overwrites_what_a_browser_set(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = ok_id(browser_send_data(client, emailPrincipal="caio@example.com", nome="caio"))
    reply = client.patch(
        "/api/identify",
        json={
            "hostClient": SEED_HOST_CLIENT,
            "session_id": SESSION,
            "substitute_id": new_tracking_id(),
            "emailPrincipal": "caio@example.com",
            "nome": "Caio Prado",
            **seed_tenant.creds(),
        },
    )
    assert ok_id(reply) == contact_id
    assert details(client, seed_tenant, contact_id)["nome"] == "Caio Prado"


# --- sendEvent -------------------------------------------------------------------------------


def test_tokenless_send_event_v1_and_v2_from_a_page_record_the_event(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    v1 = browser_send_event(client)
    assert v1.json() == {"success": True, "dados": 1}
    v2 = client.patch(
        "/api/v2/sendEvent",
        json={
            "event": {"tipo": 29, "codCurso": "2", "descricao": "Inscrição pelo site"},
            "hostClient": SEED_HOST_CLIENT,
            "session_id": SESSION,
            "pageTitle": "Inscrição",
        },
        headers=ORIGIN,
    )
    assert v2.json() == {"success": True, "dados": 1}
    with engine.connect() as conn:
        assert conn.execute(select(events.c.channel_id)).scalars().all() == [None, None]
    # The events waited on the session and follow it to its contact.
    contact_id = ok_id(browser_send_data(client, emailPrincipal="davi@example.com"))
    eventos = details(client, seed_tenant, contact_id)["eventos"]
    assert [e["tipo"]["id"] for e in eventos] == [29, 29]
    assert sorted(e["dados"]["codCurso"] for e in eventos) == ["1", "2"]


def test_tokenless_send_event_without_origin_is_refused(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    reply = browser_send_event(client, headers=None)
    assert reply.status_code == 401
    assert count(engine, events) == 0


def test_replayed_browser_event_id_records_one_event(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    body = {
        "event": [{"eventType": "29", "eventData": {"codCurso": "1"}}],
        "hostClient": SEED_HOST_CLIENT,
        "session_id": SESSION,
        "event_id": new_tracking_id(),
    }
    first = client.patch("/api/sendEvent", json=body, headers=ORIGIN)
    second = client.patch("/api/sendEvent", json=body, headers=ORIGIN)
    assert first.json() == second.json() == {"success": True, "dados": 1}
    assert count(engine, events) == 1


# --- rate limit ------------------------------------------------------------------------------


@pytest.fixture
def limited_client(db_url: str, engine: Engine) -> Iterator[TestClient]:
    """An app allowing 3 tokenless calls per session per minute (12 per network), called
    from 203.0.113.5."""
    settings = Settings(database_url=db_url, browser_requests_per_minute=3)
    with TestClient(create_app(settings, engine), client=("203.0.113.5", 50000)) as client:
        yield client


def test_browser_calls_are_rate_limited_per_session(
    limited_client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    client = limited_client
    assert browser_send_event(client).status_code == 200
    assert ok_id(browser_send_data(client, emailPrincipal="eli@example.com"))
    assert get_data(client, SESSION).status_code == 200
    limited = browser_send_event(client)
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/json")
    body = limited.json()
    assert body["success"] is False and body["error"]
    assert browser_send_data(client, emailPrincipal="eli@example.com").status_code == 429
    assert get_data(client, SESSION).status_code == 429
    assert count(engine, events) == 1
    # Another visitor (another session) is not held back by this one.
    assert browser_send_event(client, OTHER_SESSION).status_code == 200


def test_server_calls_with_a_token_are_not_rate_limited(
    limited_client: TestClient, seed_tenant: SeedTenant
) -> None:
    for _ in range(5):
        reply = limited_client.patch(
            "/api/sendEvent",
            json={
                "event": [{"eventType": "29", "eventData": {"codCurso": "1"}}],
                "hostClient": SEED_HOST_CLIENT,
                "session_id": SESSION,
                **seed_tenant.creds(),
            },
        )
        assert reply.status_code == 200


def test_browser_calls_are_rate_limited_per_network(
    limited_client: TestClient, seed_tenant: SeedTenant
) -> None:
    """One network gets four times one session's share: a script rotating session hashes
    cannot flood the tenant."""
    statuses = [
        browser_send_event(limited_client, session=new_tracking_id()).status_code for _ in range(13)
    ]
    assert statuses == [200] * 12 + [429]
    # The same /24 is the same network; another network is not held back.
    app = limited_client.app
    neighbour = TestClient(app, client=("203.0.113.200", 50000))
    assert browser_send_event(neighbour, session=new_tracking_id()).status_code == 429
    elsewhere = TestClient(app, client=("198.51.100.7", 50000))
    assert browser_send_event(elsewhere, session=new_tracking_id()).status_code == 200


# --- getData ---------------------------------------------------------------------------------


def test_get_data_returns_only_what_this_session_sent(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = crm_cadastro(
        client,
        seed_tenant,
        nome="Fernanda Reis",
        emailPrincipal="fernanda@example.com",
        telefonePrincipal="(11) 91234-5678",
        cpf="529.982.247-25",
        camposPersonalizados={"renda": "alta"},
    )
    assert (
        ok_id(
            browser_send_data(
                client,
                SESSION,
                emailPrincipal="fernanda@example.com",
                nome="Fê",
                camposPersonalizados={"curso": "Direito"},
            )
        )
        == contact_id
    )
    assert (
        ok_id(
            browser_send_data(
                client, OTHER_SESSION, emailPrincipal="fernanda@example.com", bairro="Centro"
            )
        )
        == contact_id
    )
    reply = get_data(client, SESSION)
    assert reply.status_code == 200
    assert reply.json() == {
        "success": True,
        "dados": {
            "emailPrincipal": "fernanda@example.com",
            "nome": "Fê",
            "camposPersonalizados": {"curso": "Direito"},
        },
    }
    other = get_data(client, OTHER_SESSION).json()["dados"]
    assert other == {"emailPrincipal": "fernanda@example.com", "bairro": "Centro"}
    # A session that sent nothing reads nothing, even if it knows the e-mail.
    assert get_data(client, new_tracking_id()).json() == {"success": True, "dados": {}}


def test_get_data_of_a_later_submission_wins(client: TestClient, seed_tenant: SeedTenant) -> None:
    browser_send_data(client, emailPrincipal="gil@example.com", nome="Gil")
    browser_send_data(client, emailPrincipal="gil@example.com", nome="Gilberto", cep="01001-000")
    dados = get_data(client, SESSION).json()["dados"]
    assert dados == {"emailPrincipal": "gil@example.com", "nome": "Gilberto", "cep": "01001-000"}


def test_get_data_without_a_hash(client: TestClient, seed_tenant: SeedTenant) -> None:
    reply = get_data(client, None)
    assert reply.status_code == 400
    body = reply.json()
    assert body["success"] is False
    assert body["error"] == "Hash não enviado"


def test_get_data_of_an_unknown_tenant_is_404(client: TestClient, seed_tenant: SeedTenant) -> None:
    reply = client.post(
        "/api/getData", json={"h": "ZZZZZZZZZZZZZZZZZZZZ", "s": SESSION}, headers=ORIGIN
    )
    assert reply.status_code == 404
    assert "h" in reply.json()["fields"]


def test_get_data_does_not_leak_across_tenants(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> None:
    browser_send_data(client, emailPrincipal="hana@example.com", nome="Hana")
    reply = client.post(
        "/api/getData", json={"h": other_tenant.host_client, "s": SESSION}, headers=ORIGIN
    )
    assert reply.json() == {"success": True, "dados": {}}


def test_origins_the_tenant_has_not_allowed_are_refused(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    set_allowed_origins(client, engine, [SITE])
    evil = {"Origin": "https://phishing.example"}
    for reply in (
        get_data(client, SESSION, headers=evil),
        browser_send_data(client, headers=evil, emailPrincipal="ivo@example.com"),
        browser_send_event(client, headers=evil),
    ):
        assert reply.status_code == 403, reply.text
        assert "origin" in reply.json()["fields"]
    assert count(engine, contacts) == 0
    assert count(engine, events) == 0
    assert ok_id(browser_send_data(client, emailPrincipal="ivo@example.com"))
    assert get_data(client, SESSION).json()["dados"] == {"emailPrincipal": "ivo@example.com"}
