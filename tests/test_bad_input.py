"""Bad input is refused with a 4xx JSON body naming the field (SPEC §4): never a 500, never a
traceback, and never a partial write (the row counts of every table stay the same)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from pegada.payloads.contact import IdentifyBody
from pegada.payloads.event import EventFields, SendEventBody, SendEventV2Body
from pegada.storage import tables
from tests.conftest import (
    SEED_HOST_CLIENT,
    SEED_ORIGEM,
    SEED_SESSION,
    SEED_TOKEN,
    SeedTenant,
)

LIMIT = 64 * 1024  # Settings.max_body_bytes default
DEPTH = 8  # Settings.max_json_depth default

CREDS: dict[str, Any] = {"origem": SEED_ORIGEM, "token": SEED_TOKEN}

IDENTIFY: dict[str, Any] = {
    "hostClient": SEED_HOST_CLIENT,
    **CREDS,
    "session_id": "5" * 45,
    "substitute_id": "6" * 45,
    "nome": "Maria Souza",
    "emailPrincipal": "maria@example.com",
}

SEND_EVENT: dict[str, Any] = {
    "event": [{"eventType": 29, "eventData": {"codCurso": "1", **CREDS}}],
    "hostClient": SEED_HOST_CLIENT,
    "session_id": "5" * 45,
}

SEND_EVENT_V2: dict[str, Any] = {
    "event": {"tipo": 29, "codCurso": "1", **CREDS},
    "hostClient": SEED_HOST_CLIENT,
    "session_id": "5" * 45,
}

COUNTED = (
    tables.tenants,
    tables.channels,
    tables.event_types,
    tables.contacts,
    tables.contact_keys,
    tables.sessions,
    tables.events,
    tables.submissions,
    tables.idempotency_keys,
)


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in COUNTED
        }


def assert_refused(reply: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """A 4xx JSON failure naming `field` (in `fields` and in the sentence)."""
    assert "Traceback" not in reply.text
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert body["success"] is False
    assert isinstance(body["error"], str) and body["error"].strip()
    assert isinstance(body["fields"], dict)
    if field is not None:
        assert field in body["fields"], body
        assert field in body["error"], body
    return body


def nest(levels: int) -> Any:
    """`levels` arrays, one inside the other, around a number."""
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.fixture
def baseline(client: TestClient, seed_tenant: SeedTenant, engine: Engine) -> dict[str, int]:
    """A tenant with one identified contact and one event, so that a partial write (or an
    update) would show in the counts; returns the counts before the bad request."""
    assert client.patch("/api/identify", json=IDENTIFY).status_code == 200
    assert client.patch("/api/sendEvent", json=SEND_EVENT).status_code == 200
    return row_counts(engine)


# --- JSON syntax and top-level shape ----------------------------------------------------


@pytest.mark.parametrize("path", ["/api/identify", "/api/sendEvent", "/api/v2/sendEvent"])
@pytest.mark.parametrize(
    ("raw", "status"),
    [
        pytest.param(b'{"hostClient": ', 400, id="truncated"),
        pytest.param(b"{hostClient: 1}", 400, id="unquoted-key"),
        pytest.param(b'{"nome": "a",}', 400, id="trailing-comma"),
        pytest.param(b"", 400, id="empty"),
        pytest.param(b" \n\t ", 400, id="whitespace"),
        pytest.param(b'{"nome": "\xff\xfe"}', 400, id="not-utf8"),
        pytest.param(b'{"nome": "\\ud800"}', 400, id="lone-surrogate"),
        pytest.param(b'{"nome": "a"} {"nome": "b"}', 400, id="two-documents"),
        pytest.param(b"[]", 422, id="array"),
        pytest.param(b'[{"nome": "a"}]', 422, id="array-of-objects"),
        pytest.param(b'"x"', 422, id="string"),
        pytest.param(b"5", 422, id="number"),
        pytest.param(b"null", 422, id="null"),
    ],
)
def test_body_that_is_not_a_json_object_is_refused(
    client: TestClient,
    engine: Engine,
    baseline: dict[str, int],
    path: str,
    raw: bytes,
    status: int,
) -> None:
    reply = client.patch(path, content=raw, headers={"content-type": "application/json"})
    assert_refused(reply, status, "body")
    assert row_counts(engine) == baseline


# --- arrays where objects belong, wrong types ---------------------------------------------


@pytest.mark.parametrize(
    ("path", "base", "change", "field"),
    [
        ("/api/identify", IDENTIFY, {"estadoCidade": []}, "estadoCidade"),
        ("/api/identify", IDENTIFY, {"camposPersonalizados": []}, "camposPersonalizados"),
        ("/api/identify", IDENTIFY, {"evento": []}, "evento"),
        ("/api/identify", IDENTIFY, {"assinaturas": {}}, "assinaturas"),
        ("/api/identify", IDENTIFY, {"tags": "vestibular"}, "tags"),
        ("/api/identify", IDENTIFY, {"nome": 5}, "nome"),
        ("/api/identify", IDENTIFY, {"nome": ["Maria"]}, "nome"),
        ("/api/identify", IDENTIFY, {"origem": "abc"}, "origem"),
        ("/api/identify", IDENTIFY, {"origem": 0}, "origem"),
        ("/api/identify", IDENTIFY, {"sexo": 3}, "sexo"),
        ("/api/identify", IDENTIFY, {"sexo": "M"}, "sexo"),
        ("/api/identify", IDENTIFY, {"aluno": 2}, "aluno"),
        ("/api/identify", IDENTIFY, {"anoFormacao": 1492}, "anoFormacao"),
        ("/api/identify", IDENTIFY, {"dataNascimento": "2001-02-30"}, "dataNascimento"),
        ("/api/identify", IDENTIFY, {"dataNascimento": 20010203}, "dataNascimento"),
        (
            "/api/identify",
            IDENTIFY,
            {"estadoCidade": {"estado": "São Paulo"}},
            "estadoCidade.estado",
        ),
        (
            "/api/identify",
            IDENTIFY,
            {"assinaturas": [{"id": 1, "status": 3}]},
            "assinaturas[0].status",
        ),
        ("/api/identify", IDENTIFY, {"hostClient": 5}, "hostClient"),
        ("/api/identify", IDENTIFY, {"hostClient": "short"}, "hostClient"),
        ("/api/identify", IDENTIFY, {"session_id": None}, "session_id"),
        (
            "/api/identify",
            {k: v for k, v in IDENTIFY.items() if k != "substitute_id"},
            {},
            "substitute_id",
        ),
        (
            "/api/identify",
            {k: v for k, v in IDENTIFY.items() if k != "hostClient"},
            {},
            "hostClient",
        ),
        ("/api/sendEvent", SEND_EVENT, {"event": {}}, "event"),
        ("/api/sendEvent", SEND_EVENT, {"event": []}, "event"),
        ("/api/sendEvent", SEND_EVENT, {"event": "29"}, "event"),
        ("/api/sendEvent", SEND_EVENT, {"event": [[]]}, "event[0]"),
        (
            "/api/sendEvent",
            SEND_EVENT,
            {"event": [{"eventType": 29, "eventData": []}]},
            "event[0].eventData",
        ),
        ("/api/sendEvent", SEND_EVENT, {"event": [{"eventType": "abc"}]}, "event[0].eventType"),
        (
            "/api/sendEvent",
            SEND_EVENT,
            {"event": [{"eventType": 29, "eventData": {"pessoa": 7}}]},
            "event[0].eventData.pessoa",
        ),
        ("/api/sendEvent", SEND_EVENT, {"event": [{"eventType": 29}] * 51}, "event"),
        ("/api/v2/sendEvent", SEND_EVENT_V2, {"event": []}, "event"),
        ("/api/v2/sendEvent", SEND_EVENT_V2, {"event": "29"}, "event"),
        ("/api/v2/sendEvent", SEND_EVENT_V2, {"event": {"tipo": "abc", **CREDS}}, "event.tipo"),
        (
            "/api/v2/sendEvent",
            SEND_EVENT_V2,
            {"event": {"tipo": 29, "notaEnem": 1001, **CREDS}},
            "event.notaEnem",
        ),
        (
            "/api/v2/sendEvent",
            SEND_EVENT_V2,
            {"event": {"tipo": 29, "compareceuAtividade": 2, **CREDS}},
            "event.compareceuAtividade",
        ),
        (
            "/api/v2/sendEvent",
            SEND_EVENT_V2,
            {"event": {"tipo": 29, "camposPersonalizados": [], **CREDS}},
            "event.camposPersonalizados",
        ),
        ("/api/v2/sendEvent", SEND_EVENT_V2, {"pageTitle": {"t": 1}}, "pageTitle"),
    ],
)
def test_wrong_shape_or_type_is_refused_naming_the_field(
    client: TestClient,
    engine: Engine,
    baseline: dict[str, int],
    path: str,
    base: dict[str, Any],
    change: dict[str, Any],
    field: str,
) -> None:
    assert_refused(client.patch(path, json={**base, **change}), 422, field)
    assert row_counts(engine) == baseline


# --- tenant and credentials ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/identify", IDENTIFY),
        ("/api/sendEvent", SEND_EVENT),
        ("/api/v2/sendEvent", SEND_EVENT_V2),
    ],
)
def test_unknown_tenant_is_404_naming_host_client(
    client: TestClient, engine: Engine, baseline: dict[str, int], path: str, body: dict[str, Any]
) -> None:
    reply = client.patch(path, json={**body, "hostClient": "Z" * 20})
    assert_refused(reply, 404, "hostClient")
    assert row_counts(engine) == baseline


@pytest.mark.parametrize("missing", [("origem",), ("token",), ("origem", "token")])
def test_identify_without_credentials_is_401(
    client: TestClient, engine: Engine, baseline: dict[str, int], missing: tuple[str, ...]
) -> None:
    body = {k: v for k, v in IDENTIFY.items() if k not in missing}
    reply = assert_refused(client.patch("/api/identify", json=body), 401)
    for name in missing:
        assert name in reply["fields"]
        assert name in reply["error"]
    assert row_counts(engine) == baseline


@pytest.mark.parametrize(
    "creds",
    [
        pytest.param({"origem": SEED_ORIGEM, "token": "0" * 32}, id="wrong-token"),
        pytest.param({"origem": SEED_ORIGEM + 1, "token": SEED_TOKEN}, id="wrong-origem"),
        pytest.param({"origem": SEED_ORIGEM, "token": SEED_TOKEN.upper()}, id="token-case"),
        pytest.param({"origem": SEED_ORIGEM, "token": ""}, id="empty-token"),
    ],
)
def test_identify_with_wrong_credentials_is_401(
    client: TestClient, engine: Engine, baseline: dict[str, int], creds: dict[str, Any]
) -> None:
    reply = client.patch("/api/identify", json={**IDENTIFY, **creds})
    assert_refused(reply, 401, "token")
    assert row_counts(engine) == baseline


def test_another_tenants_channel_is_401(
    client: TestClient, engine: Engine, baseline: dict[str, int], other_tenant: SeedTenant
) -> None:
    before = row_counts(engine)
    reply = client.patch("/api/identify", json={**IDENTIFY, **other_tenant.creds()})
    assert_refused(reply, 401, "token")
    assert row_counts(engine) == before


def test_send_event_credentials_are_named_where_they_travel(
    client: TestClient, engine: Engine, baseline: dict[str, int]
) -> None:
    without = {"event": [{"eventType": 29, "eventData": {"codCurso": "1"}}]}
    reply = assert_refused(client.patch("/api/sendEvent", json={**SEND_EVENT, **without}), 401)
    assert set(reply["fields"]) == {"event[0].eventData.origem", "event[0].eventData.token"}

    wrong = {"event": [{"eventType": 29, "eventData": {"origem": SEED_ORIGEM, "token": "f" * 32}}]}
    reply = client.patch("/api/sendEvent", json={**SEND_EVENT, **wrong})
    assert_refused(reply, 401, "event[0].eventData.token")

    reply = client.patch(
        "/api/v2/sendEvent", json={**SEND_EVENT_V2, "event": {"tipo": 29, "origem": SEED_ORIGEM}}
    )
    assert_refused(reply, 401, "event.token")
    assert row_counts(engine) == baseline


# --- size limit -----------------------------------------------------------------------------


def _oversized() -> bytes:
    body = json.dumps({**IDENTIFY, "pad": "x" * LIMIT}).encode()
    assert len(body) > LIMIT
    return body


@pytest.mark.parametrize("path", ["/api/identify", "/api/sendEvent", "/api/v2/sendEvent"])
def test_body_over_the_limit_is_413(
    client: TestClient, engine: Engine, baseline: dict[str, int], path: str
) -> None:
    reply = client.patch(path, content=_oversized(), headers={"content-type": "application/json"})
    assert_refused(reply, 413, "body")
    assert row_counts(engine) == baseline


@pytest.mark.parametrize("path", ["/api/identify", "/api/sendEvent", "/api/v2/sendEvent"])
def test_body_over_the_limit_without_content_length_is_413(
    client: TestClient, engine: Engine, baseline: dict[str, int], path: str
) -> None:
    raw = _oversized()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 4096):
            yield raw[start : start + 4096]

    reply = client.patch(path, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in {name.lower() for name in reply.request.headers}
    assert_refused(reply, 413, "body")
    assert row_counts(engine) == baseline


def test_a_lying_small_content_length_does_not_bypass_the_limit(
    client: TestClient, engine: Engine, baseline: dict[str, int]
) -> None:
    raw = _oversized()

    def chunks() -> Iterator[bytes]:
        yield raw[: LIMIT // 2]
        yield raw[LIMIT // 2 :]

    reply = client.patch(
        "/api/identify",
        content=chunks(),
        headers={"content-type": "application/json", "content-length": "10"},
    )
    # Read up to the limit and refused (413), or cut at the declared length (400): never taken.
    assert reply.status_code in (400, 413), reply.text
    assert "Traceback" not in reply.text
    assert row_counts(engine) == baseline


def test_body_just_under_the_limit_is_read(client: TestClient, seed_tenant: SeedTenant) -> None:
    body = {**IDENTIFY, "pad": ""}
    body["pad"] = "x" * (LIMIT - len(json.dumps(body)) - 10)
    raw = json.dumps(body).encode()
    assert LIMIT - 100 < len(raw) <= LIMIT
    reply = client.patch("/api/identify", content=raw, headers={"content-type": "application/json"})
    assert reply.status_code == 200, reply.text


# --- NUL bytes, nesting, sizes of values ---------------------------------------------------


@pytest.mark.parametrize(
    ("path", "base", "change", "field"),
    [
        ("/api/identify", IDENTIFY, {"nome": "Ma\x00ria"}, "nome"),
        ("/api/identify", IDENTIFY, {"session_id": "1\x002"}, "session_id"),
        (
            "/api/identify",
            IDENTIFY,
            {"camposPersonalizados": {"curso": "a\x00"}},
            "camposPersonalizados.curso",
        ),
        ("/api/identify", IDENTIFY, {"tags": ["ok", "n\x00o"]}, "tags[1]"),
        ("/api/identify", IDENTIFY, {"no\x00me": "Maria"}, "no\x00me"),
        (
            "/api/identify",
            IDENTIFY,
            {"camposPersonalizados": {"c\x00": 1}},
            "camposPersonalizados.c\x00",
        ),
        ("/api/identify", IDENTIFY, {"desconhecido": {"\x00": "x"}}, "desconhecido.\x00"),
        (
            "/api/sendEvent",
            SEND_EVENT,
            {"event": [{"eventType": 29, "eventData": {"codCurso": "\x00", **CREDS}}]},
            "event[0].eventData.codCurso",
        ),
        (
            "/api/v2/sendEvent",
            SEND_EVENT_V2,
            {"event": {"tipo": 29, "descricao": "<b>\x00</b>", **CREDS}},
            "event.descricao",
        ),
        ("/api/v2/sendEvent", SEND_EVENT_V2, {"pageTitle": "T\x00"}, "pageTitle"),
    ],
)
def test_nul_characters_in_values_and_keys_are_refused(
    client: TestClient,
    engine: Engine,
    baseline: dict[str, int],
    path: str,
    base: dict[str, Any],
    change: dict[str, Any],
    field: str,
) -> None:
    assert_refused(client.patch(path, json={**base, **change}), 422, field)
    assert row_counts(engine) == baseline


@pytest.mark.parametrize(
    ("path", "base", "name"),
    [
        ("/api/identify", IDENTIFY, "camposPersonalizados"),
        ("/api/identify", IDENTIFY, "campoQueNaoExiste"),
        ("/api/sendEvent", SEND_EVENT, "campoQueNaoExiste"),
        ("/api/v2/sendEvent", SEND_EVENT_V2, "pageTitle"),
    ],
)
def test_nesting_deeper_than_the_limit_is_refused(
    client: TestClient,
    engine: Engine,
    baseline: dict[str, int],
    path: str,
    base: dict[str, Any],
    name: str,
) -> None:
    value = {"lista": nest(DEPTH)} if name == "camposPersonalizados" else nest(DEPTH)
    reply = assert_refused(client.patch(path, json={**base, name: value}), 422)
    [field] = reply["fields"]
    assert field.startswith(name) and field in reply["error"]
    assert "nested deeper" in reply["fields"][field]
    assert row_counts(engine) == baseline


def test_nesting_deeper_than_the_limit_inside_an_event_is_refused(
    client: TestClient, engine: Engine, baseline: dict[str, int]
) -> None:
    event = {"tipo": 29, **CREDS, "camposPersonalizados": {"x": nest(DEPTH)}}
    reply = assert_refused(
        client.patch("/api/v2/sendEvent", json={**SEND_EVENT_V2, "event": event}), 422
    )
    [field] = reply["fields"]
    assert field.startswith("event.camposPersonalizados.x")
    assert row_counts(engine) == baseline


def test_nesting_at_the_limit_is_read(client: TestClient, seed_tenant: SeedTenant) -> None:
    # The document is level 1, so an unknown field may hold DEPTH - 1 nested arrays.
    reply = client.patch("/api/identify", json={**IDENTIFY, "extra": nest(DEPTH - 1)})
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    ("path", "base", "change", "field"),
    [
        ("/api/identify", IDENTIFY, {"nome": "a" * 256}, "nome"),
        ("/api/identify", IDENTIFY, {"bairro": "b" * 46}, "bairro"),
        ("/api/identify", IDENTIFY, {"endereco": "r" * 256}, "endereco"),
        ("/api/identify", IDENTIFY, {"emailPrincipal": "a" * 250 + "@x.com"}, "emailPrincipal"),
        ("/api/identify", IDENTIFY, {"tags": ["t" * 101]}, "tags[0]"),
        ("/api/identify", IDENTIFY, {"codigo": "c" * 101}, "codigo"),
        (
            "/api/identify",
            IDENTIFY,
            {"camposPersonalizados": {"k" * 101: "v"}},
            "camposPersonalizados",
        ),
        (
            "/api/identify",
            IDENTIFY,
            {"camposPersonalizados": {"k": "v" * 5001}},
            "camposPersonalizados",
        ),
        ("/api/identify", IDENTIFY, {"substitute_id": "9" * 129}, "substitute_id"),
        ("/api/sendEvent", SEND_EVENT, {"event_id": "1" * 129}, "event_id"),
        (
            "/api/sendEvent",
            SEND_EVENT,
            {"event": [{"codEventType": "x" * 101}]},
            "event[0].codEventType",
        ),
        (
            "/api/v2/sendEvent",
            SEND_EVENT_V2,
            {"event": {"tipo": 29, "descricao": "d" * 20_001, **CREDS}},
            "event.descricao",
        ),
        (
            "/api/v2/sendEvent",
            SEND_EVENT_V2,
            {"event": {"tipo": 29, "curso": "c" * 256, **CREDS}},
            "event.curso",
        ),
        ("/api/v2/sendEvent", SEND_EVENT_V2, {"pageTitle": "p" * 1001}, "pageTitle"),
    ],
)
def test_oversized_strings_are_refused_not_truncated(
    client: TestClient,
    engine: Engine,
    baseline: dict[str, int],
    path: str,
    base: dict[str, Any],
    change: dict[str, Any],
    field: str,
) -> None:
    reply = assert_refused(client.patch(path, json={**base, **change}), 422)
    assert any(name.startswith(field) for name in reply["fields"]), reply
    assert field in reply["error"]
    assert row_counts(engine) == baseline


def test_longest_accepted_name_is_stored_whole(client: TestClient, seed_tenant: SeedTenant) -> None:
    name = "N" * 254 + "é"
    contact_id = client.patch("/api/identify", json={**IDENTIFY, "nome": name}).json()["dados"][
        "id"
    ]
    details = client.post("/api/Contato/dadosPessoa", json={"id": contact_id, **CREDS}).json()
    assert details["dados"]["nome"] == name


# --- identifiers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "session_id",
    [
        pytest.param("1" * 129, id="129-chars"),
        pytest.param("663303050524637653063286 663526141567525958427", id="space"),
        pytest.param(" " + SEED_SESSION, id="leading-space"),
        pytest.param("sessão", id="non-ascii"),
        pytest.param("a\tb", id="tab"),
        pytest.param("", id="empty"),
    ],
)
@pytest.mark.parametrize(
    ("path", "base"),
    [
        ("/api/identify", IDENTIFY),
        ("/api/sendEvent", SEND_EVENT),
        ("/api/v2/sendEvent", SEND_EVENT_V2),
    ],
)
def test_bad_session_id_is_refused(
    client: TestClient,
    engine: Engine,
    baseline: dict[str, int],
    path: str,
    base: dict[str, Any],
    session_id: str,
) -> None:
    reply = client.patch(path, json={**base, "session_id": session_id})
    assert_refused(reply, 422, "session_id")
    assert row_counts(engine) == baseline


def test_session_id_of_128_visible_characters_is_accepted(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    reply = client.patch("/api/identify", json={**IDENTIFY, "session_id": "order-" + "7" * 122})
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"emailPrincipal": "not-an-email"}, "emailPrincipal"),
        ({"emailPrincipal": "maria@"}, "emailPrincipal"),
        ({"emailPrincipal": "maria @example.com"}, "emailPrincipal"),
        ({"email": ["ok@example.com", "nope"]}, "email[1]"),
        ({"cpf": "123.456.789-00"}, "cpf"),
        ({"telefonePrincipal": "12"}, "telefonePrincipal"),
        ({"telefone": ["(11) 98765-4321", "abc"]}, "telefone[1]"),
    ],
)
def test_invalid_identity_keys_are_refused(
    client: TestClient,
    engine: Engine,
    baseline: dict[str, int],
    change: dict[str, Any],
    field: str,
) -> None:
    reply = client.patch(
        "/api/identify", json={**IDENTIFY, "emailPrincipal": "new@example.com", **change}
    )
    assert_refused(reply, 422, field)
    assert row_counts(engine) == baseline


@pytest.mark.parametrize(
    ("path", "base", "change", "field"),
    [
        ("/api/identify", IDENTIFY, {"id": 2**64}, "id"),
        (
            "/api/identify",
            IDENTIFY,
            {"camposPersonalizados": {"n": -(2**63) - 1}},
            "camposPersonalizados.n",
        ),
        (
            "/api/sendEvent",
            SEND_EVENT,
            {"event": [{"eventType": 2**63, "eventData": CREDS}]},
            "event[0].eventType",
        ),
        (
            "/api/sendEvent",
            SEND_EVENT,
            {"event": [{"eventType": "9" * 20, "eventData": CREDS}]},
            "event[0].eventType",
        ),
        ("/api/v2/sendEvent", SEND_EVENT_V2, {"event": {"tipo": 10**30, **CREDS}}, "event.tipo"),
        (
            "/api/v2/sendEvent",
            SEND_EVENT_V2,
            {"event": {"tipo": 29, "pessoa": {"id": 2**63}, **CREDS}},
            "event.pessoa.id",
        ),
        (
            "/api/v2/sendEvent",
            SEND_EVENT_V2,
            {"event": {"tipo": 29, "codigo": 10**40, **CREDS}},
            "event.codigo",
        ),
    ],
)
def test_whole_numbers_beyond_64_bits_are_refused(
    client: TestClient,
    engine: Engine,
    baseline: dict[str, int],
    path: str,
    base: dict[str, Any],
    change: dict[str, Any],
    field: str,
) -> None:
    # Found by these tests: they used to reach the database and fail there with a 500.
    assert_refused(client.patch(path, json={**base, **change}), 422, field)
    assert row_counts(engine) == baseline


# --- no partial write ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("evento", "field"),
    [
        ({"tipo": 999}, "evento.tipo"),
        ({"codTipo": "nao-existe"}, "evento"),  # named evento.tipo today; evento.codTipo is apt
        ({"descricao": "sem tipo"}, "evento.tipo"),
    ],
)
def test_identify_with_a_bad_nested_event_writes_nothing(
    client: TestClient,
    engine: Engine,
    baseline: dict[str, int],
    evento: dict[str, Any],
    field: str,
) -> None:
    """The whole identify is refused: neither a new contact nor an update is written."""
    new_contact = {
        **IDENTIFY,
        "session_id": "8" * 45,
        "substitute_id": "9" * 45,
        "emailPrincipal": "novo@example.com",
        "evento": evento,
    }
    reply = assert_refused(client.patch("/api/identify", json=new_contact), 422)
    assert [name for name in reply["fields"] if name.startswith(field)], reply
    assert row_counts(engine) == baseline

    # Nor does it update the contact it matches.
    update = {**IDENTIFY, "nome": "Outro Nome", "evento": evento}
    reply = assert_refused(client.patch("/api/v2/sendData", json=update), 422)
    assert [name for name in reply["fields"] if name.startswith(field)], reply
    assert row_counts(engine) == baseline
    details = client.post("/api/Contato/dadosPessoa", json={"id": 1, **CREDS}).json()["dados"]
    assert details["nome"] == IDENTIFY["nome"]


def test_one_bad_event_among_several_records_none(
    client: TestClient, engine: Engine, baseline: dict[str, int]
) -> None:
    events = [
        {"eventType": 29, "eventData": {"codCurso": "1", **CREDS}},
        {"eventType": 404, "eventData": {"codCurso": "2", **CREDS}},
    ]
    reply = client.patch("/api/sendEvent", json={**SEND_EVENT, "event": events, "event_id": "e-1"})
    assert_refused(reply, 422, "event[1].eventType")
    assert row_counts(engine) == baseline
    # The failed call did not keep its idempotency key: a corrected resend is recorded.
    events[1]["eventType"] = 29
    reply = client.patch("/api/sendEvent", json={**SEND_EVENT, "event": events, "event_id": "e-1"})
    assert reply.json() == {"success": True, "dados": 2}
    assert row_counts(engine)["events"] == baseline["events"] + 2


# --- routing ---------------------------------------------------------------------------------


def test_unknown_endpoint_and_wrong_method_are_json(client: TestClient) -> None:
    assert_refused(client.patch("/api/naoExiste", json={}), 404)
    assert_refused(client.get("/api/identify"), 405)
    assert_refused(client.delete("/api/sendEvent"), 405)


# --- property: arbitrary documents never cause a 500 ----------------------------------------

_IDENTIFY_NAMES = sorted(IdentifyBody.__struct_fields__)
_EVENT_NAMES = sorted(EventFields.__struct_fields__)
_SEND_EVENT_NAMES = sorted({*SendEventBody.__struct_fields__, *SendEventV2Body.__struct_fields__})

_text = st.text(st.characters(codec="utf-8"), max_size=40)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
    st.sampled_from(
        [
            "",
            " ",
            "29",
            "inscricao",
            "maria@example.com",
            "(11) 98765-4321",
            "529.982.247-25",
            "2024-05-01 10:00:00",
            "2024-05-01T10:00:00+00:00",
            "9999-12-31 23:59:59",
            "9" * 20,
            "9" * 45,
            SEED_HOST_CLIENT,
            SEED_TOKEN,
            SEED_SESSION,
            "a\x00b",
            "x" * 300,
        ]
    ),
)


def _json_values(names: list[str]) -> st.SearchStrategy[Any]:
    keys = st.one_of(st.sampled_from(names), _text)
    return st.recursive(
        _scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)
        ),
        max_leaves=25,
    )


def _objects(names: list[str], values: st.SearchStrategy[Any], **fixed: Any) -> Any:
    """Objects mixing real field names (`fixed` ones given a value of their own kind) with
    random names, starting from nothing, from valid credentials or from a valid body."""
    keys = st.one_of(st.sampled_from(names), _text)
    random = st.dictionaries(keys, values, max_size=8)
    chosen = st.fixed_dictionaries({}, optional=fixed)
    start = st.sampled_from([{}, CREDS, {"hostClient": SEED_HOST_CLIENT, **CREDS}])
    return st.tuples(start, chosen, random).map(lambda parts: {**parts[0], **parts[1], **parts[2]})


_EVENT_TYPE = st.one_of(st.sampled_from([29, "29", 30, "inscricao", None]), _scalars)
_values = _json_values(sorted({*_IDENTIFY_NAMES, *_EVENT_NAMES, *_SEND_EVENT_NAMES}))
_pessoa = st.one_of(_objects(["id", "codigo"], _values, id=_scalars, codigo=_scalars), _values)
_event_fields = st.one_of(
    _objects(_EVENT_NAMES, _values, tipo=_EVENT_TYPE, codTipo=_EVENT_TYPE, pessoa=_pessoa),
    _values,
)
_seed_items = st.one_of(
    st.lists(
        _objects(
            ["eventType", "codEventType", "eventData"],
            _values,
            eventType=_EVENT_TYPE,
            codEventType=_EVENT_TYPE,
            eventData=_event_fields,
        ),
        min_size=1,
        max_size=3,
    ),
    _values,
)
_valid_ids = st.sampled_from([SEED_SESSION, "1" * 45, "evt-1", "pedido-42"])
_ids = st.one_of(_valid_ids, _valid_ids, _valid_ids, _scalars)


def _changes(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """One to three real fields given arbitrary values."""
    values = st.one_of(_scalars, _scalars, _values)
    return st.dictionaries(st.sampled_from(names), values, min_size=1, max_size=3)


_identify_documents = st.one_of(
    _objects(_IDENTIFY_NAMES, _values, evento=_event_fields),
    _changes(_IDENTIFY_NAMES).map(lambda change: {**IDENTIFY, **change}),
    _event_fields.map(lambda evento: {**IDENTIFY, "evento": evento}),
)
_v1_documents = st.one_of(
    _objects(
        _SEND_EVENT_NAMES,
        _values,
        event=_seed_items,
        session_id=_ids,
        event_id=_ids,
        hostClient=st.just(SEED_HOST_CLIENT),
    ),
    _changes(_SEND_EVENT_NAMES).map(lambda change: {**SEND_EVENT, **change}),
    st.tuples(_ids, _seed_items).map(
        lambda pair: {**SEND_EVENT, "event_id": pair[0], "event": pair[1]}
    ),
    _changes(_EVENT_NAMES).map(
        lambda change: {
            **SEND_EVENT,
            "event": [{"eventType": 29, "eventData": {**CREDS, "codCurso": "1", **change}}],
        }
    ),
)
_v2_documents = st.one_of(
    _objects(
        _SEND_EVENT_NAMES,
        _values,
        event=_event_fields,
        session_id=_ids,
        event_id=_ids,
        hostClient=st.just(SEED_HOST_CLIENT),
    ),
    _changes(_SEND_EVENT_NAMES).map(lambda change: {**SEND_EVENT_V2, **change}),
    _changes(_EVENT_NAMES).map(
        lambda change: {**SEND_EVENT_V2, "event": {**SEND_EVENT_V2["event"], **change}}
    ),
)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    call=st.one_of(
        st.tuples(st.sampled_from(["/api/identify", "/api/v2/sendData"]), _identify_documents),
        st.tuples(st.just("/api/sendEvent"), _v1_documents),
        st.tuples(st.just("/api/v2/sendEvent"), _v2_documents),
    )
)
def test_arbitrary_documents_never_cause_a_server_error(
    client: TestClient, seed_tenant: SeedTenant, call: tuple[str, dict[str, Any]]
) -> None:
    path, document = call
    reply = client.patch(
        path, content=json.dumps(document), headers={"content-type": "application/json"}
    )
    assert reply.status_code < 500, (document, reply.text)
    assert "Traceback" not in reply.text
    body = reply.json()
    assert body["success"] is (reply.status_code == 200)
    if reply.status_code != 200:
        assert isinstance(body["error"], str) and body["error"]
