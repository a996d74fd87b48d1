"""Tenant isolation (SPEC §7): one institution's credentials never read or change another's
contacts, sessions, events or event types."""

from __future__ import annotations

from typing import Any

import httpx2
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from pegada.ids import new_tracking_id
from pegada.storage.tables import contacts, events, tenants
from tests.conftest import SeedTenant


def cadastro(client: TestClient, tenant: SeedTenant, **fields: Any) -> httpx2.Response:
    return client.post("/api/Contato/cadastro", json={**tenant.creds(), **fields})


def cadastro_id(client: TestClient, tenant: SeedTenant, **fields: Any) -> str:
    reply = cadastro(client, tenant, **fields)
    assert reply.status_code == 200, reply.json()
    contact_id: str = reply.json()["dados"]["id"]
    return contact_id


def identify(
    client: TestClient, tenant: SeedTenant, session_id: str, **fields: Any
) -> httpx2.Response:
    return client.patch(
        "/api/identify",
        json={
            "hostClient": tenant.host_client,
            "session_id": session_id,
            "substitute_id": new_tracking_id(),
            **tenant.creds(),
            **fields,
        },
    )


def dados_pessoa(client: TestClient, creds: dict[str, Any], **ref: Any) -> httpx2.Response:
    return client.post("/api/Contato/dadosPessoa", json={**creds, **ref})


def details(client: TestClient, tenant: SeedTenant, **ref: Any) -> dict[str, Any]:
    reply = dados_pessoa(client, tenant.creds(), **ref)
    assert reply.status_code == 200, reply.json()
    dados: dict[str, Any] = reply.json()["dados"]
    return dados


def contacts_per_tenant(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(tenants.c.host_client, func.count(contacts.c.id))
            .select_from(tenants.outerjoin(contacts, contacts.c.tenant_id == tenants.c.id))
            .group_by(tenants.c.host_client)
        ).all()
    return {host: int(count) for host, count in rows}


def assert_wrong_pair(reply: httpx2.Response) -> None:
    assert reply.status_code == 401, reply.json()
    body = reply.json()
    assert body["success"] is False
    assert {"origem", "token"} <= set(body["fields"]), body


def test_another_tenants_token_cannot_write_with_this_host_client(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant, engine: Engine
) -> None:
    mixed = SeedTenant(
        host_client=seed_tenant.host_client, origem=other_tenant.origem, token=other_tenant.token
    )
    assert_wrong_pair(identify(client, mixed, new_tracking_id(), emailPrincipal="a@example.com"))
    # Right token, wrong origem for it.
    skewed = SeedTenant(origem=other_tenant.origem)
    assert_wrong_pair(identify(client, skewed, new_tracking_id(), emailPrincipal="a@example.com"))
    reply = client.post(
        "/api/Contato/cadastro",
        json={"hostClient": seed_tenant.host_client, "emailPrincipal": "a@example.com"}
        | other_tenant.creds(),
    )
    assert_wrong_pair(reply)
    reply = client.patch(
        "/api/sendEvent",
        json={
            "hostClient": seed_tenant.host_client,
            "session_id": new_tracking_id(),
            "event": [{"eventType": 29, "eventData": other_tenant.creds()}],
        },
    )
    assert reply.status_code == 401
    assert "event[0].eventData.token" in reply.json()["fields"]
    reply = client.patch(
        "/api/v2/sendEvent",
        json={
            "hostClient": seed_tenant.host_client,
            "session_id": new_tracking_id(),
            "event": {"tipo": 29, **other_tenant.creds()},
        },
    )
    assert reply.status_code == 401
    assert contacts_per_tenant(engine) == {seed_tenant.host_client: 0, other_tenant.host_client: 0}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0


def test_another_tenants_token_cannot_read_with_this_host_client(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> None:
    ana = cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com", nome="Ana")
    reply = dados_pessoa(
        client, {"hostClient": seed_tenant.host_client, **other_tenant.creds()}, id=ana
    )
    assert_wrong_pair(reply)
    assert "Ana" not in reply.text and "ana@example.com" not in reply.text


def test_another_tenants_contact_is_not_found(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> None:
    ana = cadastro_id(
        client, seed_tenant, codigo="CRM-1", emailPrincipal="ana@example.com", nome="Ana"
    )
    for ref in ({"id": ana}, {"id": int(ana)}, {"codigo": "CRM-1"}):
        reply = dados_pessoa(client, other_tenant.creds(), **ref)
        assert reply.status_code == 404, reply.json()
        assert set(reply.json()["fields"]) == set(ref)
        assert "Ana" not in reply.text and "ana@example.com" not in reply.text
        reply = dados_pessoa(
            client, {"hostClient": other_tenant.host_client, **other_tenant.creds()}, **ref
        )
        assert reply.status_code == 404
    # The owner still reads it.
    assert details(client, seed_tenant, id=ana)["nome"] == "Ana"


def test_another_tenant_cannot_update_a_contact_by_its_id(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant, engine: Engine
) -> None:
    ana = cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com", nome="Ana")
    reply = cadastro(client, other_tenant, id=ana, nome="Hijacked")
    assert reply.status_code == 404
    assert "id" in reply.json()["fields"]
    reply = identify(client, other_tenant, new_tracking_id(), id=ana, nome="Hijacked")
    assert reply.status_code == 404
    assert details(client, seed_tenant, id=ana)["nome"] == "Ana"
    assert contacts_per_tenant(engine) == {seed_tenant.host_client: 1, other_tenant.host_client: 0}


def test_same_email_in_two_tenants_is_two_contacts(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant, engine: Engine
) -> None:
    in_a = cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="ana@example.com",
        cpf="529.982.247-25",
        codigo="X1",
        nome="Ana na Faculdade",
        tags=["a"],
    )
    in_b = cadastro_id(
        client,
        other_tenant,
        emailPrincipal="ANA@example.com",
        cpf="52998224725",
        codigo="X1",
        nome="Ana na Escola",
        tags=["b"],
    )
    assert in_a != in_b
    a_person = details(client, seed_tenant, id=in_a)
    b_person = details(client, other_tenant, id=in_b)
    assert (a_person["nome"], a_person["tags"]) == ("Ana na Faculdade", ["a"])
    assert (b_person["nome"], b_person["tags"]) == ("Ana na Escola", ["b"])
    assert details(client, other_tenant, codigo="X1")["id"] == in_b
    assert details(client, seed_tenant, codigo="X1")["id"] == in_a
    # Matching again in each tenant stays in that tenant.
    assert cadastro_id(client, other_tenant, emailPrincipal="ana@example.com") == in_b
    assert cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com") == in_a
    assert contacts_per_tenant(engine) == {seed_tenant.host_client: 1, other_tenant.host_client: 1}


def test_same_session_hash_in_two_tenants_is_two_sessions(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> None:
    session = new_tracking_id()
    reply = identify(client, seed_tenant, session, emailPrincipal="ana@example.com")
    ana = reply.json()["dados"]["id"]
    reply = client.patch(
        "/api/v2/sendEvent",
        json={
            "hostClient": other_tenant.host_client,
            "session_id": session,
            "event": {"tipo": 29, "codCurso": "B", **other_tenant.creds()},
        },
    )
    assert reply.json() == {"success": True, "dados": 1}
    assert details(client, seed_tenant, id=ana)["eventos"] == []

    reply = identify(client, other_tenant, session, emailPrincipal="bia@example.com")
    bia = reply.json()["dados"]["id"]
    b_person = details(client, other_tenant, id=bia)
    assert [s["session_id"] for s in b_person["sessoes"]] == [session]
    assert [e["dados"]["codCurso"] for e in b_person["eventos"]] == ["B"]
    a_person = details(client, seed_tenant, id=ana)
    assert [s["session_id"] for s in a_person["sessoes"]] == [session]
    assert a_person["eventos"] == []


def test_events_cannot_name_another_tenants_contact(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> None:
    ana = cadastro_id(client, seed_tenant, codigo="A1", emailPrincipal="ana@example.com")
    reply = client.post(
        "/api/Evento/cadastro", json={"tipo": 29, "pessoa": {"id": ana}, **other_tenant.creds()}
    )
    assert reply.status_code == 404
    assert "pessoa.id" in reply.json()["fields"]
    reply = client.post(
        "/api/Evento/cadastro",
        json={"tipo": 29, "pessoa": {"codigo": "A1"}, **other_tenant.creds()},
    )
    assert reply.status_code == 404
    reply = client.patch(
        "/api/v2/sendEvent",
        json={
            "hostClient": other_tenant.host_client,
            "session_id": new_tracking_id(),
            "event": {"tipo": 29, "pessoa": {"id": int(ana)}, **other_tenant.creds()},
        },
    )
    assert reply.status_code == 404
    assert details(client, seed_tenant, id=ana)["eventos"] == []


def test_event_codigo_of_another_tenant_is_not_edited(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> None:
    ana = cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com")
    bia = cadastro_id(client, other_tenant, emailPrincipal="bia@example.com")
    for tenant, person, course in ((seed_tenant, ana, "A"), (other_tenant, bia, "B")):
        reply = client.post(
            "/api/Evento/cadastro",
            json={
                "codigo": "EV-1",
                "tipo": 29,
                "pessoa": {"id": person},
                "codCurso": course,
                **tenant.creds(),
            },
        )
        assert reply.status_code == 200, reply.json()
    [a_event] = details(client, seed_tenant, id=ana)["eventos"]
    [b_event] = details(client, other_tenant, id=bia)["eventos"]
    assert a_event["dados"]["codCurso"] == "A"
    assert b_event["dados"]["codCurso"] == "B"


def test_event_types_are_per_tenant(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> None:
    reply = client.post(
        "/api/Evento/cadastroTipoEvento",
        json={"id": 50, "titulo": "Visita ao campus", "codigo": "visita", **seed_tenant.creds()},
    )
    assert reply.status_code == 200, reply.json()
    bia = cadastro_id(client, other_tenant, emailPrincipal="bia@example.com")

    for event in ({"tipo": 50}, {"codTipo": "visita"}, {"codTipo": "inscricao"}):
        reply = client.post(
            "/api/Evento/cadastro",
            json={**event, "pessoa": {"id": bia}, **other_tenant.creds()},
        )
        assert reply.status_code == 422, (event, reply.json())
        assert set(reply.json()["fields"]) & {"tipo", "codTipo"}, reply.json()
    reply = cadastro(
        client, other_tenant, emailPrincipal="bia@example.com", evento={"codTipo": "visita"}
    )
    assert reply.status_code == 422
    assert set(reply.json()["fields"]) & {"evento.tipo", "evento.codTipo"}, reply.json()
    assert details(client, other_tenant, id=bia)["eventos"] == []

    # Type 29 exists in both, each with its own title.
    reply = client.post(
        "/api/Evento/cadastro", json={"tipo": 29, "pessoa": {"id": bia}, **other_tenant.creds()}
    )
    assert reply.status_code == 200
    [event] = details(client, other_tenant, id=bia)["eventos"]
    assert event["tipo"]["titulo"] == "Inscrição"

    # Tenant B may create its own type 50 without touching A's.
    reply = client.post(
        "/api/Evento/cadastroTipoEvento",
        json={"id": 50, "titulo": "Outra coisa", "codigo": "visita", **other_tenant.creds()},
    )
    assert reply.status_code == 200, reply.json()


def test_listar_tipo_evento_lists_only_own_types(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> None:
    reply = client.post(
        "/api/Evento/cadastroTipoEvento",
        json={"id": 50, "titulo": "Visita ao campus", "codigo": "visita", **seed_tenant.creds()},
    )
    assert reply.status_code == 200

    def listed(tenant: SeedTenant, **extra: Any) -> list[tuple[int, str]]:
        reply = client.post("/api/Evento/listarTipoEvento", json={**tenant.creds(), **extra})
        assert reply.status_code == 200, reply.json()
        return [(t["id"], t["titulo"]) for t in reply.json()["dados"]]

    assert listed(seed_tenant) == [(29, "Inscrição no curso"), (50, "Visita ao campus")]
    assert listed(other_tenant) == [(29, "Inscrição")]
    assert listed(other_tenant, hostClient=other_tenant.host_client) == [(29, "Inscrição")]
    reply = client.post(
        "/api/Evento/listarTipoEvento",
        json={"hostClient": seed_tenant.host_client, **other_tenant.creds()},
    )
    assert_wrong_pair(reply)
    assert "Visita" not in reply.text
