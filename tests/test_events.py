"""Events (SPEC §4, §5): the seed's sendEvent shape, the flat v2 shape, the CRM's
Evento/cadastro and event types; idempotency, editing by `codigo`, explicit `pessoa`,
`momento` in the tenant's time zone and the timeline's order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from pegada.storage import tables
from tests.conftest import (
    SEED_EVENT_ID,
    SEED_HOST_CLIENT,
    SEED_ORIGEM,
    SEED_SESSION,
    SEED_TOKEN,
    SeedTenant,
)

CREDS: dict[str, Any] = {"origem": SEED_ORIGEM, "token": SEED_TOKEN}
OTHER_SESSION = "1" * 45


def seed_item(**data: Any) -> dict[str, Any]:
    """One element of the seed's `event` array, type 29, credentials inside eventData."""
    return {"eventType": "29", "eventData": {**CREDS, **data}}


def v1(*items: dict[str, Any], session_id: str = SEED_SESSION, **extra: Any) -> dict[str, Any]:
    return {"event": list(items), "hostClient": SEED_HOST_CLIENT, "session_id": session_id, **extra}


def v2(session_id: str = SEED_SESSION, *, extra: dict[str, Any] | None = None, **event: Any) -> Any:
    return {
        "event": {"tipo": 29, **CREDS, **event},
        "hostClient": SEED_HOST_CLIENT,
        "session_id": session_id,
        **(extra or {}),
    }


def identify(
    client: TestClient,
    session_id: str = SEED_SESSION,
    email: str = "joao@example.com",
    **fields: Any,
) -> str:
    reply = client.patch(
        "/api/identify",
        json={
            "hostClient": SEED_HOST_CLIENT,
            **CREDS,
            "session_id": session_id,
            "substitute_id": "s-" + session_id[:20],
            "nome": "João Silva",
            "emailPrincipal": email,
            **fields,
        },
    )
    assert reply.status_code == 200, reply.text
    contact_id: str = reply.json()["dados"]["id"]
    return contact_id


def details(client: TestClient, contact_id: str | int) -> dict[str, Any]:
    reply = client.post("/api/Contato/dadosPessoa", json={"id": contact_id, **CREDS})
    assert reply.status_code == 200, reply.text
    dados: dict[str, Any] = reply.json()["dados"]
    return dados


def timeline(client: TestClient, contact_id: str | int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = details(client, contact_id)["eventos"]
    return events


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def refused(reply: Any, status: int, field: str) -> dict[str, Any]:
    assert "Traceback" not in reply.text
    assert reply.status_code == status, reply.text
    body: dict[str, Any] = reply.json()
    assert body["success"] is False
    assert field in body["fields"], body
    assert field in body["error"], body
    return body


# --- the seed's shape (/api/sendEvent) --------------------------------------------------------


@pytest.mark.parametrize(
    "type_fields",
    [
        pytest.param({"eventType": "29"}, id="eventType-text"),
        pytest.param({"eventType": 29}, id="eventType-number"),
        pytest.param({"codEventType": "inscricao"}, id="codEventType"),
    ],
)
def test_seed_shape_names_its_type_by_id_or_code(
    client: TestClient, seed_tenant: SeedTenant, type_fields: dict[str, Any]
) -> None:
    contact_id = identify(client)
    item = {**type_fields, "eventData": {"codCurso": "1", "codOferta": "3", **CREDS}}
    reply = client.patch("/api/sendEvent", json=v1(item))
    assert reply.status_code == 200
    assert reply.json() == {"success": True, "dados": 1}
    [event] = timeline(client, contact_id)
    assert event["tipo"] == {"id": 29, "codigo": "inscricao", "titulo": "Inscrição no curso"}
    assert event["dados"] == {"codCurso": "1", "codOferta": "3"}
    assert event["session_id"] == SEED_SESSION


@pytest.mark.parametrize("position", [0, 1])
def test_element_without_type_is_refused(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, position: int
) -> None:
    items = [seed_item(codCurso="1"), seed_item(codCurso="2")]
    items[position] = {"eventData": {"codCurso": "x", **CREDS}}
    reply = client.patch("/api/sendEvent", json=v1(*items))
    body = refused(reply, 422, f"event[{position}].eventType")
    assert "event without type" in body["error"]
    assert body["fields"][f"event[{position}].eventType"] == "event without type"
    assert count(engine, tables.events) == 0


@pytest.mark.parametrize(
    ("item", "field", "named"),
    [
        pytest.param({"eventType": 404}, "event[0].eventType", "404", id="id"),
        pytest.param(
            {"codEventType": "nao-existe"}, "event[0].codEventType", "nao-existe", id="code"
        ),
    ],
)
def test_unknown_type_is_refused_naming_it(
    client: TestClient,
    seed_tenant: SeedTenant,
    engine: Engine,
    item: dict[str, Any],
    field: str,
    named: str,
) -> None:
    reply = client.patch("/api/sendEvent", json=v1({**item, "eventData": CREDS}))
    body = refused(reply, 422, field)
    assert named in body["error"]
    assert count(engine, tables.events) == 0


def test_another_tenants_type_is_unknown_here(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant, engine: Engine
) -> None:
    body = {"titulo": "Só da outra", "id": 31, "codigo": "so-la", **other_tenant.creds()}
    assert client.post("/api/Evento/cadastroTipoEvento", json=body).status_code == 200
    reply = client.patch("/api/sendEvent", json=v1({"eventType": 31, "eventData": CREDS}))
    refused(reply, 422, "event[0].eventType")
    reply = client.patch("/api/sendEvent", json=v1({"codEventType": "so-la", "eventData": CREDS}))
    refused(reply, 422, "event[0].codEventType")
    assert count(engine, tables.events) == 0


def test_credentials_inside_event_data_or_at_top_level(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = identify(client)
    inside = v1(seed_item(codCurso="inside"))
    top = {
        **v1({"eventType": 29, "eventData": {"codCurso": "top"}}),
        **CREDS,
    }
    assert client.patch("/api/sendEvent", json=inside).json() == {"success": True, "dados": 1}
    assert client.patch("/api/sendEvent", json=top).json() == {"success": True, "dados": 1}
    v2_top = {**v2(), **CREDS, "event": {"tipo": 29, "codCurso": "v2-top"}}
    assert client.patch("/api/v2/sendEvent", json=v2_top).json() == {"success": True, "dados": 1}
    assert [e["dados"]["codCurso"] for e in timeline(client, contact_id)] == [
        "inside",
        "top",
        "v2-top",
    ]
    # The token is never kept with the event.
    assert all("token" not in e["dados"] for e in timeline(client, contact_id))


def test_credentials_inside_win_over_the_top_level(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    body = {**v1(seed_item(codCurso="1")), "origem": SEED_ORIGEM, "token": "0" * 32}
    assert client.patch("/api/sendEvent", json=body).json() == {"success": True, "dados": 1}
    body = {
        **v1({"eventType": 29, "eventData": {"origem": SEED_ORIGEM, "token": "0" * 32}}),
        **CREDS,
    }
    refused(client.patch("/api/sendEvent", json=body), 401, "event[0].eventData.token")


def test_several_events_in_one_call(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = identify(client)
    items = [
        seed_item(codCurso="1"),
        {"codEventType": "inscricao", "eventData": {**CREDS, "codCurso": "2"}},
        seed_item(codCurso="3", descricao="<p>terceiro</p>"),
    ]
    reply = client.patch("/api/sendEvent", json=v1(*items))
    assert reply.json() == {"success": True, "dados": 3}
    events = timeline(client, contact_id)
    assert [e["dados"]["codCurso"] for e in events] == ["1", "2", "3"]
    assert events[2]["dados"]["descricao"] == "<p>terceiro</p>"
    assert count(engine, tables.events) == 3


def test_event_before_identify_waits_on_the_session(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    assert client.patch("/api/v2/sendEvent", json=v2(codCurso="antes")).json()["dados"] == 1
    assert (
        client.patch("/api/sendEvent", json=v1(seed_item(codCurso="antes-v1"))).status_code == 200
    )
    contact_id = identify(client)
    assert [e["dados"]["codCurso"] for e in timeline(client, contact_id)] == ["antes", "antes-v1"]


# --- the flat shape (/api/v2/sendEvent) -----------------------------------------------------


@pytest.mark.parametrize(
    "type_fields",
    [
        pytest.param({"tipo": 29}, id="tipo"),
        pytest.param({"tipo": "29"}, id="tipo-text"),
        pytest.param({"tipo": None, "codTipo": "inscricao"}, id="codTipo"),
    ],
)
def test_v2_names_its_type_by_tipo_or_cod_tipo(
    client: TestClient, seed_tenant: SeedTenant, type_fields: dict[str, Any]
) -> None:
    contact_id = identify(client)
    body = v2(codCurso="7", codOferta=8, **type_fields)
    if body["event"]["tipo"] is None:
        del body["event"]["tipo"]
    reply = client.patch("/api/v2/sendEvent", json=body)
    assert reply.status_code == 200
    assert reply.json() == {"success": True, "dados": 1}
    [event] = timeline(client, contact_id)
    assert event["tipo"]["id"] == 29
    assert event["dados"] == {"codCurso": "7", "codOferta": 8}


def test_v2_page_title_is_stored_with_the_event(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = identify(client)
    with_title = v2(codCurso="1", extra={"pageTitle": "Inscrição — Medicina"})
    assert client.patch("/api/v2/sendEvent", json=with_title).json() == {
        "success": True,
        "dados": 1,
    }
    assert client.patch("/api/v2/sendEvent", json=v2(codCurso="2")).json()["dados"] == 1
    first, second = timeline(client, contact_id)
    assert first["dados"]["pageTitle"] == "Inscrição — Medicina"
    assert "pageTitle" not in second["dados"]


@pytest.mark.parametrize(
    ("event", "field"),
    [
        pytest.param({"tipo": None}, "event.tipo", id="no-type"),
        pytest.param({"tipo": 404}, "event.tipo", id="unknown-id"),
        pytest.param({"tipo": None, "codTipo": "nao-existe"}, "event.codTipo", id="unknown-code"),
    ],
)
def test_v2_type_errors_name_the_field(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, event: dict[str, Any], field: str
) -> None:
    body = v2(**event)
    body["event"] = {k: v for k, v in body["event"].items() if v is not None}
    refused(client.patch("/api/v2/sendEvent", json=body), 422, field)
    assert count(engine, tables.events) == 0


# --- idempotency and editing ---------------------------------------------------------------


@pytest.mark.parametrize("shape", ["v1", "v2"])
def test_event_id_replay_returns_the_same_reply_and_records_one_event(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, shape: str
) -> None:
    contact_id = identify(client)
    if shape == "v1":
        path = "/api/sendEvent"
        body = v1(seed_item(codCurso="1"), seed_item(codCurso="2"), event_id=SEED_EVENT_ID)
    else:
        path = "/api/v2/sendEvent"
        body = v2(codCurso="1", extra={"event_id": SEED_EVENT_ID})
    first = client.patch(path, json=body)
    second = client.patch(path, json=body)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    recorded = count(engine, tables.events)
    assert recorded == (2 if shape == "v1" else 1)
    # A different body under the same key is still a replay: nothing new is recorded.
    if shape == "v1":
        changed = v1(seed_item(codCurso="9"), event_id=SEED_EVENT_ID)
    else:
        changed = v2(codCurso="9", extra={"event_id": SEED_EVENT_ID})
    assert client.patch(path, json=changed).json() == first.json()
    assert count(engine, tables.events) == recorded
    assert "9" not in [e["dados"]["codCurso"] for e in timeline(client, contact_id)]
    # Another key records again.
    other = {**changed, "event_id": "outro-" + SEED_EVENT_ID[:20]}
    assert client.patch(path, json=other).json()["success"] is True
    assert count(engine, tables.events) == recorded + 1


def test_event_id_is_per_tenant(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant, engine: Engine
) -> None:
    assert client.patch("/api/v2/sendEvent", json=v2(extra={"event_id": "k-1"})).status_code == 200
    other = {
        "event": {"tipo": 29, **other_tenant.creds()},
        "hostClient": other_tenant.host_client,
        "session_id": SEED_SESSION,
        "event_id": "k-1",
    }
    assert client.patch("/api/v2/sendEvent", json=other).json() == {"success": True, "dados": 1}
    assert count(engine, tables.events) == 2


def test_resending_an_event_codigo_edits_that_event(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = identify(client)
    first = v2(codigo="insc-1", codCurso="1", descricao="<p>pendente</p>")
    assert client.patch("/api/v2/sendEvent", json=first).json() == {"success": True, "dados": 1}
    [before] = timeline(client, contact_id)

    again = v2(codigo="insc-1", descricao="<p>confirmada</p>", momento="2024-05-01 10:00:00")
    assert client.patch("/api/v2/sendEvent", json=again).json() == {"success": True, "dados": 1}
    seed_again = v1(seed_item(codigo="insc-1", codOferta="3"))
    assert client.patch("/api/sendEvent", json=seed_again).json() == {"success": True, "dados": 1}

    assert count(engine, tables.events) == 1
    [after] = timeline(client, contact_id)
    assert after["id"] == before["id"]
    assert after["codigo"] == "insc-1"
    assert after["dados"] == {"codCurso": "1", "descricao": "<p>confirmada</p>", "codOferta": "3"}
    assert after["momento"] == "2024-05-01T10:00:00-03:00"


def test_event_codigo_as_number_or_text_is_the_same_event(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    identify(client)
    assert client.patch("/api/v2/sendEvent", json=v2(codigo=501)).status_code == 200
    assert client.patch("/api/v2/sendEvent", json=v2(codigo="501")).status_code == 200
    assert count(engine, tables.events) == 1


# --- pessoa: directing an event to a contact -----------------------------------------------


def test_pessoa_by_id_directs_the_event_to_that_contact(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    session_owner = identify(client, SEED_SESSION, "dono@example.com")
    named = identify(client, OTHER_SESSION, "outra@example.com")
    assert session_owner != named
    body = v2(codCurso="1", pessoa={"id": int(named)})
    assert client.patch("/api/v2/sendEvent", json=body).json()["dados"] == 1
    body = v1(seed_item(codCurso="2", pessoa={"id": named}))
    assert client.patch("/api/sendEvent", json=body).json()["dados"] == 1
    assert [e["dados"]["codCurso"] for e in timeline(client, named)] == ["1", "2"]
    assert timeline(client, session_owner) == []
    # The `pessoa` reference itself is routing, not event data.
    assert all("pessoa" not in e["dados"] for e in timeline(client, named))


def test_pessoa_by_codigo_directs_the_event_to_that_contact(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    named = identify(client, OTHER_SESSION, "externo@example.com", codigo="crm-77")
    body = v2(codCurso="1", pessoa={"codigo": "crm-77"}, session_id="9" * 45)
    assert client.patch("/api/v2/sendEvent", json=body).json()["dados"] == 1
    [event] = timeline(client, named)
    assert event["dados"] == {"codCurso": "1"}
    assert event["session_id"] == "9" * 45


@pytest.mark.parametrize(
    ("pessoa", "suffix"),
    [({"id": 999}, "id"), ({"codigo": "ninguem"}, "codigo")],
)
def test_unknown_pessoa_is_404(
    client: TestClient,
    seed_tenant: SeedTenant,
    engine: Engine,
    pessoa: dict[str, Any],
    suffix: str,
) -> None:
    identify(client)
    before = count(engine, tables.events)
    refused(
        client.patch("/api/v2/sendEvent", json=v2(pessoa=pessoa)), 404, f"event.pessoa.{suffix}"
    )
    body = v1(seed_item(codCurso="1"), seed_item(pessoa=pessoa))
    refused(client.patch("/api/sendEvent", json=body), 404, f"event[1].eventData.pessoa.{suffix}")
    body = {"tipo": 29, **CREDS, "pessoa": pessoa}
    refused(client.post("/api/Evento/cadastro", json=body), 404, f"pessoa.{suffix}")
    assert count(engine, tables.events) == before


def test_pessoa_of_another_tenant_is_unknown(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> None:
    stranger = client.patch(
        "/api/identify",
        json={
            "hostClient": other_tenant.host_client,
            **other_tenant.creds(),
            "session_id": OTHER_SESSION,
            "substitute_id": OTHER_SESSION,
            "emailPrincipal": "alheia@example.com",
            "codigo": "so-la",
        },
    ).json()["dados"]["id"]
    refused(
        client.patch("/api/v2/sendEvent", json=v2(pessoa={"id": stranger})), 404, "event.pessoa.id"
    )
    refused(
        client.patch("/api/v2/sendEvent", json=v2(pessoa={"codigo": "so-la"})),
        404,
        "event.pessoa.codigo",
    )


# --- momento and the timeline's order -----------------------------------------------------------


@pytest.mark.parametrize(
    ("momento", "shown"),
    [
        ("2024-05-01 10:00:00", "2024-05-01T10:00:00-03:00"),
        ("2024-05-01 10:00", "2024-05-01T10:00:00-03:00"),
        ("2024-05-01", "2024-05-01T00:00:00-03:00"),
        ("2024-05-01T10:00:00", "2024-05-01T10:00:00-03:00"),
        ("2024-05-01T13:00:00+00:00", "2024-05-01T10:00:00-03:00"),
        ("2024-05-01T13:00:00Z", "2024-05-01T10:00:00-03:00"),
        ("2024-05-01T10:00:00-05:00", "2024-05-01T12:00:00-03:00"),
    ],
)
def test_momento_is_the_tenants_local_time(
    client: TestClient, seed_tenant: SeedTenant, momento: str, shown: str
) -> None:
    contact_id = identify(client)
    assert client.patch("/api/v2/sendEvent", json=v2(momento=momento)).json()["dados"] == 1
    [event] = timeline(client, contact_id)
    assert event["momento"] == shown
    assert "momento" not in event["dados"]


@pytest.mark.parametrize(
    "momento",
    [
        "ontem",
        "2024-13-01 10:00:00",
        "2024-02-30 10:00:00",
        "2024-05-01 25:00:00",
        "01/05/2024 10:00",
        "9999-12-31 23:59:59",
        "0001-01-01T00:00:00+05:00",
    ],
)
def test_invalid_momento_is_refused_naming_the_path(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, momento: str
) -> None:
    contact_id = identify(client)
    refused(client.patch("/api/v2/sendEvent", json=v2(momento=momento)), 422, "event.momento")
    body = v1(seed_item(codCurso="ok"), seed_item(momento=momento))
    refused(client.patch("/api/sendEvent", json=body), 422, "event[1].eventData.momento")
    body = {"tipo": 29, **CREDS, "pessoa": {"id": contact_id}, "momento": momento}
    refused(client.post("/api/Evento/cadastro", json=body), 422, "momento")
    assert count(engine, tables.events) == 0


def test_timeline_is_in_time_order_not_insertion_order(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = identify(client)
    sends = [
        ("b", "2024-05-02 09:00:00"),
        ("now", None),
        ("a", "2024-05-01 23:30:00"),
        ("c", "2024-05-02T12:30:00Z"),  # 09:30 in São Paulo, after "b"
    ]
    for label, momento in sends:
        event: dict[str, Any] = {"codCurso": label}
        if momento:
            event["momento"] = momento
        assert client.patch("/api/v2/sendEvent", json=v2(**event)).status_code == 200
    events = timeline(client, contact_id)
    assert [e["dados"]["codCurso"] for e in events] == ["a", "b", "c", "now"]
    moments = [e["momento"] for e in events[:3]]
    assert moments == [
        "2024-05-01T23:30:00-03:00",
        "2024-05-02T09:00:00-03:00",
        "2024-05-02T09:30:00-03:00",
    ]


# --- CRM calls: Evento/cadastro, cadastroTipoEvento, listarTipoEvento ------------------------


def test_evento_cadastro_records_an_event_for_the_contact(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = identify(client, codigo="crm-1")
    body = {
        "tipo": 29,
        "pessoa": {"id": contact_id},
        "descricao": "<b>Matrícula</b>",
        "codOferta": "3",
        "momento": "2024-05-01 10:00:00",
        **CREDS,
    }
    reply = client.post("/api/Evento/cadastro", json=body)
    assert reply.status_code == 200
    event_id = reply.json()["dados"]["id"]
    assert reply.json() == {"success": True, "dados": {"id": event_id}}
    assert event_id.isdigit()

    by_code = {"codTipo": "inscricao", "pessoa": {"codigo": "crm-1"}, "codCurso": "5", **CREDS}
    assert client.post("/api/Evento/cadastro", json=by_code).status_code == 200

    first, second = timeline(client, contact_id)
    assert first["id"] == event_id
    assert first["momento"] == "2024-05-01T10:00:00-03:00"
    assert first["dados"] == {"descricao": "<b>Matrícula</b>", "codOferta": "3"}
    assert first["session_id"] is None
    assert second["dados"] == {"codCurso": "5"}


def test_evento_cadastro_codigo_resent_edits(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = identify(client)
    body = {"tipo": 29, "pessoa": {"id": contact_id}, "codigo": "ev-9", "curso": "Direito", **CREDS}
    first = client.post("/api/Evento/cadastro", json=body).json()["dados"]["id"]
    again = client.post("/api/Evento/cadastro", json={**body, "curso": "Medicina"}).json()
    assert again == {"success": True, "dados": {"id": first}}
    assert count(engine, tables.events) == 1
    [event] = timeline(client, contact_id)
    assert event["dados"]["curso"] == "Medicina"


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"pessoa": None}, 422, "pessoa.id"),
        ({"tipo": None}, 422, "tipo"),
        ({"tipo": 404}, 422, "tipo"),
        ({"tipo": None, "codTipo": "nao-existe"}, 422, "codTipo"),
        ({"token": "0" * 32}, 401, "token"),
        ({"token": None}, 401, "token"),
    ],
)
def test_evento_cadastro_refusals_name_the_field(
    client: TestClient,
    seed_tenant: SeedTenant,
    engine: Engine,
    change: dict[str, Any],
    status: int,
    field: str,
) -> None:
    contact_id = identify(client)
    body = {"tipo": 29, "pessoa": {"id": contact_id}, **CREDS, **change}
    body = {k: v for k, v in body.items() if v is not None}
    refused(client.post("/api/Evento/cadastro", json=body), status, field)
    assert count(engine, tables.events) == 0


def test_event_types_create_and_list(client: TestClient, seed_tenant: SeedTenant) -> None:
    auto = client.post("/api/Evento/cadastroTipoEvento", json={"titulo": "Visita", **CREDS})
    assert auto.status_code == 200
    assert auto.json() == {
        "success": True,
        "dados": {
            "id": 30,
            "titulo": "Visita",
            "codigo": None,
            "fluxo": 0,
            "formaCriacaoOportunidade": None,
        },
    }
    given = {
        "titulo": "Matrícula",
        "id": 12,
        "codigo": "matricula",
        "fluxo": 1,
        "formaCriacaoOportunidade": 2,
        **CREDS,
    }
    reply = client.post("/api/Evento/cadastroTipoEvento", json=given)
    assert reply.json()["dados"] == {
        "id": 12,
        "titulo": "Matrícula",
        "codigo": "matricula",
        "fluxo": 1,
        "formaCriacaoOportunidade": 2,
    }
    listed = client.post("/api/Evento/listarTipoEvento", json=CREDS)
    assert listed.status_code == 200
    assert [(t["id"], t["codigo"]) for t in listed.json()["dados"]] == [
        (12, "matricula"),
        (29, "inscricao"),
        (30, None),
    ]
    # The new types are usable at once, by id and by code.
    contact_id = identify(client)
    assert client.patch("/api/v2/sendEvent", json=v2(tipo=30)).json()["dados"] == 1
    body = v1({"codEventType": "matricula", "eventData": CREDS})
    assert client.patch("/api/sendEvent", json=body).json()["dados"] == 1
    assert [e["tipo"]["id"] for e in timeline(client, contact_id)] == [30, 12]


@pytest.mark.parametrize(
    "duplicate",
    [pytest.param({"id": 29}, id="same-id"), pytest.param({"codigo": "inscricao"}, id="same-code")],
)
def test_event_type_duplicate_is_409(
    client: TestClient, seed_tenant: SeedTenant, duplicate: dict[str, Any]
) -> None:
    reply = client.post(
        "/api/Evento/cadastroTipoEvento", json={"titulo": "Repetido", **duplicate, **CREDS}
    )
    assert "Traceback" not in reply.text
    assert reply.status_code == 409, reply.text
    body = reply.json()
    assert body["success"] is False and body["error"]
    listed = client.post("/api/Evento/listarTipoEvento", json=CREDS).json()["dados"]
    assert [t["titulo"] for t in listed] == ["Inscrição no curso"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"titulo": ""}, "titulo"),
        ({"titulo": "t" * 256}, "titulo"),
        ({"id": 0}, "id"),
        ({"fluxo": 2}, "fluxo"),
        ({"formaCriacaoOportunidade": 4}, "formaCriacaoOportunidade"),
    ],
)
def test_event_type_bad_fields_are_refused(
    client: TestClient, seed_tenant: SeedTenant, change: dict[str, Any], field: str
) -> None:
    body = {"titulo": "Visita", **CREDS, **change}
    refused(client.post("/api/Evento/cadastroTipoEvento", json=body), 422, field)


def test_event_types_are_per_tenant(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> None:
    reply = client.post(
        "/api/Evento/cadastroTipoEvento",
        json={"titulo": "Da outra", "id": 29, "codigo": "inscricao", **other_tenant.creds()},
    )
    # Type 29 exists in the other tenant too (its fixture), without a code: a clash by id.
    assert reply.status_code == 409
    reply = client.post(
        "/api/Evento/cadastroTipoEvento",
        json={"titulo": "Da outra", "codigo": "inscricao", **other_tenant.creds()},
    )
    assert reply.status_code == 200  # the seed tenant's code does not clash here
    mine = client.post("/api/Evento/listarTipoEvento", json=CREDS).json()["dados"]
    theirs = client.post("/api/Evento/listarTipoEvento", json=other_tenant.creds()).json()["dados"]
    assert [t["titulo"] for t in mine] == ["Inscrição no curso"]
    assert [t["titulo"] for t in theirs] == ["Inscrição", "Da outra"]


# --- methods and content types -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PATCH", "POST"])
def test_tracking_endpoints_take_patch_and_post(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, method: str
) -> None:
    for path in ("/api/identify", "/api/v2/sendData"):
        body = {
            "hostClient": SEED_HOST_CLIENT,
            **CREDS,
            "session_id": SEED_SESSION,
            "substitute_id": SEED_SESSION,
            "emailPrincipal": "joao@example.com",
        }
        reply = client.request(method, path, json=body)
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"success": True, "dados": {"id": "1"}}
    reply = client.request(method, "/api/sendEvent", json=v1(seed_item()))
    assert reply.json() == {"success": True, "dados": 1}
    reply = client.request(method, "/api/v2/sendEvent", json=v2())
    assert reply.json() == {"success": True, "dados": 1}
    assert count(engine, tables.events) == 2


def test_text_plain_json_is_read_as_json(client: TestClient, seed_tenant: SeedTenant) -> None:
    """What `navigator.sendBeacon` sends, avoiding a CORS preflight."""
    reply = client.post(
        "/api/v2/sendEvent",
        content=json.dumps(v2(codCurso="beacon")).encode(),
        headers={"content-type": "text/plain;charset=UTF-8"},
    )
    assert reply.json() == {"success": True, "dados": 1}
