"""The seed document's two example calls, verbatim, work end to end."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import SEED_EVENT_ID, SEED_SESSION, SEED_SUBSTITUTE, SeedTenant

SEED_IDENTIFY = {
    "hostClient": "aSLhOBjZV5wD7YEpppb3",
    "nome": "João Silva",
    "origem": 3,
    "session_id": "663303050524637653063286663526141567525958427",
    "substitute_id": "068615868786813623018786600516031567525965972",
    "token": "a1264cc5b581cc6bfbad3faee2c54a99",
}

SEED_SEND_EVENT = {
    "event": [
        {
            "eventType": "29",
            "eventData": {
                "codCurso": "1",
                "codOferta": "3",
                "codLocalOferta": "3-5",
                "origem": 3,
                "token": "a1264cc5b581cc6bfbad3faee2c54a99",
            },
        }
    ],
    "hostClient": "aSLhOBjZV5wD7YEpppb3",
    "session_id": "663303050524637653063286663526141567525958427",
    "event_id": "333333007367155333780632635331011566925997662",
}


def test_seed_identify_then_send_event(client: TestClient, seed_tenant: SeedTenant) -> None:
    reply = client.patch("/api/identify", json=SEED_IDENTIFY)
    assert reply.status_code == 200
    body = reply.json()
    assert body["success"] is True
    contact_id = body["dados"]["id"]
    assert contact_id.isdigit()

    reply = client.patch("/api/sendEvent", json=SEED_SEND_EVENT)
    assert reply.json() == {"success": True, "dados": 1}

    details = client.post(
        "/api/Contato/dadosPessoa", json={"id": contact_id, **seed_tenant.creds()}
    ).json()["dados"]
    assert details["nome"] == "João Silva"
    assert [s["session_id"] for s in details["sessoes"]] == [SEED_SESSION]
    [event] = details["eventos"]
    assert event["tipo"]["id"] == 29
    assert event["dados"] == {"codCurso": "1", "codOferta": "3", "codLocalOferta": "3-5"}


def test_seed_event_before_identify_moves_to_contact(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    assert client.patch("/api/sendEvent", json=SEED_SEND_EVENT).json()["dados"] == 1
    contact_id = client.patch("/api/identify", json=SEED_IDENTIFY).json()["dados"]["id"]
    details = client.post(
        "/api/Contato/dadosPessoa", json={"id": contact_id, **seed_tenant.creds()}
    ).json()["dados"]
    assert [e["tipo"]["id"] for e in details["eventos"]] == [29]


def test_seed_event_id_replay_records_one_event(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    client.patch("/api/identify", json=SEED_IDENTIFY)
    first = client.patch("/api/sendEvent", json=SEED_SEND_EVENT)
    second = client.patch("/api/sendEvent", json=SEED_SEND_EVENT)
    assert first.json() == second.json() == {"success": True, "dados": 1}
    details = client.post("/api/Contato/dadosPessoa", json={"id": 1, **seed_tenant.creds()}).json()[
        "dados"
    ]
    assert len(details["eventos"]) == 1


def test_seed_identify_is_matched_again_by_substitute_id(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    first = client.patch("/api/identify", json=SEED_IDENTIFY).json()["dados"]["id"]
    again = client.patch(
        "/api/v2/sendData",
        json={**SEED_IDENTIFY, "session_id": "1" * 45, "emailPrincipal": "joao@example.com"},
    ).json()["dados"]["id"]
    assert again == first
    assert SEED_SUBSTITUTE and SEED_EVENT_ID
