"""`pegada attribution recompute` and `pegada tenant set` as an operator runs them (a real
subprocess on the test database): changed channel rules, a changed idle time or a changed
list of the tenant's own sites are applied again over the stored history — visits, page
views, events and every contact's first and last touch — and running it again changes
nothing. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from pegada.attribution.rules import DEFAULT_RULES_PATH
from pegada.storage.tables import contacts, events, page_views, sessions, tenants, visits
from tests.conftest import SEED_HOST_CLIENT, SEED_ORIGEM, SEED_TOKEN, SeedTenant
from tests.test_cli import Case, assert_clean_failures, ok_json, pegada
from tests.test_collector import OTHER_SESSION, SESSION, SITE, hit, identify, now_ms, send
from tests.test_touches import details, touches
from tests.test_visits import MINUTE, page_counts, visits_of

PORTAL = f"{SITE}/?utm_source=portal&utm_medium=cpc&utm_campaign=vestibular"
ORGANIC_REFERRER = "https://www.google.com.br/"
SECOND_SITE = "https://inscricao.escola.edu.br"


def rules_file(tmp_path: Path, **changes: Any) -> str:
    """A copy of the built-in rules where "portal" is a mapped source, version 2."""
    document = json.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    document["sources"]["portal"] = {"kind": "other", "hosts": ["portal.com.br"]}
    document["version"] = 2
    document.update(changes)
    path = tmp_path / "channels.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def recompute(db_url: str, *args: str, **env: str) -> dict[str, Any]:
    done = pegada(db_url, "attribution", "recompute", SEED_HOST_CLIENT, *args, "--json", **env)
    assert done.returncode == 0, done.stderr
    assert "Recomputing" in done.stderr  # the progress bar's line, not on stdout
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def snapshot(engine: Engine) -> dict[str, list[Any]]:
    """Everything a recompute may rewrite."""
    with engine.connect() as conn:
        return {
            "visits": [tuple(r) for r in conn.execute(select(visits).order_by(visits.c.id))],
            "page_views": [
                tuple(r)
                for r in conn.execute(
                    select(
                        page_views.c.id,
                        page_views.c.visit_id,
                        page_views.c.channel_type,
                        page_views.c.source,
                        page_views.c.medium,
                        page_views.c.campaign,
                    ).order_by(page_views.c.id)
                )
            ],
            "events": [
                tuple(r)
                for r in conn.execute(
                    select(events.c.id, events.c.visit_id, events.c.channel_type).order_by(
                        events.c.id
                    )
                )
            ],
            "contacts": [
                (r.id, json.dumps(r.first_touch), json.dumps(r.last_touch), r.first_channel)
                for r in conn.execute(select(contacts).order_by(contacts.c.id))
            ],
            "sessions": [
                tuple(r)
                for r in conn.execute(
                    select(sessions.c.id, sessions.c.open_visit_id).order_by(sessions.c.id)
                )
            ],
        }


def server_event(client: TestClient, session: str) -> None:
    reply = client.patch(
        "/api/v2/sendEvent",
        json={
            "hostClient": SEED_HOST_CLIENT,
            "session_id": session,
            "event": {"tipo": 29, "origem": SEED_ORIGEM, "token": SEED_TOKEN},
        },
    )
    assert reply.status_code == 200, reply.text


def test_changed_rules_are_applied_over_the_stored_history(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    t0 = now_ms() - 30 * MINUTE
    # An ad on a portal the built-in rules do not map: "Outras publicidades".
    send(client, [hit(1, PORTAL, ts=t0), hit(2, f"{SITE}/cursos", ts=t0 + MINUTE, r=PORTAL)])
    ana = identify(client, seed_tenant, SESSION, emailPrincipal="ana@example.com")
    server_event(client, SESSION)
    # Someone else, from an organic search: no rule change touches them.
    send(client, [hit(1, f"{SITE}/", ts=t0, r=ORGANIC_REFERRER)], session=OTHER_SESSION)
    bruno = identify(client, seed_tenant, OTHER_SESSION, emailPrincipal="bruno@example.com")
    # And a CRM contact without tracking.
    reply = client.post(
        "/api/Contato/cadastro",
        json={"origem": SEED_ORIGEM, "token": SEED_TOKEN, "emailPrincipal": "caio@example.com"},
    )
    caio = reply.json()["dados"]["id"]
    assert touches(engine, ana)[0]["channel"] == "Outras publicidades"
    (portal_visit,) = visits_of(engine)
    assert portal_visit.rules_version == 1

    summary = recompute(db_url, PEGADA_CHANNEL_RULES=rules_file(tmp_path))
    assert summary == {
        "hostClient": SEED_HOST_CLIENT,
        "rulesVersion": 2,
        "sessions": 2,
        "visitsBefore": 2,
        "visitsAfter": 2,
        "visitsWritten": 2,  # both carry the new rules version
        "visitsDeleted": 0,
        "pageViewsChanged": 2,  # the landing and the page that inherits its channel
        "eventsChanged": 1,
        "contactsRefreshed": 3,
    }
    (visit,) = visits_of(engine)
    assert visit.id == portal_visit.id
    assert (visit.channel_type, visit.source, visit.rules_version) == ("Mídia paga", "portal", 2)
    (organic,) = visits_of(engine, OTHER_SESSION)
    assert (organic.channel_type, organic.rules_version) == ("Busca orgânica", 2)
    dados = details(client, ana)
    assert [a["canal"] for a in dados["acessos"]] == ["Mídia paga", "Mídia paga"]
    assert [e["canal"] for e in dados["eventos"]] == ["Mídia paga"]
    with engine.connect() as conn:
        event = conn.execute(select(events.c.visit_id, events.c.channel_type)).one()
    assert tuple(event) == (visit.id, "Mídia paga")
    first, last, first_channel = touches(engine, ana)
    assert (first["channel"], last["channel"], first_channel) == ("Mídia paga",) * 3
    assert first["visit_id"] == visit.id
    assert touches(engine, bruno)[0]["channel"] == "Busca orgânica"
    assert touches(engine, caio)[:2] == ({"channel": "Desconhecida"},) * 2

    # Again with the same rules: nothing to change.
    before = snapshot(engine)
    again = recompute(db_url, PEGADA_CHANNEL_RULES=rules_file(tmp_path))
    assert {k: again[k] for k in again if k.endswith(("Written", "Deleted", "Changed"))} == {
        "visitsWritten": 0,
        "visitsDeleted": 0,
        "pageViewsChanged": 0,
        "eventsChanged": 0,
    }
    assert snapshot(engine) == before


def test_the_unknown_channel_is_named_by_the_rules(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    reply = client.post(
        "/api/Contato/cadastro",
        json={"origem": SEED_ORIGEM, "token": SEED_TOKEN, "emailPrincipal": "dora@example.com"},
    )
    dora = reply.json()["dados"]["id"]
    summary = recompute(
        db_url, PEGADA_CHANNEL_RULES=rules_file(tmp_path, unknown_channel="Sem rastreio")
    )
    assert (summary["sessions"], summary["contactsRefreshed"]) == (0, 1)
    assert touches(engine, dora)[2] == "Sem rastreio"


def test_a_changed_idle_time_regroups_the_visits(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, db_url: str
) -> None:
    t0 = now_ms() - 60 * MINUTE
    send(client, [hit(1, f"{SITE}/", ts=t0), hit(2, f"{SITE}/a", ts=t0 + 15 * MINUTE)])
    send(client, [hit(3, f"{SITE}/b", ts=t0 + 20 * MINUTE)])
    contact_id = identify(client, seed_tenant, SESSION, emailPrincipal="eva@example.com")
    (visit,) = visits_of(engine)

    ok_json(db_url, "tenant", "set", SEED_HOST_CLIENT, "--visit-idle-minutes", "10")
    summary = recompute(db_url)
    assert (summary["visitsBefore"], summary["visitsAfter"]) == (1, 2)
    first, second = visits_of(engine)
    assert (first.id, first.page_count, second.page_count) == (visit.id, 1, 2)
    with engine.connect() as conn:
        open_id = conn.execute(select(sessions.c.open_visit_id)).scalar_one()
    assert open_id == second.id
    # The identify happened during the second visit (by then, the latest).
    first_touch, last_touch, _ = touches(engine, contact_id)
    assert (first_touch["visit_id"], last_touch["visit_id"]) == (first.id, second.id)

    # The hit path uses the new idle time too (once its cache of the tenant expires).
    client.app.state.tenants.forget()  # type: ignore[attr-defined]
    send(client, [hit(4, f"{SITE}/c", ts=t0 + 32 * MINUTE)])
    assert page_counts(engine) == [1, 2, 1]

    ok_json(db_url, "tenant", "set", SEED_HOST_CLIENT, "--visit-idle-minutes", "30")
    summary = recompute(db_url)
    assert (summary["visitsBefore"], summary["visitsAfter"], summary["visitsDeleted"]) == (3, 1, 2)
    (merged,) = visits_of(engine)
    assert (merged.id, merged.page_count) == (visit.id, 4)
    assert touches(engine, contact_id)[1]["visit_id"] == visit.id


def test_the_tenants_own_sites_are_internal_referrers(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, db_url: str
) -> None:
    """A visit that goes on to the tenant's other site is one visit once that site is
    listed among its origins."""
    t0 = now_ms() - 10 * MINUTE
    send(client, [hit(1, f"{SITE}/", ts=t0, r=ORGANIC_REFERRER)])
    send(client, [hit(1, f"{SECOND_SITE}/ficha", ts=t0 + MINUTE, r=f"{SITE}/")])
    assert [v.channel_type for v in visits_of(engine)] == ["Busca orgânica", "Referência"]
    settings = ok_json(
        db_url,
        "tenant",
        "set",
        SEED_HOST_CLIENT,
        "--allowed-origin",
        SITE,
        "--allowed-origin",
        SECOND_SITE,
    )
    assert settings["allowedOrigins"] == [SITE, SECOND_SITE]
    summary = recompute(db_url)
    assert (summary["visitsBefore"], summary["visitsAfter"]) == (2, 1)
    (visit,) = visits_of(engine)
    assert (visit.channel_type, visit.page_count, visit.exit_url) == (
        "Busca orgânica",
        2,
        f"{SECOND_SITE}/ficha",
    )


def test_batches_and_the_human_summary(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """One transaction per session here; a contact's two sessions still end with the
    right first touch (its earlier visit is on the other browser)."""
    t0 = now_ms() - 120 * MINUTE
    send(client, [hit(1, f"{SITE}/", ts=t0 + 60 * MINUTE, r=ORGANIC_REFERRER)])
    send(client, [hit(1, PORTAL, ts=t0)], session=OTHER_SESSION)
    contact_id = identify(client, seed_tenant, SESSION, emailPrincipal="fabi@example.com")
    identify(client, seed_tenant, OTHER_SESSION, emailPrincipal="fabi@example.com")
    for index in range(3):
        send(client, [hit(1, f"{SITE}/x")], session=f"{index + 1}" * 45)
    assert touches(engine, contact_id)[0]["channel"] == "Outras publicidades"
    done = pegada(
        db_url,
        "attribution",
        "recompute",
        SEED_HOST_CLIENT,
        "--batch-size",
        "1",
        PEGADA_CHANNEL_RULES=rules_file(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"Recomputing {SEED_HOST_CLIENT} (rules version 2)")
    lines = done.stdout.splitlines()
    assert lines[0] == f"{SEED_HOST_CLIENT}: channel rules version 2"
    assert lines[1].split() == ["sessions", "5"]
    assert lines[2].startswith("visits") and "5 -> 5" in lines[2]
    assert lines[-1].split() == ["contacts", "refreshed", "1"]
    first, last, _ = touches(engine, contact_id)
    assert (first["channel"], last["channel"]) == ("Mídia paga", "Mídia paga")


def test_operator_mistakes_fail_cleanly(
    seed_tenant: SeedTenant, db_url: str, tmp_path: Path
) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json", encoding="utf-8")
    bad_rule = tmp_path / "rule.json"
    document = json.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    document["rules"][0]["when"] = {"medium_is": "email"}
    bad_rule.write_text(json.dumps(document), encoding="utf-8")
    recompute_args = ["attribution", "recompute", SEED_HOST_CLIENT]
    set_args = ["tenant", "set", SEED_HOST_CLIENT]
    cases: list[Case] = [
        (["attribution", "recompute", "NoSuchTenant00000000"], {}, ["NoSuchTenant00000000"]),
        (recompute_args, {"PEGADA_CHANNEL_RULES": str(tmp_path / "none.json")}, ["none.json"]),
        (recompute_args, {"PEGADA_CHANNEL_RULES": str(bad_json)}, ["PEGADA_CHANNEL_RULES"]),
        (recompute_args, {"PEGADA_CHANNEL_RULES": str(bad_rule)}, ["medium_is"]),
        ([*set_args, "--timezone", "Mars/Olympus_Mons"], {}, ["timezone", "Mars/Olympus_Mons"]),
        ([*set_args, "--timezone", "../etc/passwd"], {}, ["timezone"]),
        ([*set_args, "--visit-idle-minutes", "0"], {}, ["visitIdleMinutes", "1 to 1440"]),
        ([*set_args, "--visit-idle-minutes", "1441"], {}, ["visitIdleMinutes", "1441"]),
        ([*set_args, "--allowed-origin", "https://x.edu.br/cursos"], {}, ["allowedOrigins"]),
        ([*set_args, "--allowed-origin", "escola.edu.br"], {}, ["allowedOrigins"]),
        ([*set_args, "--any-origin", "--allowed-origin", SITE], {}, ["--any-origin"]),
        (["tenant", "set", "NoSuchTenant00000000", "--timezone", "UTC"], {}, ["NoSuchTenant"]),
    ]
    assert_clean_failures(db_url, cases)


def test_tenant_set_changes_only_what_is_given(
    seed_tenant: SeedTenant, engine: Engine, db_url: str
) -> None:
    changed = ok_json(
        db_url,
        "tenant",
        "set",
        SEED_HOST_CLIENT,
        "--timezone",
        "America/Manaus",
        "--visit-idle-minutes",
        "45",
        "--allowed-origin",
        "https://WWW.Escola.edu.br/",
        "--no-honor-dnt",
    )
    assert changed == {
        "hostClient": SEED_HOST_CLIENT,
        "name": "Faculdade Exemplo",
        "timezone": "America/Manaus",
        "visitIdleMinutes": 45,
        "allowedOrigins": ["https://www.escola.edu.br"],
        "honorDnt": False,
    }
    again = ok_json(db_url, "tenant", "set", SEED_HOST_CLIENT, "--any-origin", "--honor-dnt")
    assert again == {**changed, "allowedOrigins": [], "honorDnt": True}
    with engine.connect() as conn:
        row = conn.execute(select(tenants)).one()
    assert (row.timezone, row.visit_idle_minutes, row.allowed_origins, row.honor_dnt) == (
        "America/Manaus",
        45,
        [],
        True,
    )
    human = pegada(db_url, "tenant", "set", SEED_HOST_CLIENT)
    assert human.returncode == 0, human.stderr
    assert "visit idle minutes  45" in human.stdout
    assert "allowed origins     (any)" in human.stdout
