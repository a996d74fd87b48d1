"""First and last touch of a contact (SPEC §6, issue 4): the first is its first visit ever,
across all its sessions — also one revealed later (hits before identify, a second browser
identified later, a queued hit that arrives late); the last is the visit in which it was
identified. A contact with no tracking at all is "Desconhecida". Events sent by a server
with a `session_id` are credited to that session's visit. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from pegada.storage.tables import contacts, events, visits
from tests.conftest import SEED_HOST_CLIENT, SEED_ORIGEM, SEED_TOKEN, SeedTenant
from tests.test_collector import OTHER_SESSION, SESSION, SITE, hit, identify, now_ms, send
from tests.test_visits import MINUTE, PAID, PAID_LP, moment, visits_of

ORGANIC_REFERRER = "https://www.google.com.br/"
FACEBOOK = f"{SITE}/?utm_source=facebook&utm_medium=social&utm_campaign=inverno"


def touches(engine: Engine, contact_id: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    with engine.connect() as conn:
        row = conn.execute(
            select(contacts.c.first_touch, contacts.c.last_touch, contacts.c.first_channel).where(
                contacts.c.id == int(contact_id)
            )
        ).one()
    return row.first_touch, row.last_touch, row.first_channel


def details(client: TestClient, contact_id: str) -> dict[str, Any]:
    reply = client.post(
        "/api/Contato/dadosPessoa",
        json={"id": contact_id, "origem": SEED_ORIGEM, "token": SEED_TOKEN},
    )
    assert reply.status_code == 200, reply.text
    dados: dict[str, Any] = reply.json()["dados"]
    return dados


def test_first_touch_is_the_visit_before_identify(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 10 * MINUTE
    send(
        client,
        [
            hit(1, PAID, ts=t0, r="https://www.google.com/", lp=PAID_LP),
            hit(2, f"{SITE}/cursos", ts=t0 + MINUTE, r=PAID),
        ],
    )
    contact_id = identify(client, seed_tenant, SESSION, emailPrincipal="ana@example.com")
    (visit,) = visits_of(engine)
    first, last, first_channel = touches(engine, contact_id)
    assert first == {
        "channel": "Mídia paga",
        "source": "google",
        "medium": "cpc",
        "campaign": "vestibular",
        "landing_url": PAID,
        "at": moment(t0).isoformat(),
        "visit_id": visit.id,
    }
    assert last == first
    assert first_channel == "Mídia paga"


def test_an_earlier_visit_of_a_second_browser_becomes_the_first_touch(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 180 * MINUTE
    # On the computer, today: from an organic search; identified.
    send(client, [hit(1, f"{SITE}/", ts=t0 + 120 * MINUTE, r=ORGANIC_REFERRER)])
    contact_id = identify(client, seed_tenant, SESSION, emailPrincipal="bia@example.com")
    assert touches(engine, contact_id)[0]["channel"] == "Busca orgânica"
    # On the phone, earlier: from an ad; identified later as the same person.
    send(client, [hit(1, PAID, ts=t0, lp=PAID_LP)], session=OTHER_SESSION)
    same = identify(client, seed_tenant, OTHER_SESSION, emailPrincipal="bia@example.com")
    assert same == contact_id
    first, last, first_channel = touches(engine, contact_id)
    (phone_visit,) = visits_of(engine, OTHER_SESSION)
    assert (first["channel"], first["visit_id"], first_channel) == (
        "Mídia paga",
        phone_visit.id,
        "Mídia paga",
    )
    # The latest identify was on the phone, in that visit.
    assert last["visit_id"] == phone_visit.id


def test_a_late_hit_revealing_an_earlier_visit_updates_the_first_touch(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 120 * MINUTE
    send(client, [hit(2, f"{SITE}/cursos", ts=t0 + 90 * MINUTE)])
    contact_id = identify(client, seed_tenant, SESSION, emailPrincipal="caio@example.com")
    first, last, _ = touches(engine, contact_id)
    assert first["channel"] == last["channel"] == "Acesso direto"
    # The ad landing, an hour and a half before, was queued in the browser.
    send(client, [hit(1, PAID, ts=t0, r="https://www.google.com/", lp=PAID_LP)])
    early, later = visits_of(engine)
    first, last, first_channel = touches(engine, contact_id)
    assert (first["channel"], first["visit_id"], first_channel) == (
        "Mídia paga",
        early.id,
        "Mídia paga",
    )
    assert (last["channel"], last["visit_id"]) == ("Acesso direto", later.id)


def test_a_queued_landing_of_the_converting_visit_updates_both_touches(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 10 * MINUTE
    send(client, [hit(2, f"{SITE}/inscricao", ts=t0 + MINUTE)])
    contact_id = identify(client, seed_tenant, SESSION, emailPrincipal="davi@example.com")
    send(client, [hit(1, PAID, ts=t0, lp=PAID_LP)])
    (visit,) = visits_of(engine)
    first, last, _ = touches(engine, contact_id)
    assert first["channel"] == last["channel"] == "Mídia paga"
    assert first["visit_id"] == last["visit_id"] == visit.id
    assert first["landing_url"] == PAID


def test_last_touch_is_the_visit_in_which_identify_happened(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 240 * MINUTE
    send(client, [hit(1, PAID, ts=t0, lp=PAID_LP)])
    send(client, [hit(2, f"{SITE}/", ts=t0 + 220 * MINUTE, r=ORGANIC_REFERRER)])
    send(client, [hit(3, f"{SITE}/inscricao", ts=now_ms() - 1000)])
    contact_id = identify(client, seed_tenant, SESSION, emailPrincipal="eli@example.com")
    # After the conversion, another campaign brings the contact back.
    send(client, [hit(4, FACEBOOK, ts=now_ms())])
    paid, organic, social = visits_of(engine)
    assert social.channel_type == "Social"
    first, last, _ = touches(engine, contact_id)
    assert (first["channel"], first["visit_id"]) == ("Mídia paga", paid.id)
    assert (last["channel"], last["visit_id"]) == ("Busca orgânica", organic.id)
    assert last["landing_url"] == f"{SITE}/"


def test_last_touch_with_a_browser_clock_a_little_fast(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """The landing is stamped by the browser's clock, the identify by the server's: a
    clock two minutes fast must not credit the conversion to the visit before."""
    t0 = now_ms() - 180 * MINUTE
    send(client, [hit(1, f"{SITE}/", ts=t0, r=ORGANIC_REFERRER)])
    send(client, [hit(2, PAID, ts=now_ms() + 2 * MINUTE, lp=PAID_LP)])
    contact_id = identify(client, seed_tenant, SESSION, emailPrincipal="fabi@example.com")
    organic, paid = visits_of(engine)
    first, last, _ = touches(engine, contact_id)
    assert (first["visit_id"], last["visit_id"]) == (organic.id, paid.id)
    assert last["channel"] == "Mídia paga"


def test_identify_before_any_hit_takes_the_touches_of_the_hits_that_follow(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """The server identified the session while the tracker's hit was still on its way."""
    contact_id = identify(client, seed_tenant, SESSION, emailPrincipal="gil@example.com")
    assert touches(engine, contact_id)[0] == {"channel": "Desconhecida"}
    send(client, [hit(1, PAID, ts=now_ms() - 1000, lp=PAID_LP)])
    (visit,) = visits_of(engine)
    first, last, first_channel = touches(engine, contact_id)
    assert first["visit_id"] == last["visit_id"] == visit.id
    assert first_channel == "Mídia paga"


def test_a_contact_without_tracking_is_desconhecida(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    reply = client.post(
        "/api/Contato/cadastro",
        json={
            "origem": SEED_ORIGEM,
            "token": SEED_TOKEN,
            "nome": "Helena",
            "emailPrincipal": "helena@example.com",
        },
    )
    assert reply.status_code == 200, reply.text
    contact_id = reply.json()["dados"]["id"]
    first, last, first_channel = touches(engine, contact_id)
    assert first == last == {"channel": "Desconhecida"}
    assert first_channel == "Desconhecida"


def test_a_server_event_is_credited_to_the_visit_of_its_session(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """The enrolment, sent by the school's backend with the browser's session_id, counts
    for the ad that brought the visit."""
    t0 = now_ms() - 5 * MINUTE
    send(client, [hit(1, f"{SITE}/", ts=t0 - 120 * MINUTE, r=ORGANIC_REFERRER)])
    send(client, [hit(2, PAID, ts=t0, lp=PAID_LP), hit(3, f"{SITE}/inscricao", ts=t0 + MINUTE)])
    contact_id = identify(client, seed_tenant, SESSION, emailPrincipal="ivo@example.com")
    reply = client.patch(
        "/api/sendEvent",
        json={
            "hostClient": SEED_HOST_CLIENT,
            "session_id": SESSION,
            "event": [
                {
                    "eventType": "29",
                    "eventData": {"origem": SEED_ORIGEM, "token": SEED_TOKEN, "curso": "Direito"},
                }
            ],
        },
    )
    assert reply.status_code == 200, reply.text
    organic, paid = visits_of(engine)
    with engine.connect() as conn:
        (event,) = conn.execute(select(events)).all()
        channel = conn.execute(
            select(visits.c.channel_type).where(visits.c.id == event.visit_id)
        ).scalar_one()
    assert (event.visit_id, event.channel_type, channel) == (paid.id, "Mídia paga", "Mídia paga")
    (shown,) = details(client, contact_id)["eventos"]
    assert (shown["canal"], shown["dados"]["curso"]) == ("Mídia paga", "Direito")
