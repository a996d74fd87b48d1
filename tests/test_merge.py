"""Identity merge (issue 4, item 5): two contacts an authenticated call shows to be one
person (same e-mail, CPF or codigo reached from two devices) become one: the older survives
with both histories (sessions, page accesses, events, keys), the merge is logged with its
reason and undone by `pegada contact unmerge`; first/last touch are recomputed. A page
without a token never merges, a shared phone never merges, and one browser session claiming
many identities is bounded and reported. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from pegada.errors import Conflict, InvalidInput, NotFound
from pegada.identity.contacts import resolve_person
from pegada.identity.merge import merge_contacts, unmerge
from pegada.identity.profile import fold_profiles
from pegada.ids import new_tracking_id
from pegada.storage import merges_repo
from pegada.storage.engine import write_transaction
from pegada.storage.tables import contact_keys, contact_merges, contacts, sessions, submissions
from tests.conftest import SEED_HOST_CLIENT, SeedTenant
from tests.servers import PEGADA, Server, pegada_env, running_servers
from tests.spooled import project_spooled

SITE = "https://www.escola.edu.br"
ORIGIN = {"Origin": SITE}
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
CPF = "529.982.247-25"
CPF_DIGITS = "52998224725"
OTHER_CPF = "111.444.777-35"
DAY_MS = 24 * 3600 * 1000


# --- helpers ---------------------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def send_hits(client: TestClient, session: str, urls: list[str], *, start_ms: int, ua: str) -> None:
    """Page accesses of one browser, a minute apart from `start_ms`, as RBTracking sends."""
    hits = [{"q": i + 1, "u": url, "ts": start_ms + i * 60_000} for i, url in enumerate(urls)]
    reply = client.post(
        "/api/collect",
        content=json.dumps({"h": SEED_HOST_CLIENT, "s": session, "hits": hits}),
        headers={"content-type": "text/plain;charset=UTF-8", "user-agent": ua},
    )
    assert reply.status_code in (200, 202, 204), reply.text
    project_spooled(client)


def identify_reply(
    client: TestClient, tenant: SeedTenant, session: str, **fields: Any
) -> httpx2.Response:
    return client.patch(
        "/api/identify",
        json={
            "hostClient": tenant.host_client,
            "session_id": session,
            "substitute_id": new_tracking_id(),
            **tenant.creds(),
            **fields,
        },
    )


def identify(client: TestClient, tenant: SeedTenant, session: str, **fields: Any) -> str:
    reply = identify_reply(client, tenant, session, **fields)
    assert reply.status_code == 200, reply.text
    contact_id: str = reply.json()["dados"]["id"]
    return contact_id


def browser_send_data(client: TestClient, session: str, **fields: Any) -> httpx2.Response:
    """What RBTracking.sendData posts from a page: no token, an Origin header."""
    body = {
        "substitute_id": new_tracking_id(),
        **fields,
        "hostClient": SEED_HOST_CLIENT,
        "session_id": session,
    }
    return client.patch("/api/v2/sendData", json=body, headers=ORIGIN)


def cadastro(client: TestClient, tenant: SeedTenant, **fields: Any) -> str:
    reply = client.post("/api/Contato/cadastro", json={**tenant.creds(), **fields})
    assert reply.status_code == 200, reply.text
    contact_id: str = reply.json()["dados"]["id"]
    return contact_id


def send_event(client: TestClient, tenant: SeedTenant, session: str, **event: Any) -> None:
    """A server-to-server event on a session (v2 shape)."""
    reply = client.patch(
        "/api/v2/sendEvent",
        json={
            "event": {"tipo": 29, **tenant.creds(), **event},
            "hostClient": tenant.host_client,
            "session_id": session,
        },
    )
    assert reply.status_code == 200, reply.text


def details(client: TestClient, tenant: SeedTenant, **ref: Any) -> dict[str, Any]:
    reply = client.post("/api/Contato/dadosPessoa", json={**tenant.creds(), **ref})
    assert reply.status_code == 200, reply.text
    dados: dict[str, Any] = reply.json()["dados"]
    return dados


def contact_row(engine: Engine, contact_id: str | int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(contacts).where(contacts.c.id == int(contact_id))).one()


def keys_of(engine: Engine, contact_id: str | int) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(contact_keys.c.kind, contact_keys.c.value).where(
                contact_keys.c.contact_id == int(contact_id)
            )
        )
        return {(r.kind, r.value) for r in rows}


def merge_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(contact_merges).order_by(contact_merges.c.id)))


def notes_of(engine: Engine, contact_id: str | int) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(submissions.c.notes)
            .where(submissions.c.contact_id == int(contact_id))
            .order_by(submissions.c.id)
        ).scalars()
        return [note for notes in rows for note in notes]


def session_row(engine: Engine, session_hash: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(sessions).where(sessions.c.session_hash == session_hash)).one()


def tenant_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(contacts.c.tenant_id).limit(1)).scalar_one())


def pegada(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PEGADA, *args],
        env=pegada_env(db_url),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def pegada_json(db_url: str, *args: str) -> Any:
    done = pegada(db_url, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def pegada_fails(db_url: str, *args: str) -> str:
    done = pegada(db_url, *args)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("Error: "), done.stderr
    return done.stderr


def without_update_time(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "atualizadoEm"}


# --- two devices, one person ------------------------------------------------------------------


@pytest.fixture
def two_devices(client: TestClient, seed_tenant: SeedTenant) -> dict[str, str]:
    """Ana on her laptop (identified by e-mail, yesterday, direct access) and on her phone
    (identified by CPF, two days ago, from a Google ad): two contacts, each with its own
    session, page accesses and event. The laptop contact is the older one."""
    laptop, phone = new_tracking_id(), new_tracking_id()
    start = now_ms()
    send_hits(
        client,
        phone,
        [f"{SITE}/?utm_source=google&utm_medium=cpc&utm_campaign=vest25", f"{SITE}/cursos"],
        start_ms=start - 2 * DAY_MS,
        ua=IPHONE,
    )
    send_hits(
        client,
        laptop,
        [f"{SITE}/", f"{SITE}/inscricao"],
        start_ms=start - DAY_MS,
        ua=WINDOWS_CHROME,
    )
    ana = identify(
        client,
        seed_tenant,
        laptop,
        nome="Ana",
        emailPrincipal="ana@example.com",
        tags=["vestibular"],
        camposPersonalizados={"curso": "Direito"},
        assinaturas=[{"id": "newsletter", "status": 1}],
    )
    celular = identify(
        client,
        seed_tenant,
        phone,
        nome="Ana Souza",
        cpf=CPF,
        telefonePrincipal="(11) 98765-4321",
        profissao="Estudante",
        tags=["enem"],
        camposPersonalizados={"curso": "Medicina", "turno": "noite"},
        assinaturas=[{"id": "newsletter", "status": 2}, {"id": "whatsapp", "status": 1}],
    )
    send_event(client, seed_tenant, laptop, codCurso="1", descricao="inscrição no laptop")
    send_event(client, seed_tenant, phone, codCurso="2", descricao="simulado no celular")
    assert int(ana) < int(celular)
    return {"ana": ana, "celular": celular, "laptop": laptop, "phone": phone}


def test_identify_with_both_keys_merges_into_the_older_contact(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, two_devices: dict[str, str]
) -> None:
    ana, celular = two_devices["ana"], two_devices["celular"]
    assert contact_row(engine, ana).first_touch["channel"] == "Acesso direto"
    assert contact_row(engine, celular).first_touch["channel"] == "Mídia paga"

    survivor = identify(
        client, seed_tenant, two_devices["laptop"], emailPrincipal="ana@example.com", cpf=CPF
    )

    assert survivor == ana
    person = details(client, seed_tenant, id=ana)
    assert {s["session_id"] for s in person["sessoes"]} == {
        two_devices["laptop"],
        two_devices["phone"],
    }
    assert [e["dados"]["descricao"] for e in person["eventos"]] == [
        "inscrição no laptop",
        "simulado no celular",
    ]
    assert len(person["acessos"]) == 4
    assert {a["session_id"] for a in person["acessos"]} == {
        two_devices["laptop"],
        two_devices["phone"],
    }
    # The survivor's values win, the other's fill its blanks; lists are unioned.
    assert person["nome"] == "Ana"
    assert person["emailPrincipal"] == "ana@example.com"
    assert person["cpf"] == CPF_DIGITS
    assert person["telefonePrincipal"] == "(11) 98765-4321"
    assert person["profissao"] == "Estudante"
    assert person["tags"] == ["vestibular", "enem"]
    assert person["camposPersonalizados"] == {"curso": "Direito", "turno": "noite"}
    assert person["assinaturas"] == [
        {"id": "newsletter", "status": 1},
        {"id": "whatsapp", "status": 1},
    ]

    # The merged contact's id (and its keys) still reach the person.
    assert details(client, seed_tenant, id=celular)["id"] == ana
    assert identify(client, seed_tenant, new_tracking_id(), cpf=CPF) == ana
    assert ("cpf", CPF_DIGITS) in keys_of(engine, ana)
    assert keys_of(engine, celular) == set()

    [merge] = merge_rows(engine)
    assert (merge.survivor_id, merge.merged_id) == (int(ana), int(celular))
    assert merge.reason == f"cpf {CPF_DIGITS}"
    assert merge.unmerged_at is None
    assert contact_row(engine, celular).merged_into == int(ana)
    assert any(f"contact {celular} merged into {ana}" in note for note in notes_of(engine, ana))

    # First touch: the earliest visit of either device (the phone's ad click).
    first = contact_row(engine, ana).first_touch
    assert first["channel"] == "Mídia paga"
    assert first["campaign"] == "vest25"


def test_unmerge_from_the_cli_restores_both_contacts(
    client: TestClient,
    seed_tenant: SeedTenant,
    engine: Engine,
    db_url: str,
    two_devices: dict[str, str],
) -> None:
    ana, celular = two_devices["ana"], two_devices["celular"]
    before = {c: details(client, seed_tenant, id=c) for c in (ana, celular)}
    keys_before = {c: keys_of(engine, c) for c in (ana, celular)}
    touches_before = {
        c: (contact_row(engine, c).first_touch, contact_row(engine, c).last_touch)
        for c in (ana, celular)
    }
    substitute = new_tracking_id()
    identify(
        client,
        seed_tenant,
        two_devices["laptop"],
        emailPrincipal="ana@example.com",
        cpf=CPF,
        substitute_id=substitute,
    )

    [logged] = pegada_json(db_url, "contact", "merges", SEED_HOST_CLIENT, "--contact", celular)
    assert logged["survivor"] == int(ana) and logged["merged"] == int(celular)
    assert logged["reason"] == f"cpf {CPF_DIGITS}"
    assert logged["unmergedAt"] is None
    assert logged["moved"] == {"sessions": 1, "events": 1, "submissions": 1, "keys": 3}

    undone = pegada_json(db_url, "contact", "unmerge", SEED_HOST_CLIENT, str(logged["id"]))
    assert undone["survivor"] == int(ana) and undone["restored"] == int(celular)
    assert undone["movedBack"] == {"sessions": 1, "events": 1, "submissions": 1, "keys": 3}

    for contact_id in (ana, celular):
        after = details(client, seed_tenant, id=contact_id)
        assert without_update_time(after) == without_update_time(before[contact_id])
        row = contact_row(engine, contact_id)
        assert row.merged_into is None
        assert (row.first_touch, row.last_touch) == touches_before[contact_id]
    # Keys go back; the one the merging call brought (its substitute id) stays where it went.
    assert keys_of(engine, celular) == keys_before[celular]
    assert keys_of(engine, ana) == keys_before[ana] | {("substitute", substitute)}
    [merge] = merge_rows(engine)
    assert merge.unmerged_at is not None
    # The keys work again for their own contacts.
    assert identify(client, seed_tenant, new_tracking_id(), cpf=CPF) == celular

    # Once undone, it cannot be undone again; an unknown merge is named.
    assert "already undone" in pegada_fails(
        db_url, "contact", "unmerge", SEED_HOST_CLIENT, str(logged["id"])
    )
    assert "no such merge" in pegada_fails(db_url, "contact", "unmerge", SEED_HOST_CLIENT, "999")
    human = pegada(db_url, "contact", "merges", SEED_HOST_CLIENT)
    assert human.returncode == 0 and "undone" in human.stdout


def test_crm_cadastro_merges_and_replies_with_the_older_contact(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    older = identify(client, seed_tenant, new_tracking_id(), emailPrincipal="bia@example.com")
    newer = cadastro(client, seed_tenant, codigo="CRM-9", telefonePrincipal="11912345678")
    # Matched by codigo (the newer contact); the e-mail belongs to the older one.
    reply = cadastro(client, seed_tenant, codigo="CRM-9", emailPrincipal="bia@example.com")
    assert reply == older
    [merge] = merge_rows(engine)
    assert (merge.survivor_id, merge.merged_id) == (int(older), int(newer))
    assert merge.reason == "emailPrincipal bia@example.com"
    assert details(client, seed_tenant, codigo="CRM-9")["id"] == older
    assert details(client, seed_tenant, id=newer)["telefonePrincipal"] == "11912345678"


def test_events_for_a_merged_id_land_on_the_survivor(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, two_devices: dict[str, str]
) -> None:
    identify(client, seed_tenant, two_devices["laptop"], emailPrincipal="ana@example.com", cpf=CPF)
    reply = client.post(
        "/api/Evento/cadastro",
        json={**seed_tenant.creds(), "tipo": 29, "pessoa": {"id": two_devices["celular"]}},
    )
    assert reply.status_code == 200, reply.text
    eventos = details(client, seed_tenant, id=two_devices["ana"])["eventos"]
    assert len(eventos) == 3


def test_a_page_without_token_never_merges(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, two_devices: dict[str, str]
) -> None:
    reply = browser_send_data(
        client, new_tracking_id(), emailPrincipal="ana@example.com", cpf=CPF, nome="Ana"
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["dados"]["id"] == two_devices["ana"]
    assert merge_rows(engine) == []
    assert contact_row(engine, two_devices["celular"]).merged_into is None
    assert ("cpf", CPF_DIGITS) in keys_of(engine, two_devices["celular"])
    assert "cpf" not in details(client, seed_tenant, id=two_devices["ana"])
    assert any(
        f"belongs to contact {two_devices['celular']}" in note
        for note in notes_of(engine, two_devices["ana"])
    )


def test_a_shared_phone_does_not_merge(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    mother = cadastro(client, seed_tenant, nome="Mãe", telefonePrincipal="(11) 98765-4321")
    child = cadastro(client, seed_tenant, nome="Filho", emailPrincipal="filho@example.com")
    again = identify(
        client,
        seed_tenant,
        new_tracking_id(),
        emailPrincipal="filho@example.com",
        telefonePrincipal="11 98765-4321",
    )
    assert again == child
    assert merge_rows(engine) == []
    assert details(client, seed_tenant, id=mother)["nome"] == "Mãe"
    assert any(f"belongs to contact {mother}" in note for note in notes_of(engine, child))


def test_two_established_identities_are_noted_not_merged(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """A payload bridging two contacts that already hold different principal e-mails (or
    CPFs, or codigos) is contradictory evidence: noted on the submission, not merged."""
    ana = cadastro(client, seed_tenant, emailPrincipal="ana@example.com")
    bia = cadastro(client, seed_tenant, emailPrincipal="bia@example.com", cpf=CPF)
    assert cadastro(client, seed_tenant, emailPrincipal="ana@example.com", cpf=CPF) == ana
    assert merge_rows(engine) == []
    assert details(client, seed_tenant, id=bia)["cpf"] == CPF_DIGITS
    assert any("which has another emailPrincipal: not merged" in n for n in notes_of(engine, ana))


# --- merge chains and the order of unmerging ---------------------------------------------------


def test_chained_merges_follow_and_unmerge_latest_first(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, db_url: str
) -> None:
    x = identify(client, seed_tenant, new_tracking_id(), emailPrincipal="x@example.com")
    y = identify(client, seed_tenant, new_tracking_id(), cpf=CPF)
    z = cadastro(client, seed_tenant, codigo="Z-1", telefonePrincipal="11912345678")
    # codigo matches z; its CPF belongs to y (older): z merges into y.
    assert identify(client, seed_tenant, new_tracking_id(), codigo="Z-1", cpf=CPF) == y
    # The e-mail matches x; the CPF is now y's: y merges into x.
    assert (
        identify(client, seed_tenant, new_tracking_id(), emailPrincipal="x@example.com", cpf=CPF)
        == x
    )
    first, second = merge_rows(engine)
    assert (first.survivor_id, first.merged_id) == (int(y), int(z))
    assert (second.survivor_id, second.merged_id) == (int(x), int(y))
    assert details(client, seed_tenant, id=z)["id"] == x
    assert details(client, seed_tenant, codigo="Z-1")["id"] == x

    refused = pegada_fails(db_url, "contact", "unmerge", SEED_HOST_CLIENT, str(first.id))
    assert "undo those first" in refused and str(second.id) in refused

    pegada_json(db_url, "contact", "unmerge", SEED_HOST_CLIENT, str(second.id))
    assert details(client, seed_tenant, id=z)["id"] == y
    pegada_json(db_url, "contact", "unmerge", SEED_HOST_CLIENT, str(first.id))
    assert details(client, seed_tenant, id=z)["id"] == z
    assert details(client, seed_tenant, codigo="Z-1")["id"] == z
    assert "cpf" not in details(client, seed_tenant, id=x)
    assert details(client, seed_tenant, id=y)["cpf"] == CPF_DIGITS
    assert keys_of(engine, z) == {("codigo", "Z-1"), ("phone", "5511912345678")}


def test_merge_contacts_refuses_what_makes_no_sense(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    a = int(cadastro(client, seed_tenant, emailPrincipal="a@example.com"))
    b = int(cadastro(client, seed_tenant, emailPrincipal="b@example.com"))
    c = int(cadastro(client, seed_tenant, emailPrincipal="c@example.com"))
    tid = tenant_id(engine)
    now = datetime.now(UTC)
    with write_transaction(engine) as conn:
        with pytest.raises(InvalidInput, match="older contact"):
            merge_contacts(conn, tid, b, a, "test", now)
        with pytest.raises(InvalidInput, match="itself"):
            merge_contacts(conn, tid, a, a, "test", now)
        with pytest.raises(NotFound):
            merge_contacts(conn, tid, a, 10_000, "test", now)
        merge_id = merge_contacts(conn, tid, a, b, "operator: same person", now)
        with pytest.raises(Conflict, match="already merged"):
            merge_contacts(conn, tid, b, c, "test", now)
        with pytest.raises(NotFound):
            unmerge(conn, tid + 1, merge_id, now)  # another tenant's merge is not found
        unmerge(conn, tid, merge_id, now)
        with pytest.raises(Conflict, match="already undone"):
            unmerge(conn, tid, merge_id, now)
    assert contact_row(engine, b).merged_into is None


def test_a_reference_to_a_contact_being_merged_waits_and_follows_the_merge(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """An event naming the merged contact while the merge is under way waits for it and
    lands on the survivor (not on a contact that, once the merge commits, is merged)."""
    a = int(cadastro(client, seed_tenant, emailPrincipal="a@example.com"))
    b = int(cadastro(client, seed_tenant, telefonePrincipal="11912345678"))
    tid = tenant_id(engine)
    resolved: list[int] = []

    def resolve_in_another_transaction() -> None:
        with write_transaction(engine) as conn:
            resolved.append(resolve_person(conn, tid, b, None, field="pessoa"))

    with write_transaction(engine) as conn:
        merge_contacts(conn, tid, a, b, "test", datetime.now(UTC))
        other = threading.Thread(target=resolve_in_another_transaction)
        other.start()
        other.join(timeout=1.0)
        assert other.is_alive() and resolved == []
    other.join(timeout=30)
    assert resolved == [a]


# --- the flood bound ---------------------------------------------------------------------------


def test_one_session_claiming_many_identities_is_bounded_and_reported(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    session = new_tracking_id()
    ids = []
    for n in range(6):
        reply = browser_send_data(client, session, emailPrincipal=f"p{n}@example.com")
        assert reply.status_code == 200, reply.text
        ids.append(reply.json()["dados"]["id"])
    assert len(set(ids)) == 6
    row = session_row(engine, session)
    assert row.contact_id == int(ids[0])  # the session never moves or splits
    assert row.identity_claims == merges_repo.SESSION_CLAIM_BOUND == 5

    # The 7th identity from the page is refused, and nothing of it is stored.
    refused = browser_send_data(client, session, emailPrincipal="p6@example.com")
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["success"] is False and "session_id" in body["fields"]
    assert "different people" in body["error"]
    assert not any(("email", "p6@example.com") in keys_of(engine, i) for i in ids)
    # The session's own person may still send its form from the page.
    again = browser_send_data(client, session, emailPrincipal="p0@example.com", nome="P0")
    assert again.status_code == 200 and again.json()["dados"]["id"] == ids[0]

    # Server to server it is accepted, without touching the session.
    server = identify(client, seed_tenant, session, emailPrincipal="p6@example.com")
    assert server not in ids
    row = session_row(engine, session)
    assert (row.contact_id, row.identity_claims) == (int(ids[0]), 5)
    assert any("session flooded" in note for note in notes_of(engine, server))
    assert any("identity claim 1 of 5" in note for note in notes_of(engine, ids[1]))

    with engine.connect() as conn:
        [flooded] = merges_repo.flooded_sessions(conn, tenant_id(engine))
        assert merges_repo.flooded_sessions(conn, tenant_id(engine) + 1) == []
    assert (flooded.session_hash, flooded.identity_claims, flooded.contact_id) == (
        session,
        5,
        int(ids[0]),
    )
    assert merge_rows(engine) == []


def test_a_merge_by_key_is_not_an_identity_claim(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, two_devices: dict[str, str]
) -> None:
    """Identifying the phone's session with the laptop's e-mail merges the two contacts: the
    session then belongs to the survivor, which is no claim of another identity."""
    assert (
        identify(
            client, seed_tenant, two_devices["phone"], emailPrincipal="ana@example.com", cpf=CPF
        )
        == two_devices["ana"]
    )
    assert session_row(engine, two_devices["phone"]).identity_claims == 0
    assert session_row(engine, two_devices["phone"]).contact_id == int(two_devices["ana"])


# --- profile folding (pure) --------------------------------------------------------------------


def test_fold_profiles_survivor_wins_and_lists_are_unioned() -> None:
    survivor = {
        "nome": "Ana",
        "emailPrincipal": "ana@x.com",
        "email": ["ana.old@x.com"],
        "telefonePrincipal": "",
        "telefone": [],
        "profissao": "  ",
        "tags": ["a"],
        "camposPersonalizados": {"curso": "Direito", "vazio": ""},
        "estadoCidade": {"cidade": "Campinas"},
        "assinaturas": [{"id": "1", "status": 1}],
        "crm": "kept",
    }
    merged = {
        "nome": "Ana Souza",
        "emailPrincipal": "souza@x.com",
        "email": ["ana.old@x.com", "third@x.com"],
        "telefonePrincipal": "(11) 98765-4321",
        "telefone": ["+55 11 98765-4321", "11 3333-4444"],
        "profissao": "Médica",
        "cpf": CPF_DIGITS,
        "tags": ["a", "b"],
        "camposPersonalizados": {"curso": "Medicina", "vazio": "x", "novo": [1, 2]},
        "estadoCidade": {"cidade": "Santos", "estado": "SP"},
        "assinaturas": [{"id": "1", "status": 2}, {"id": "2", "status": 1}],
    }
    folded = fold_profiles(survivor, merged)
    assert folded["nome"] == "Ana"
    assert folded["profissao"] == "Médica"
    assert folded["cpf"] == CPF_DIGITS
    assert folded["crm"] == "kept"
    assert folded["emailPrincipal"] == "ana@x.com"
    assert folded["email"] == ["ana.old@x.com", "souza@x.com", "third@x.com"]
    assert folded["telefonePrincipal"] == "(11) 98765-4321"
    assert folded["telefone"] == ["11 3333-4444"]
    assert folded["tags"] == ["a", "b"]
    assert folded["camposPersonalizados"] == {"curso": "Direito", "vazio": "x", "novo": [1, 2]}
    assert folded["estadoCidade"] == {"cidade": "Campinas", "estado": "SP"}
    assert folded["assinaturas"] == [{"id": "1", "status": 1}, {"id": "2", "status": 1}]
    assert survivor["email"] == ["ana.old@x.com"]  # inputs untouched


# --- concurrency ---------------------------------------------------------------------------------


@pytest.fixture
def servers(db_url: str, seed_tenant: SeedTenant, tmp_path: Path) -> Iterator[list[Server]]:
    with running_servers(db_url, 3, tmp_path / "logs", PEGADA_DB_POOL_SIZE="5") as procs:
        yield procs
        for server in procs:
            assert "Traceback" not in server.output(), server.output()


@pytest.mark.slow
def test_crossing_merges_at_once_end_in_one_survivor_per_pair(
    servers: list[Server], seed_tenant: SeedTenant, engine: Engine
) -> None:
    """Each pair is merged by two CRM calls at once from opposite ends (one names the older
    contact by id and carries the newer one's codigo, the other the reverse with the e-mail):
    both lock one contact and then want the other. Every call succeeds with the survivor."""
    import asyncio

    import httpx

    pairs = []
    with httpx.Client(base_url=servers[0].url, timeout=30) as http:
        for n in range(8):
            replies = [
                http.post(
                    "/api/Contato/cadastro",
                    json={**seed_tenant.creds(), **fields},
                )
                for fields in (
                    {"emailPrincipal": f"pessoa{n}@example.com"},
                    {"codigo": f"C-{n}", "telefonePrincipal": f"1191234{n:04d}"},
                )
            ]
            pairs.append(tuple(r.json()["dados"]["id"] for r in replies))
    bodies = []
    for n, (older, newer) in enumerate(pairs):
        bodies.append({**seed_tenant.creds(), "id": older, "codigo": f"C-{n}"})
        bodies.append(
            {**seed_tenant.creds(), "id": newer, "emailPrincipal": f"pessoa{n}@example.com"}
        )

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=60.0, limits=limits) as http:
            return list(
                await asyncio.gather(
                    *(
                        http.post(servers[i % 3].url + "/api/Contato/cadastro", json=body)
                        for i, body in enumerate(bodies)
                    )
                )
            )

    replies = asyncio.run(send_all())
    problems = [(r.status_code, r.text) for r in replies if r.status_code != 200]
    assert not problems, problems
    for n, (older, _newer) in enumerate(pairs):
        assert replies[2 * n].json()["dados"]["id"] == older
        assert replies[2 * n + 1].json()["dados"]["id"] == older
    rows = merge_rows(engine)
    assert sorted((r.survivor_id, r.merged_id) for r in rows) == sorted(
        (int(o), int(n)) for o, n in pairs
    )
    with engine.connect() as conn:
        live = conn.execute(
            select(func.count()).select_from(contacts).where(contacts.c.merged_into.is_(None))
        ).scalar_one()
    assert live == len(pairs)
