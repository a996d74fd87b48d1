"""Reports (`GET /api/v1/reports/…`) checked number by number against a small data set built
through the real API: page hits with chosen times on chosen days, identifies, a CRM contact
with no tracking, events. Runs on SQLite and PostgreSQL.

The data set, in the tenant's time zone (D0 = today; the zone is picked so that "now" is
around midday there, far from either midnight):

- S1 (Windows, Chrome): D-5 10:00 #1 `/?utm_source=google&utm_medium=cpc&utm_campaign=vest`,
  10:01 #2 /cursos, 10:02 #3 /cursos/direito (a "Mídia paga" visit of 3 pages); D0 09:00
  #4 /inscricao (an "Acesso direto" visit). Identified now: João da Silva.
- S2 (iPhone, Safari): D-3 14:00 #1 `/?utm_source=facebook`, 14:05 #2 /cursos, 14:06 #4
  /contato — #3 never arrives (a "Social" visit of 3 pages). Identified now: Maria Conceição
  Souza.
- S3 (Android, Chrome): D-3 20:00 #1 / and D-1 08:00 #2 /cursos, both from google.com (two
  "Busca orgânica" visits). Anonymous.
- S4 (Windows, Chrome): D0 08:00 #1 / and 08:40 #2 / (40 minutes idle: two "Acesso direto"
  visits). Anonymous.

Plus Carlos Pereira created by the CRM (no tracking: "Desconhecida"), a Googlebot hit
(dropped as a bot), events (type 29 for João twice, type 30 for Maria), and another tenant
with its own hits and contact that must never show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from pegada.ids import new_tracking_id
from pegada.storage.engine import write_transaction
from pegada.storage.tables import tenants
from pegada.tenancy import create_event_type, get_tenant
from tests.conftest import SEED_HOST_CLIENT, SeedTenant
from tests.spooled import project_spooled

# Real user agents (from /work/shared/data/user-agents.txt).
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 9; SM-A155F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/109.0.5712.100 Mobile Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

SITE = "https://www.escola.edu.br"
S1 = "100000000000000000000000000000011567525958427"
S2 = "200000000000000000000000000000021567525958427"
S3 = "300000000000000000000000000000031567525958427"
S4 = "400000000000000000000000000000041567525958427"
OTHER_SESSION = "900000000000000000000000000000091567525958427"


# --- helpers (also used by test_read_api.py) -------------------------------------------------


def midday_zone() -> str:
    """A fixed-offset zone where it is now between 12:00 and 13:00, so "today" there is
    hours away from either midnight while a test runs."""
    offset = 12 - datetime.now(UTC).hour  # -11 … +12, all valid Etc/GMT zones
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # POSIX signs are inverted


@dataclass(frozen=True)
class Clock:
    """Local days and moments of the tenant's zone, relative to today."""

    zone: str

    @property
    def today(self) -> date:
        return datetime.now(ZoneInfo(self.zone)).date()

    def day(self, days_ago: int) -> date:
        return self.today - timedelta(days=days_ago)

    def at(self, days_ago: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(self.day(days_ago), time(hour, minute), ZoneInfo(self.zone))

    def ms(self, days_ago: int, hour: int, minute: int = 0) -> int:
        return int(self.at(days_ago, hour, minute).timestamp() * 1000)

    def local(self, days_ago: int, hour: int, minute: int = 0) -> str:
        """`momento` as the CRM writes it (tenant local time)."""
        return self.at(days_ago, hour, minute).strftime("%Y-%m-%d %H:%M:%S")


def use_zone(client: TestClient, engine: Engine, zone: str, host_client: str) -> Clock:
    with engine.begin() as conn:
        conn.execute(
            tenants.update().where(tenants.c.host_client == host_client).values(timezone=zone)
        )
    client.app.state.tenants.forget()  # type: ignore[attr-defined]
    return Clock(zone)


def bearer(tenant: SeedTenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.token}"}


def send_hits(
    client: TestClient,
    session: str,
    hits: list[dict[str, Any]],
    ua: str = WINDOWS_CHROME,
    host_client: str = SEED_HOST_CLIENT,
) -> None:
    body = json.dumps({"h": host_client, "s": session, "hits": hits})
    reply = client.post(
        "/api/collect",
        content=body,
        headers={"content-type": "text/plain;charset=UTF-8", "user-agent": ua},
    )
    assert reply.status_code == 204, reply.text
    project_spooled(client)


def hit(q: int, path: str, ts: int, referrer: str = "") -> dict[str, Any]:
    return {"q": q, "u": SITE + path, "ts": ts, "r": referrer, "t": f"Página {path}"}


def identify(client: TestClient, tenant: SeedTenant, session: str, **fields: Any) -> str:
    reply = client.patch(
        "/api/identify",
        json={
            "hostClient": tenant.host_client,
            "session_id": session,
            "substitute_id": new_tracking_id(),
            **tenant.creds(),
            **fields,
        },
    )
    assert reply.status_code == 200, reply.text
    contact_id: str = reply.json()["dados"]["id"]
    return contact_id


def send_event(
    client: TestClient, tenant: SeedTenant, session: str, tipo: int, momento: str
) -> None:
    body = {
        "event": {"tipo": tipo, "momento": momento, **tenant.creds()},
        "hostClient": tenant.host_client,
        "session_id": session,
    }
    reply = client.patch("/api/v2/sendEvent", json=body)
    assert reply.status_code == 200, reply.text


def get(client: TestClient, tenant: SeedTenant, path: str, **params: Any) -> httpx2.Response:
    return client.get(path, params=params, headers=bearer(tenant))


def dados(client: TestClient, tenant: SeedTenant, path: str, **params: Any) -> Any:
    reply = get(client, tenant, path, **params)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["success"] is True
    return body["dados"]


@dataclass(frozen=True)
class DataSet:
    clock: Clock
    joao: str
    maria: str
    carlos: str
    drop_day: date  # the UTC day the bot hit was refused

    def window(self) -> dict[str, str]:
        return {"from": self.clock.day(6).isoformat(), "to": self.clock.day(0).isoformat()}


def build_dataset(
    client: TestClient, engine: Engine, tenant: SeedTenant, other: SeedTenant
) -> DataSet:
    clock = use_zone(client, engine, midday_zone(), tenant.host_client)
    use_zone(client, engine, clock.zone, other.host_client)
    with write_transaction(engine) as conn:
        create_event_type(conn, get_tenant(conn, tenant.host_client), "Matrícula", type_id=30)
    ms = clock.ms
    send_hits(
        client,
        S1,
        [
            hit(1, "/?utm_source=google&utm_medium=cpc&utm_campaign=vest", ms(5, 10, 0)),
            hit(2, "/cursos", ms(5, 10, 1)),
            hit(3, "/cursos/direito", ms(5, 10, 2)),
        ],
    )
    send_hits(client, S1, [hit(4, "/inscricao", ms(0, 9, 0))])
    send_hits(
        client,
        S2,
        [
            hit(1, "/?utm_source=facebook", ms(3, 14, 0)),
            hit(2, "/cursos", ms(3, 14, 5)),
            hit(4, "/contato", ms(3, 14, 6)),
        ],
        ua=IPHONE,
    )
    google = "https://www.google.com/"
    send_hits(client, S3, [hit(1, "/", ms(3, 20, 0), google)], ua=ANDROID_PHONE)
    send_hits(client, S3, [hit(2, "/cursos", ms(1, 8, 0), google)], ua=ANDROID_PHONE)
    send_hits(client, S4, [hit(1, "/", ms(0, 8, 0)), hit(2, "/", ms(0, 8, 40))])
    drop_day = datetime.now(UTC).date()
    send_hits(client, S4, [hit(3, "/", ms(0, 8, 41))], ua=GOOGLEBOT)

    joao = identify(
        client,
        tenant,
        S1,
        nome="João da Silva",
        emailPrincipal="joao.silva@example.com",
        cpf="529.982.247-25",
        telefonePrincipal="(11) 98765-4321",
    )
    maria = identify(
        client, tenant, S2, nome="Maria Conceição Souza", emailPrincipal="MARIA@example.com"
    )
    reply = client.post(
        "/api/Contato/cadastro",
        json={"nome": "Carlos Pereira", "emailPrincipal": "carlos@example.com", **tenant.creds()},
    )
    assert reply.status_code == 200, reply.text
    carlos = reply.json()["dados"]["id"]

    send_event(client, tenant, S1, 29, clock.local(0, 11))
    send_event(client, tenant, S2, 30, clock.local(1, 10))
    reply = client.post(
        "/api/Evento/cadastro",
        json={"tipo": 29, "pessoa": {"id": joao}, "momento": clock.local(2, 12), **tenant.creds()},
    )
    assert reply.status_code == 200, reply.text

    # Another tenant's traffic, same days: never in the seed tenant's numbers.
    send_hits(
        client,
        OTHER_SESSION,
        [hit(1, "/", ms(3, 10)), hit(5, "/outra", ms(3, 10, 10))],
        host_client=other.host_client,
    )
    identify(client, other, OTHER_SESSION, nome="João Outro", emailPrincipal="joao@outra.com")
    return DataSet(clock, joao, maria, carlos, drop_day)


@pytest.fixture
def data(
    client: TestClient, engine: Engine, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> DataSet:
    return build_dataset(client, engine, seed_tenant, other_tenant)


# --- overview --------------------------------------------------------------------------------


def test_overview_counts_the_hand_built_data_set(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    overview = dados(client, seed_tenant, "/api/v1/reports/overview", **data.window())
    assert overview == {
        "from": data.clock.day(6).isoformat(),
        "to": data.clock.day(0).isoformat(),
        "timezone": data.clock.zone,
        "visitors": 4,
        "visits": 7,
        "pageviews": 11,
        "contacts": 3,
        "conversions": 2,
        "conversion_rate": 0.5,
    }


def test_overview_of_part_of_the_range(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    """D-3 only: S2 and S3 visit; nobody is created or identified that day."""
    day = data.clock.day(3).isoformat()
    overview = dados(client, seed_tenant, "/api/v1/reports/overview", **{"from": day, "to": day})
    assert {k: overview[k] for k in ("visitors", "visits", "pageviews", "contacts")} == {
        "visitors": 2,
        "visits": 2,
        "pageviews": 4,
        "contacts": 0,
    }
    assert overview["conversions"] == 0 and overview["conversion_rate"] == 0.0


def test_default_range_is_the_last_30_days(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    overview = dados(client, seed_tenant, "/api/v1/reports/overview")
    assert overview["to"] == data.clock.today.isoformat()
    assert overview["from"] == data.clock.day(29).isoformat()
    assert (overview["visits"], overview["contacts"]) == (7, 3)


def test_other_tenant_sees_only_its_own_numbers(
    client: TestClient, other_tenant: SeedTenant, data: DataSet
) -> None:
    overview = dados(client, other_tenant, "/api/v1/reports/overview", **data.window())
    assert (overview["visitors"], overview["visits"], overview["pageviews"]) == (1, 1, 2)
    assert (overview["contacts"], overview["conversions"]) == (1, 1)


# --- breakdowns ------------------------------------------------------------------------------


def rows_by_label(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        item["label"]: {
            k: item[k]
            for k in (
                "visitors",
                "visits",
                "pageviews",
                "contacts",
                "conversions",
                "conversion_rate",
            )
        }
        for item in items
    }


def test_breakdown_by_channel_with_conversion_rates(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    """Contacts by first touch (Carlos: no tracking); conversions by the visit under way
    when the session was identified (João: his direct visit today, not the ad)."""
    reply = dados(client, seed_tenant, "/api/v1/reports/breakdown", by="channel", **data.window())
    assert reply["by"] == "channel"
    assert reply["next_cursor"] is None
    assert [item["key"] for item in reply["items"]] == [
        {"channel": "Acesso direto"},
        {"channel": "Busca orgânica"},
        {"channel": "Social"},
        {"channel": "Mídia paga"},
        {"channel": "Desconhecida"},
    ]
    assert rows_by_label(reply["items"]) == {
        "Acesso direto": {
            "visitors": 2,
            "visits": 3,
            "pageviews": 3,
            "contacts": 0,
            "conversions": 1,
            "conversion_rate": 0.5,
        },
        "Busca orgânica": {
            "visitors": 1,
            "visits": 2,
            "pageviews": 2,
            "contacts": 0,
            "conversions": 0,
            "conversion_rate": 0.0,
        },
        "Mídia paga": {
            "visitors": 1,
            "visits": 1,
            "pageviews": 3,
            "contacts": 1,
            "conversions": 0,
            "conversion_rate": 0.0,
        },
        "Social": {
            "visitors": 1,
            "visits": 1,
            "pageviews": 3,
            "contacts": 1,
            "conversions": 1,
            "conversion_rate": 1.0,
        },
        "Desconhecida": {
            "visitors": 0,
            "visits": 0,
            "pageviews": 0,
            "contacts": 1,
            "conversions": 0,
            "conversion_rate": None,
        },
    }


def test_breakdown_by_source_medium_campaign(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    reply = dados(
        client,
        seed_tenant,
        "/api/v1/reports/breakdown",
        by="source_medium_campaign",
        **data.window(),
    )
    found = {
        (i["key"]["source"], i["key"]["medium"], i["key"]["campaign"]): (
            i["visits"],
            i["contacts"],
            i["conversions"],
        )
        for i in reply["items"]
    }
    assert found[("google", "cpc", "vest")] == (1, 1, 0)
    assert found[("facebook", None, None)] == (1, 1, 1)
    assert sum(visits for visits, _, _ in found.values()) == 7
    assert sum(contacts for _, contacts, _ in found.values()) == 3
    assert sum(conversions for _, _, c in found.values() for conversions in [c]) == 2


def test_breakdown_by_landing_page(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    reply = dados(
        client, seed_tenant, "/api/v1/reports/breakdown", by="landing_page", **data.window()
    )
    host = "www.escola.edu.br"
    found = {i["label"]: i for i in reply["items"]}
    assert set(found) == {f"{host}/", f"{host}/cursos", f"{host}/inscricao", "(none)"}
    home = found[f"{host}/"]
    assert home["key"] == {"host": host, "path": "/"}
    # S1 (D-5), S2, S3 (D-3), S4 twice: 5 visits of 4 sessions; João and Maria landed there.
    assert (home["visits"], home["visitors"], home["pageviews"], home["contacts"]) == (5, 4, 9, 2)
    assert home["conversions"] == 1  # Maria, in her only visit
    assert (found[f"{host}/inscricao"]["visits"], found[f"{host}/inscricao"]["conversions"]) == (
        1,
        1,
    )
    assert found[f"{host}/cursos"]["visits"] == 1  # S3's second visit
    assert found["(none)"]["contacts"] == 1  # Carlos has no first visit


def test_breakdown_by_device_browser_os(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    window = data.window()
    by_os = dados(client, seed_tenant, "/api/v1/reports/breakdown", by="os", **window)
    os_visitors = {i["key"]["os"]: i["visitors"] for i in by_os["items"] if i["visitors"]}
    assert os_visitors == {"Windows": 2, "iOS": 1, "Android": 1}
    by_browser = dados(client, seed_tenant, "/api/v1/reports/breakdown", by="browser", **window)
    chrome = next(i for i in by_browser["items"] if i["key"]["browser"] == "Chrome")
    assert (chrome["visitors"], chrome["visits"]) == (2, 4)  # S1 and S4 (desktop Chrome)
    by_device = dados(client, seed_tenant, "/api/v1/reports/breakdown", by="device", **window)
    devices = {i["key"]["device"]: i for i in by_device["items"]}
    assert (devices["desktop"]["visitors"], devices["desktop"]["visits"]) == (2, 4)
    assert (devices["desktop"]["contacts"], devices["desktop"]["conversions"]) == (1, 1)
    phones = [i for key, i in devices.items() if key not in ("desktop", None)]
    assert sum(i["visitors"] for i in phones) == 2
    assert sum(i["contacts"] for i in phones) == 1  # Maria, on her iPhone


def test_breakdown_pages_through_a_cursor(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    window = data.window()
    everything = dados(client, seed_tenant, "/api/v1/reports/breakdown", by="channel", **window)
    seen: list[Any] = []
    cursor = None
    for _ in range(5):
        params = {"by": "channel", "limit": 2, **window, **({"cursor": cursor} if cursor else {})}
        page = dados(client, seed_tenant, "/api/v1/reports/breakdown", **params)
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything["items"]
    assert len(seen) == 5


# --- series, pages, events -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "values"),
    [
        # D-6, D-5, D-4, D-3, D-2, D-1, D0
        ("visits", [0, 1, 0, 2, 0, 1, 3]),
        ("visitors", [0, 1, 0, 2, 0, 1, 2]),
        ("pageviews", [0, 3, 0, 4, 0, 1, 3]),
        ("contacts", [0, 0, 0, 0, 0, 0, 3]),
        ("conversions", [0, 0, 0, 0, 0, 0, 2]),
    ],
)
def test_daily_series_include_the_days_without_data(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet, metric: str, values: list[int]
) -> None:
    series = dados(
        client, seed_tenant, "/api/v1/reports/timeseries", metric=metric, **data.window()
    )
    assert series["metric"] == metric
    assert series["points"] == [
        {"day": data.clock.day(6 - n).isoformat(), "value": value} for n, value in enumerate(values)
    ]


def test_top_pages(client: TestClient, seed_tenant: SeedTenant, data: DataSet) -> None:
    reply = dados(client, seed_tenant, "/api/v1/reports/top-pages", **data.window())
    host = "www.escola.edu.br"
    assert reply["items"] == [
        {"host": host, "path": "/", "pageviews": 5, "visitors": 4},
        {"host": host, "path": "/cursos", "pageviews": 3, "visitors": 3},
        {"host": host, "path": "/contato", "pageviews": 1, "visitors": 1},
        {"host": host, "path": "/cursos/direito", "pageviews": 1, "visitors": 1},
        {"host": host, "path": "/inscricao", "pageviews": 1, "visitors": 1},
    ]
    assert reply["next_cursor"] is None
    first = dados(client, seed_tenant, "/api/v1/reports/top-pages", limit=3, **data.window())
    assert first["items"] == reply["items"][:3]
    rest = dados(
        client,
        seed_tenant,
        "/api/v1/reports/top-pages",
        limit=3,
        cursor=first["next_cursor"],
        **data.window(),
    )
    assert rest["items"] == reply["items"][3:] and rest["next_cursor"] is None


def test_events_by_type_with_the_channels_they_were_credited_to(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    reply = dados(client, seed_tenant, "/api/v1/reports/events", **data.window())
    assert reply["items"] == [
        {
            "type": {"id": 29, "codigo": "inscricao", "titulo": "Inscrição no curso"},
            "events": 2,
            "contacts": 1,
            # Sent from S1 during its direct visit; the CRM's one carries no session.
            "by_channel": [
                {"channel": "Acesso direto", "events": 1},
                {"channel": None, "events": 1},
            ],
        },
        {
            "type": {"id": 30, "codigo": None, "titulo": "Matrícula"},
            "events": 1,
            "contacts": 1,
            "by_channel": [{"channel": "Social", "events": 1}],
        },
    ]
    only_today = dados(
        client,
        seed_tenant,
        "/api/v1/reports/events",
        **{"from": data.clock.day(0).isoformat(), "to": data.clock.day(0).isoformat()},
    )
    assert [(i["type"]["id"], i["events"]) for i in only_today["items"]] == [(29, 1)]


# --- completeness ----------------------------------------------------------------------------


def test_completeness_counts_the_sequence_gap_and_the_drops(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    first = min(data.clock.day(6), data.drop_day)
    last = max(data.clock.day(0), data.drop_day)
    reply = dados(
        client,
        seed_tenant,
        "/api/v1/reports/completeness",
        **{"from": first.isoformat(), "to": last.isoformat()},
    )
    days = {d["day"]: d for d in reply["days"]}
    assert len(days) == (last - first).days + 1
    stored = {data.clock.day(n).isoformat(): v for n, v in [(5, 3), (3, 4), (1, 1), (0, 3)]}
    for day, row in days.items():
        assert row["stored"] == stored.get(day, 0), day
        # S2 sent #1, #2 and #4: #3 is missing, on the day of its last hit.
        assert row["missing"] == (1 if day == data.clock.day(3).isoformat() else 0), day
        expected_drops = {"bot": 1} if day == data.drop_day.isoformat() else {}
        assert row["drops"] == expected_drops, day
        assert row["dropped"] == sum(expected_drops.values())
    assert reply["totals"] == {"stored": 11, "missing": 1, "dropped": 1}


def test_completeness_of_another_tenant(
    client: TestClient, other_tenant: SeedTenant, data: DataSet
) -> None:
    reply = dados(client, other_tenant, "/api/v1/reports/completeness", **data.window())
    # Sent #1 and #5 on D-3: three missing; no drops.
    assert reply["totals"] == {"stored": 2, "missing": 3, "dropped": 0}
    assert [d["missing"] for d in reply["days"]] == [0, 0, 0, 3, 0, 0, 0]


def test_resent_hits_are_not_missing_nor_counted_twice(
    client: TestClient, seed_tenant: SeedTenant, data: DataSet
) -> None:
    """The tracker resends S2's #2 (a retry) and finally the lost #3, late."""
    ms = data.clock.ms
    send_hits(client, S2, [hit(2, "/cursos", ms(3, 14, 5)), hit(3, "/x", ms(3, 14, 5))], ua=IPHONE)
    reply = dados(client, seed_tenant, "/api/v1/reports/completeness", **data.window())
    window = (data.clock.day(6), data.clock.day(0))
    dropped = 1 if window[0] <= data.drop_day <= window[1] else 0
    assert reply["totals"] == {"stored": 12, "missing": 0, "dropped": dropped}
    overview = dados(client, seed_tenant, "/api/v1/reports/overview", **data.window())
    assert overview["pageviews"] == 12
