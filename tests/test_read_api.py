"""The read API as an integration sees it: a contact's timeline (order, content, pages of a
cursor, merged ids), the contacts list (filters, accent- and case-insensitive search),
authentication by a channel token, and bad parameters refused with the parameter named.
Built on the data set of test_reports.py; runs on SQLite and PostgreSQL."""

from __future__ import annotations

from html import unescape
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from pegada.api.read import READ_ENDPOINTS, encode_cursor
from tests.conftest import SeedTenant
from tests.test_reports import (
    S1,
    DataSet,
    build_dataset,
    dados,
    get,
    identify,
)

S5 = "500000000000000000000000000000051567525958427"
S6 = "600000000000000000000000000000061567525958427"
TIMELINE = "/api/v1/contacts/{}/timeline"


@pytest.fixture
def data(
    client: TestClient, engine: Engine, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> DataSet:
    return build_dataset(client, engine, seed_tenant, other_tenant)


def refused(reply: Any, status: int, field: str) -> dict[str, Any]:
    assert "Traceback" not in reply.text
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = reply.json()
    assert body["success"] is False
    assert field in body["fields"], body
    assert field in body["error"], body
    return body


def every_page(
    client: TestClient, tenant: SeedTenant, path: str, **params: Any
) -> list[list[dict[str, Any]]]:
    """Follow `next_cursor` to the end; the pages' items."""
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    for _ in range(50):
        extra = {"cursor": cursor} if cursor else {}
        page = dados(client, tenant, path, **params, **extra)
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ended")


# --- timeline --------------------------------------------------------------------------------


def test_timeline_lists_visits_with_pages_events_and_submissions_newest_first(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    clock = data.clock

    def local(days_ago: int, hour: int, minute: int = 0) -> str:
        return clock.at(days_ago, hour, minute).isoformat(timespec="seconds")

    timeline = dados(client, seed_tenant, TIMELINE.format(data.joao))
    assert timeline["contact"]["id"] == data.joao
    assert timeline["contact"]["nome"] == "João da Silva"
    assert timeline["contact"]["channel"] == "Mídia paga"  # first touch
    assert timeline["redirected_from"] is None and timeline["order"] == "desc"
    assert timeline["next_cursor"] is None
    items = timeline["items"]
    assert [(i["kind"], i["at"]) for i in items[1:]] == [
        ("event", local(0, 11)),
        ("visit", local(0, 9)),
        ("event", local(2, 12)),
        ("visit", local(5, 10)),
    ]
    submission = items[0]
    assert submission["kind"] == "submission" and submission["endpoint"] == "identify"
    assert submission["channel"] == {"origem": seed_tenant.origem, "name": "Site"}
    assert submission["session_id"] == S1
    assert submission["data"]["nome"] == "João da Silva"
    assert "token" not in submission["data"]

    today_event, today_visit, crm_event, ad_visit = items[1:]
    assert today_event["type"] == {"id": 29, "codigo": "inscricao", "titulo": "Inscrição no curso"}
    assert today_event["channel"] == "Acesso direto"  # the visit S1 was in
    assert today_event["visit_id"] == today_visit["id"]
    assert today_event["session_id"] == S1
    assert crm_event["channel"] is None and crm_event["session_id"] is None

    assert today_visit["channel"] == "Acesso direto"
    assert [p["url"] for p in today_visit["pages"]] == ["https://www.escola.edu.br/inscricao"]

    landing = "https://www.escola.edu.br/?utm_source=google&utm_medium=cpc&utm_campaign=vest"
    assert {k: ad_visit[k] for k in ad_visit if k not in ("id", "pages")} == {
        "kind": "visit",
        "at": local(5, 10),
        "ended_at": local(5, 10, 2),
        "duration_seconds": 120,
        "session_id": S1,
        "landing_url": landing,
        "exit_url": "https://www.escola.edu.br/cursos/direito",
        "page_count": 3,
        "referrer": None,
        "channel": "Mídia paga",
        "source": "google",
        "medium": "cpc",
        "campaign": "vest",
        "utm": {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "vest"},
        "device": {"type": "desktop", "os": "Windows", "browser": "Chrome"},
    }
    assert ad_visit["pages"] == [
        {
            "at": local(5, 10, 0),
            "url": landing,
            "title": "Página /?utm_source=google&utm_medium=cpc&utm_campaign=vest",
            "seq": 1,
            "seconds_on_page": 60,
        },
        {
            "at": local(5, 10, 1),
            "url": "https://www.escola.edu.br/cursos",
            "title": "Página /cursos",
            "seq": 2,
            "seconds_on_page": 60,
        },
        {
            "at": local(5, 10, 2),
            "url": "https://www.escola.edu.br/cursos/direito",
            "title": "Página /cursos/direito",
            "seq": 3,
            "seconds_on_page": None,
        },
    ]


def test_timeline_oldest_first_is_the_same_list_reversed(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    newest = dados(client, seed_tenant, TIMELINE.format(data.joao))["items"]
    oldest = dados(client, seed_tenant, TIMELINE.format(data.joao), order="asc")
    assert oldest["order"] == "asc"
    assert oldest["items"] == newest[::-1]


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_timeline_pages_through_a_cursor(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet, order: str, limit: int
) -> None:
    whole = dados(client, seed_tenant, TIMELINE.format(data.joao), order=order)["items"]
    pages = every_page(client, seed_tenant, TIMELINE.format(data.joao), order=order, limit=limit)
    assert [item for page in pages for item in page] == whole
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit


def test_items_with_the_same_time_are_neither_skipped_nor_repeated(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    """An identify with a nested event writes the submission and the event at one moment;
    ties are ordered by kind, and a page boundary between them loses nothing."""
    contact = identify(
        client,
        seed_tenant,
        S5,
        nome="Ana Lima",
        emailPrincipal="ana@example.com",
        evento={"tipo": 29, "descricao": "inscrita"},
    )
    whole = dados(client, seed_tenant, TIMELINE.format(contact))["items"]
    assert [i["kind"] for i in whole] == ["submission", "event"]
    assert whole[0]["at"] == whole[1]["at"]
    for order in ("desc", "asc"):
        pages = every_page(client, seed_tenant, TIMELINE.format(contact), order=order, limit=1)
        seen = [item for page in pages for item in page]
        expected = whole if order == "desc" else whole[::-1]
        assert [(i["kind"], i["id"]) for i in seen] == [(i["kind"], i["id"]) for i in expected]


def test_a_contact_without_tracking_has_only_its_submission(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    timeline = dados(client, seed_tenant, TIMELINE.format(data.carlos))
    assert timeline["contact"]["channel"] == "Desconhecida"
    assert [i["kind"] for i in timeline["items"]] == ["submission"]
    assert timeline["items"][0]["endpoint"] == "Contato/cadastro"


def test_a_merged_contact_shows_its_survivor_with_the_merge(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    """Two browsers, two contacts; then the second one's form carries the first one's
    e-mail too: one person, merged into the older contact."""
    older = identify(client, seed_tenant, S5, nome="Bia Rocha", emailPrincipal="bia@example.com")
    newer = identify(
        client,
        seed_tenant,
        S6,
        nome="Bia Rocha",
        cpf="111.444.777-35",
        telefonePrincipal="(21) 99999-0000",
    )
    again = identify(
        client,
        seed_tenant,
        S6,
        nome="Bia Rocha",
        cpf="111.444.777-35",
        emailPrincipal="bia@example.com",
    )
    assert again == older and newer != older
    timeline = dados(client, seed_tenant, TIMELINE.format(newer))
    assert timeline["contact"]["id"] == older
    assert timeline["redirected_from"] == newer
    merges = [i for i in timeline["items"] if i["kind"] == "merge"]
    assert len(merges) == 1
    assert merges[0]["role"] == "survivor"
    assert (merges[0]["survivor_id"], merges[0]["merged_id"]) == (older, newer)
    assert merges[0]["unmerged_at"] is None
    # Both browsers' submissions are on the survivor's timeline now.
    sessions = {i["session_id"] for i in timeline["items"] if i["kind"] == "submission"}
    assert sessions == {S5, S6}
    listed = dados(client, seed_tenant, "/api/v1/contacts", q="bia")["items"]
    assert [c["id"] for c in listed] == [older]


# --- contacts list ---------------------------------------------------------------------------


def names(client: TestClient, tenant: SeedTenant, **params: Any) -> list[str]:
    return [c["nome"] for c in dados(client, tenant, "/api/v1/contacts", **params)["items"]]


def test_contacts_newest_first_with_their_touches(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    listed = dados(client, seed_tenant, "/api/v1/contacts")
    assert [c["nome"] for c in listed["items"]] == [
        "Carlos Pereira",
        "Maria Conceição Souza",
        "João da Silva",
    ]
    assert listed["next_cursor"] is None
    joao = listed["items"][2]
    assert joao["id"] == data.joao
    assert (joao["emailPrincipal"], joao["cpf"]) == ("joao.silva@example.com", "52998224725")
    assert joao["channel"] == "Mídia paga"
    assert joao["first_touch"]["campaign"] == "vest"
    assert joao["first_touch"]["at"] == data.clock.at(5, 10).isoformat(timespec="seconds")
    assert joao["last_touch"]["channel"] == "Acesso direto"
    assert listed["items"][0]["first_touch"] == {"channel": "Desconhecida"}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("joao", ["João da Silva"]),
        ("JOÃO", ["João da Silva"]),
        ("SILVA", ["João da Silva"]),
        ("joao silva", ["João da Silva"]),
        ("conceicao", ["Maria Conceição Souza"]),
        ("Maria SOUZA", ["Maria Conceição Souza"]),
        ("maria@example", ["Maria Conceição Souza"]),
        ("529.982.247-25", ["João da Silva"]),
        ("52998224725", ["João da Silva"]),
        ("(11) 98765-4321", ["João da Silva"]),
        ("98765 4321", ["João da Silva"]),
        ("987654321", ["João da Silva"]),
        ("+55 11 98765-4321", ["João da Silva"]),
        ("example.com", ["Carlos Pereira", "Maria Conceição Souza", "João da Silva"]),
        ("joao maria", []),
        ("100%", []),
        ("_", []),
        ("   ", ["Carlos Pereira", "Maria Conceição Souza", "João da Silva"]),
    ],
)
def test_search_ignores_accents_case_and_punctuation(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet, q: str, expected: list[str]
) -> None:
    assert names(client, seed_tenant, q=q) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"channel": "Mídia paga"}, ["João da Silva"]),
        ({"channel": "Social"}, ["Maria Conceição Souza"]),
        ({"channel": "Desconhecida"}, ["Carlos Pereira"]),
        ({"channel": "Email"}, []),
        ({"campaign": "vest"}, ["João da Silva"]),
        ({"campaign": "outra"}, []),
        ({"event_type": 29}, ["João da Silva"]),
        ({"event_type": 30}, ["Maria Conceição Souza"]),
        ({"event_type": 31}, []),
        ({"channel": "Mídia paga", "event_type": 30}, []),
        ({"q": "silva", "event_type": 29, "channel": "Mídia paga"}, ["João da Silva"]),
    ],
)
def test_contact_filters(
    client: TestClient,
    seed_tenant: SeedTenant,
    data: DataSet,
    params: dict[str, Any],
    expected: list[str],
) -> None:
    assert names(client, seed_tenant, **params) == expected


def test_created_between_days_of_the_tenant(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    today, yesterday = data.clock.day(0).isoformat(), data.clock.day(1).isoformat()
    assert len(names(client, seed_tenant, created_from=today)) == 3
    assert len(names(client, seed_tenant, created_from=today, created_to=today)) == 3
    assert names(client, seed_tenant, created_to=yesterday) == []
    tomorrow = data.clock.day(-1).isoformat()
    assert names(client, seed_tenant, created_from=tomorrow) == []


def test_contacts_page_through_a_cursor(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    pages = every_page(client, seed_tenant, "/api/v1/contacts", limit=2)
    assert [[c["nome"] for c in page] for page in pages] == [
        ["Carlos Pereira", "Maria Conceição Souza"],
        ["João da Silva"],
    ]
    filtered = every_page(client, seed_tenant, "/api/v1/contacts", limit=1, q="example.com")
    assert [len(page) for page in filtered] == [1, 1, 1]


def test_another_tenant_lists_only_its_contacts(
    client: TestClient, other_tenant: SeedTenant, data: DataSet
) -> None:
    assert names(client, other_tenant) == ["João Outro"]
    assert names(client, other_tenant, q="silva") == []


# --- authentication and isolation ------------------------------------------------------------


@pytest.mark.parametrize("endpoint", READ_ENDPOINTS, ids=lambda e: e.path)
@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer not-a-token"],
)
def test_every_read_endpoint_needs_a_channel_token(
    client: TestClient, seed_tenant: SeedTenant, endpoint: Any, header: str | None
) -> None:
    path = endpoint.path.replace("{id}", "1")
    headers = {} if header is None else {"Authorization": header}
    reply = client.get(path, headers=headers)
    refused(reply, 401, "Authorization")
    assert reply.headers["WWW-Authenticate"].startswith('Bearer realm="pegada"')


NO_TOKEN = 'Bearer realm="pegada"'
WRONG_TOKEN = 'Bearer realm="pegada", error="invalid_token"'


@pytest.mark.parametrize(
    ("header", "challenge"),
    [
        (None, NO_TOKEN),
        ("", NO_TOKEN),
        ("Bearer ", NO_TOKEN),
        ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", NO_TOKEN),
        ("Bearer not-a-token", WRONG_TOKEN),
        ("bearer " + "0" * 32, WRONG_TOKEN),
    ],
)
def test_a_refusal_says_to_send_a_bearer_token(
    client: TestClient, seed_tenant: SeedTenant, header: str | None, challenge: str
) -> None:
    """RFC 6750 §3: every 401 names the scheme and realm; `invalid_token` only when a token
    was sent (malformed, or of no tenant)."""
    headers = {} if header is None else {"Authorization": header}
    reply = client.get("/api/v1/contacts", headers=headers)
    refused(reply, 401, "Authorization")
    assert reply.headers["WWW-Authenticate"] == challenge
    accepted = client.get(
        "/api/v1/contacts", headers={"Authorization": f"Bearer {seed_tenant.token}"}
    )
    assert accepted.status_code == 200, accepted.text
    assert "WWW-Authenticate" not in accepted.headers


def test_an_unknown_token_is_refused(client: TestClient, seed_tenant: SeedTenant) -> None:
    reply = client.get("/api/v1/reports/overview", headers={"Authorization": "Bearer " + "0" * 32})
    refused(reply, 401, "Authorization")
    lower = client.get("/api/v1/contacts", headers={"authorization": f"bearer {seed_tenant.token}"})
    assert lower.status_code == 200, lower.text


def test_another_tenants_contact_is_not_found(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant, data: DataSet
) -> None:
    refused(get(client, other_tenant, TIMELINE.format(data.joao)), 404, "id")
    refused(get(client, seed_tenant, TIMELINE.format(999_999)), 404, "id")


# --- bad parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (TIMELINE.format("abc"), {}, "id"),
        (TIMELINE.format("0"), {}, "id"),
        (TIMELINE.format("99999999999999999999999"), {}, "id"),
        (TIMELINE.format("1"), {"order": "up"}, "order"),
        (TIMELINE.format("1"), {"limit": "0"}, "limit"),
        (TIMELINE.format("1"), {"limit": "501"}, "limit"),
        (TIMELINE.format("1"), {"limit": "ten"}, "limit"),
        (TIMELINE.format("1"), {"limit": "1.5"}, "limit"),
        (TIMELINE.format("1"), {"cursor": "%%%"}, "cursor"),
        (TIMELINE.format("1"), {"cursor": "WzFd"}, "cursor"),  # [1]
        (TIMELINE.format("1"), {"cursor": "e30"}, "cursor"),  # {}
        (TIMELINE.format("1"), {"cursor": "x" * 600}, "cursor"),
        ("/api/v1/contacts", {"created_from": "2025-02-30"}, "created_from"),
        ("/api/v1/contacts", {"created_from": "30/01/2025"}, "created_from"),
        ("/api/v1/contacts", {"created_from": "0001-01-01"}, "created_from"),
        (
            "/api/v1/contacts",
            {"created_from": "2025-02-02", "created_to": "2025-02-01"},
            "created_from",
        ),
        ("/api/v1/contacts", {"event_type": "inscricao"}, "event_type"),
        ("/api/v1/contacts", {"q": "a" * 201}, "q"),
        ("/api/v1/contacts", {"q": "a b c d e f g h i"}, "q"),
        ("/api/v1/contacts", {"q": "nul\x00"}, "q"),
        ("/api/v1/contacts", {"channel": "x" * 41}, "channel"),
        ("/api/v1/contacts", {"cursor": "WyJvZmZzZXQiLDJd"}, "cursor"),  # a report's cursor
        ("/api/v1/contacts", {"sort": "name"}, "sort"),
        ("/api/v1/reports/overview", {"from": "2025-1-1"}, "from"),
        ("/api/v1/reports/overview", {"to": "tomorrow"}, "to"),
        ("/api/v1/reports/overview", {"from": "2025-03-02", "to": "2025-03-01"}, "from"),
        ("/api/v1/reports/overview", {"from": "2000-01-01", "to": "2025-01-01"}, "from"),
        ("/api/v1/reports/overview", {"limit": "5"}, "limit"),
        ("/api/v1/reports/breakdown", {}, "by"),
        ("/api/v1/reports/breakdown", {"by": "city"}, "by"),
        ("/api/v1/reports/breakdown", {"by": "channel", "cursor": "WyJvZmZzZXQiLC0xXQ"}, "cursor"),
        ("/api/v1/reports/timeseries", {}, "metric"),
        ("/api/v1/reports/timeseries", {"metric": "revenue"}, "metric"),
        ("/api/v1/reports/top-pages", {"limit": "-1"}, "limit"),
        ("/api/v1/reports/events", {"to": "2025-13-01"}, "to"),
        ("/api/v1/reports/completeness", {"from": "2025-01-01T00:00"}, "from"),
    ],
)
def test_bad_parameters_are_refused_naming_them(
    client: TestClient, seed_tenant: SeedTenant, path: str, params: dict[str, str], field: str
) -> None:
    reply = client.get(
        path, params=params, headers={"Authorization": f"Bearer {seed_tenant.token}"}
    )
    refused(reply, 422, field)


@pytest.mark.parametrize(
    "values",
    [
        ["desc", "2025-01-01T00:00:00+00:00", "visit", 10**30],
        ["desc", "2025-01-01T00:00:00+00:00", "visit", -1],
        ["desc", "2025-01-01T00:00:00+00:00", "visit", True],
        ["desc", "2025-01-01T00:00:00+00:00", "page", 1],
        ["desc", "2025-01-01T00:00:00", "visit", 1],
        ["desc", "0001-01-01T00:00:00+05:00", "visit", 1],
        ["desc", "9999-12-31T23:59:59-05:00", "visit", 1],
        ["desc", "yesterday", "visit", 1],
        ["desc", 20250101, "visit", 1],
    ],
)
def test_forged_timeline_cursors_are_refused(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet, values: list[Any]
) -> None:
    reply = get(client, seed_tenant, TIMELINE.format(data.joao), cursor=encode_cursor(values))
    refused(reply, 422, "cursor")


@pytest.mark.parametrize(
    "values",
    [
        ["contacts", "2025-01-01T00:00:00+00:00", 2**63],
        ["contacts", "0001-01-01T00:00:00+05:00", 1],
        ["contacts", "2025-01-01T00:00:00+00:00"],
        ["offset", 2],
    ],
)
def test_forged_contact_cursors_are_refused(
    client: TestClient, seed_tenant: SeedTenant, values: list[Any]
) -> None:
    reply = get(client, seed_tenant, "/api/v1/contacts", cursor=encode_cursor(values))
    refused(reply, 422, "cursor")


def test_a_repeated_parameter_is_refused(client: TestClient, seed_tenant: SeedTenant) -> None:
    reply = client.get(
        "/api/v1/contacts?limit=1&limit=2",
        headers={"Authorization": f"Bearer {seed_tenant.token}"},
    )
    refused(reply, 422, "limit")


def test_a_timeline_cursor_is_bound_to_its_order(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    first = dados(client, seed_tenant, TIMELINE.format(data.joao), limit=1)
    reply = get(
        client,
        seed_tenant,
        TIMELINE.format(data.joao),
        order="asc",
        cursor=first["next_cursor"],
    )
    refused(reply, 422, "cursor")


# --- documentation ---------------------------------------------------------------------------


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    reply = client.get("/openapi.json")
    assert reply.status_code == 200
    parsed: dict[str, Any] = reply.json()
    return parsed


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_read_endpoints_are_described_with_their_parameters(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for endpoint in READ_ENDPOINTS:
        operation = document["paths"][endpoint.path]["get"]
        assert operation["summary"] and operation["description"]
        assert operation["security"] == [{"bearer": []}]
        assert [p["name"] for p in operation["parameters"]] == [p.name for p in endpoint.params]
        for parameter in operation["parameters"]:
            assert parameter["in"] in ("query", "path") and parameter["description"]
        assert {"200", "401", "422"} <= set(operation["responses"])
        example = operation["responses"]["200"]["content"]["application/json"]["example"]
        assert example["success"] is True
    breakdown = document["paths"]["/api/v1/reports/breakdown"]["get"]["parameters"]
    by = next(p for p in breakdown if p["name"] == "by")
    assert by["required"] is True
    assert by["schema"]["enum"] == [
        "channel",
        "source_medium_campaign",
        "landing_page",
        "device",
        "browser",
        "os",
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_docs_page_lists_the_read_endpoints(client: TestClient) -> None:
    page = unescape(client.get("/docs").text)
    for endpoint in READ_ENDPOINTS:
        assert endpoint.path in page
        assert endpoint.summary in page
    assert "created_from" in page and "next_cursor" in page
