"""The page-hit collector (`POST /api/collect`) as a school sees it: every page access the
tracker sends is stored once, enriched (device, OS, browser, referrer, campaign, channel
type), kept only with a truncated IP, joined to its contact (also retroactively), and what is
refused is refused with a named reason: bots, bad URLs, Do Not Track, foreign origins and
malformed bodies. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import httpx2
import pytest
from sqlalchemy import Engine, Row, func, select
from starlette.testclient import TestClient

from pegada.app import create_app
from pegada.ids import new_tracking_id
from pegada.settings import Settings
from pegada.storage.tables import (
    contacts,
    ingest_drops,
    metadata,
    page_views,
    sessions,
    tenants,
    visits,
)
from tests.conftest import SEED_HOST_CLIENT, SeedTenant
from tests.servers import running_server
from tests.spooled import project_spooled

# Real user agents from /work/shared/data/user-agents.txt.
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 9; SM-A155F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/109.0.5712.100 Mobile Safari/537.36"
)
TABLET = (
    "Mozilla/5.0 (Linux; Android 10; Lenovo TB-X606F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36"
)
SMART_TV = (
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "76.0.3809.146/6.0 TV Safari/537.36"
)
CONSOLE = "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

SITE = "https://www.escola.edu.br"
ORIGIN = {"Origin": SITE}
SESSION = "663303050524637653063286663526141567525958427"
OTHER_SESSION = "111122223333444455556666777788881567525958427"


# --- helpers ---------------------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def hit(q: int, url: str = f"{SITE}/", **extra: Any) -> dict[str, Any]:
    """One page access as RBTracking sends it (README "Wire contract")."""
    return {"q": q, "u": url, "ts": now_ms(), **extra}


def send(
    client: TestClient,
    hits: list[dict[str, Any]],
    *,
    session: str = SESSION,
    host_client: str = SEED_HOST_CLIENT,
    ua: str = WINDOWS_CHROME,
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    """A beacon: JSON sent as text/plain (no CORS preflight)."""
    body = json.dumps({"h": host_client, "s": session, "hits": hits})
    reply = client.post(
        "/api/collect",
        content=body,
        headers={"content-type": "text/plain;charset=UTF-8", "user-agent": ua, **(headers or {})},
    )
    project_spooled(client)
    return reply


def stored(engine: Engine) -> list[Row[Any]]:
    """Every stored page view with its session hash, oldest first."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(page_views, sessions.c.session_hash)
                .join(sessions, sessions.c.id == page_views.c.session_id)
                .order_by(page_views.c.id)
            )
        )


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def tenant_id(engine: Engine, host_client: str = SEED_HOST_CLIENT) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(tenants.c.id).where(tenants.c.host_client == host_client)
            ).scalar_one()
        )


def drops(engine: Engine, host_client: str = SEED_HOST_CLIENT) -> dict[str, int]:
    """Today's refused-hit counters of one tenant, by reason."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(ingest_drops.c.reason, ingest_drops.c.count, ingest_drops.c.day).where(
                ingest_drops.c.tenant_id == tenant_id(engine, host_client)
            )
        ).all()
    today = datetime.now(UTC).date()
    assert all(row.day in (today, today - timedelta(days=1)) for row in rows)
    return {row.reason: int(row.count) for row in rows}


def set_tenant(client: TestClient, engine: Engine, **values: Any) -> None:
    """Change the tenant row, and make the app forget its 15-second cache of it."""
    with engine.begin() as conn:
        conn.execute(
            tenants.update().where(tenants.c.host_client == SEED_HOST_CLIENT).values(**values)
        )
    client.app.state.tenants.forget()  # type: ignore[attr-defined]


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


def accesses(client: TestClient, tenant: SeedTenant, contact_id: str) -> list[dict[str, Any]]:
    reply = client.post("/api/Contato/dadosPessoa", json={"id": contact_id, **tenant.creds()})
    assert reply.status_code == 200, reply.text
    acessos: list[dict[str, Any]] = reply.json()["dados"]["acessos"]
    return acessos


def all_text_in_database(engine: Engine) -> str:
    """Every value of every row of every table, as one string (to look for leaks)."""
    parts: list[str] = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


def assert_refused(reply: httpx2.Response, status: int, field: str | None) -> None:
    assert "Traceback" not in reply.text
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert body["success"] is False
    assert isinstance(body["error"], str) and body["error"]
    if field is not None:
        assert field in body["fields"], body
        assert field in body["error"], body


# --- what is stored --------------------------------------------------------------------------


def test_hit_is_stored_with_everything_the_page_sent(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    landing = f"{SITE}/cursos/direito?utm_source=google&utm_medium=cpc&utm_campaign=vest25&gclid=X1"
    ts = now_ms() - 60_000
    reply = send(
        client,
        [
            hit(
                1,
                landing,
                ts=ts,
                t="Direito — Faculdade Exemplo",
                r="https://www.google.com.br/search?q=direito",
                sw=1280,
                sh=800,
                l="pt-BR",
                p=15_300,
                lp={
                    "utm_source": "google",
                    "utm_medium": "cpc",
                    "utm_campaign": "vest25",
                    "gclid": "X1",
                },
            )
        ],
    )
    assert reply.status_code == 204
    assert reply.content == b""
    [view] = stored(engine)
    assert view.session_hash == SESSION
    assert view.seq == 1
    assert view.url == landing
    assert (view.host, view.path) == ("www.escola.edu.br", "/cursos/direito")
    assert view.title == "Direito — Faculdade Exemplo"
    assert view.referrer == "https://www.google.com.br/search?q=direito"
    assert view.referrer_host == "www.google.com.br"
    assert view.utm == {
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "vest25",
        "gclid": "X1",
    }
    assert (view.channel_type, view.source, view.medium, view.campaign) == (
        "Mídia paga",
        "google",
        "cpc",
        "vest25",
    )
    assert (view.device_type, view.os, view.os_version) == ("desktop", "Windows", "10")
    assert (view.browser, view.browser_version) == ("Chrome", "121.0")
    assert view.screen == "1280x800"
    assert view.language == "pt-BR"
    assert view.time_on_previous_ms == 15_300
    assert view.occurred_at == datetime.fromtimestamp(ts / 1000, UTC)


def test_json_content_type_is_accepted_too(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    reply = client.post(
        "/api/collect",
        json={"h": SEED_HOST_CLIENT, "s": SESSION, "hits": [hit(1)]},
        headers={"user-agent": IPHONE},
    )
    assert reply.status_code == 204
    project_spooled(client)
    assert len(stored(engine)) == 1


def test_optional_fields_may_be_left_out(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    assert send(client, [hit(1, p=None)]).status_code == 204
    [view] = stored(engine)
    assert (view.title, view.referrer, view.referrer_host, view.utm) == (None, None, None, None)
    assert (view.screen, view.language, view.time_on_previous_ms) == (None, None, None)
    assert view.channel_type == "Acesso direto"


def test_campaign_parameters_are_read_from_the_url_without_lp(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    send(client, [hit(1, f"{SITE}/?utm_medium=email&utm_source=crm&pagina=2")])
    [view] = stored(engine)
    assert view.utm == {"utm_medium": "email", "utm_source": "crm"}
    assert view.channel_type == "Email"


@pytest.mark.parametrize(
    ("ua", "device_type", "device_name", "os", "browser", "version"),
    [
        (IPHONE, "phone", "Apple iPhone", "iOS", "Mobile Safari", "17.4"),
        (ANDROID_PHONE, "phone", "Samsung SM-A155F", "Android", "Chrome Mobile", "109.0"),
        (TABLET, "tablet", "Lenovo TB-X606F", "Android", "Chrome", "130.0"),
        (WINDOWS_CHROME, "desktop", None, "Windows", "Chrome", "121.0"),
        (SMART_TV, "tv", "Samsung SMART-TV", "Tizen", "Safari", None),
        (CONSOLE, "console", "Sony PlayStation 5", None, None, None),
    ],
    ids=["iphone", "android-phone", "tablet", "windows-chrome", "smart-tv", "console"],
)
def test_device_os_and_browser_come_from_the_user_agent(
    client: TestClient,
    seed_tenant: SeedTenant,
    engine: Engine,
    ua: str,
    device_type: str,
    device_name: str | None,
    os: str | None,
    browser: str | None,
    version: str | None,
) -> None:
    assert send(client, [hit(1)], ua=ua).status_code == 204
    [view] = stored(engine)
    assert (view.device_type, view.device_name, view.os) == (device_type, device_name, os)
    assert (view.browser, view.browser_version) == (browser, version)


@pytest.mark.parametrize(
    "age", [timedelta(seconds=5), timedelta(hours=1), timedelta(days=3)], ids=str
)
def test_client_time_is_when_the_access_happened(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, age: timedelta
) -> None:
    """A hit queued while the visitor was offline arrives late with its own time."""
    ts = now_ms() - int(age.total_seconds() * 1000)
    send(client, [hit(1, ts=ts)])
    [view] = stored(engine)
    assert view.occurred_at == datetime.fromtimestamp(ts / 1000, UTC)
    assert view.received_at - view.occurred_at >= age - timedelta(seconds=1)


@pytest.mark.parametrize(
    "ts",
    [
        0,
        946_684_800_000,  # 2000-01-01: a device with a dead clock battery
        int((datetime.now(UTC) - timedelta(days=30)).timestamp() * 1000),
        int((datetime.now(UTC) + timedelta(days=1)).timestamp() * 1000),
        253_402_300_800_000,  # year 10000
        10**17,
        2**70,
    ],
    ids=["epoch", "year-2000", "month-ago", "tomorrow", "year-10000", "1e17", "2^70"],
)
def test_absurd_client_time_is_replaced_by_server_time(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, ts: int
) -> None:
    before = datetime.now(UTC)
    assert send(client, [hit(1, ts=ts)]).status_code == 204
    after = datetime.now(UTC)
    [view] = stored(engine)
    assert before <= view.occurred_at <= after
    assert view.occurred_at == view.received_at


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:12:3456:789a:bcde:f012", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.23", "198.51.100.0/24"),
    ],
    ids=["ipv4", "ipv6", "ipv4-mapped"],
)
def test_ip_is_stored_only_as_its_network(
    settings: Settings,
    engine: Engine,
    seed_tenant: SeedTenant,
    address: str,
    network: str,
) -> None:
    with TestClient(create_app(settings, engine), client=(address, 51234)) as client:
        assert send(client, [hit(1), hit(2, f"{SITE}/cursos")]).status_code == 204
        identify(client, seed_tenant, SESSION, nome="Ana", emailPrincipal="ana@example.com")
    assert [view.ip_prefix for view in stored(engine)] == [network, network]
    everything = all_text_in_database(engine)
    assert address not in everything
    assert address.rsplit(".", 1)[-1] not in network  # the host part is gone


@pytest.mark.slow
def test_ip_through_a_real_server_and_a_proxy_is_truncated(
    db_url: str, engine: Engine, seed_tenant: SeedTenant, tmp_path: Path
) -> None:
    """`pegada serve` (uvicorn) sees the socket's address, or the client's address from a
    reverse proxy on the same machine (X-Forwarded-For); neither is stored in full."""
    body = {"h": SEED_HOST_CLIENT, "s": SESSION}
    headers = {"content-type": "text/plain", "user-agent": WINDOWS_CHROME}
    with running_server(db_url, tmp_path / "logs") as server:
        direct = httpx.post(
            f"{server.url}/api/collect",
            content=json.dumps({**body, "hits": [hit(1)]}),
            headers=headers,
        )
        proxied_v4 = httpx.post(
            f"{server.url}/api/collect",
            content=json.dumps({**body, "hits": [hit(2)]}),
            headers={**headers, "X-Forwarded-For": "203.0.113.77"},
        )
        proxied_v6 = httpx.post(
            f"{server.url}/api/collect",
            content=json.dumps({**body, "hits": [hit(3)]}),
            headers={**headers, "X-Forwarded-For": "2001:db8:abcd:12::99"},
        )
    assert (direct.status_code, proxied_v4.status_code, proxied_v6.status_code) == (204, 204, 204)
    assert [view.ip_prefix for view in stored(engine)] == [
        "127.0.0.0/24",
        "203.0.113.0/24",
        "2001:db8:abcd::/48",
    ]
    everything = all_text_in_database(engine)
    for address in ("127.0.0.1", "203.0.113.77", "2001:db8:abcd:12::99"):
        assert address not in everything


def test_values_longer_than_their_column_are_stored_cut_to_fit(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """A valid hit never fails the write (PostgreSQL refuses an over-long VARCHAR): a long
    path, a long campaign source and a crafted user agent are cut, the URL kept whole."""
    url = f"{SITE}/" + "p" * 3000 + "?utm_source=" + "s" * 400 + "&utm_medium=" + "m" * 400
    crafted_ua = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/" + "9" * 60 + ".1.0.0 Safari/537.36"
    )
    long_host = "https://" + "a." * 150 + "escola.edu.br/"
    reply = send(client, [hit(1, url), hit(2, long_host)], ua=crafted_ua)
    assert reply.status_code == 204, reply.text
    first, second = stored(engine)
    assert first.url == url
    assert first.path == "/" + "p" * 2047
    assert first.source == "s" * 255 and first.medium == "m" * 255
    assert first.utm == {"utm_source": "s" * 400, "utm_medium": "m" * 400}
    assert first.browser_version == "9" * 32
    assert second.host == ("a." * 150 + "escola.edu.br")[:255]


# --- duplicates ------------------------------------------------------------------------------


def test_a_resent_hit_is_stored_once(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """A queued hit goes again with its own q and ts when the reply was lost."""
    first = hit(1, t="Início")
    assert send(client, [first]).status_code == 204
    assert send(client, [first, hit(2, f"{SITE}/cursos")]).status_code == 204
    assert send(client, [hit(2, f"{SITE}/cursos"), hit(2, f"{SITE}/cursos")]).status_code == 204
    assert [(v.seq, v.path) for v in stored(engine)] == [(1, "/"), (2, "/cursos")]
    assert count(engine, sessions) == 1


def test_same_sequence_on_two_sites_of_one_session_is_kept_twice(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """Cross-domain: each site numbers its own hits of the shared session hash."""
    send(client, [hit(1, "https://www.escola.edu.br/")])
    send(client, [hit(1, "https://inscricoes.escola.com.br/")])
    views = stored(engine)
    assert sorted(v.host for v in views) == ["inscricoes.escola.com.br", "www.escola.edu.br"]
    assert {v.seq for v in views} == {1}
    assert len({v.session_id for v in views}) == 1


def test_same_sequence_in_two_sessions_is_kept_twice(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    send(client, [hit(1)], session=SESSION)
    send(client, [hit(1)], session=OTHER_SESSION)
    assert sorted(v.session_hash for v in stored(engine)) == sorted([SESSION, OTHER_SESSION])


# --- refused hits are counted ----------------------------------------------------------------


@pytest.mark.parametrize(
    "ua",
    [GOOGLEBOT, "curl/8.5.0", "python-requests/2.31.0", ""],
    ids=["googlebot", "curl", "python-requests", "empty"],
)
def test_bots_are_not_stored_and_are_counted(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, ua: str
) -> None:
    reply = send(client, [hit(1), hit(2, f"{SITE}/cursos")], ua=ua)
    assert reply.status_code == 204
    assert stored(engine) == []
    assert count(engine, sessions) == 0
    assert drops(engine) == {"bot": 2}
    send(client, [hit(3)], ua=ua)
    assert drops(engine) == {"bot": 3}


def test_drops_are_counted_per_tenant_and_day(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant, engine: Engine
) -> None:
    local_day_before = datetime.now(ZoneInfo("America/Sao_Paulo")).date()
    send(client, [hit(1), hit(2)], ua=GOOGLEBOT)
    send(client, [hit(1)], ua="curl/8.5.0", host_client=other_tenant.host_client)
    send(client, [hit(3, "javascript:alert(1)")], host_client=other_tenant.host_client)
    assert drops(engine) == {"bot": 2}
    assert drops(engine, other_tenant.host_client) == {"bot": 1, "bad_url": 1}
    with engine.connect() as conn:
        days = set(conn.execute(select(ingest_drops.c.day)).scalars())
    # The tenants' local day (their reports are in local days), not the UTC one.
    assert days <= {local_day_before, datetime.now(ZoneInfo("America/Sao_Paulo")).date()}
    assert count(engine, ingest_drops) == 3


def test_non_http_urls_are_dropped_and_the_rest_stored(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    reply = send(
        client,
        [
            hit(1, "javascript:alert(1)"),
            hit(2, f"{SITE}/cursos"),
            hit(3, "file:///C:/Users/ana/pagina.html"),
            hit(4, "chrome-extension://abc/popup.html"),
        ],
    )
    assert reply.status_code == 204
    assert [(v.seq, v.path) for v in stored(engine)] == [(2, "/cursos")]
    assert drops(engine) == {"bad_url": 3}


@pytest.mark.parametrize("header", ["DNT", "Sec-GPC"])
def test_do_not_track_is_honoured(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, header: str
) -> None:
    reply = send(client, [hit(1), hit(2)], headers={header: "1"})
    assert reply.status_code == 204
    assert stored(engine) == []
    assert count(engine, sessions) == 0
    assert drops(engine) == {"do_not_track": 2}


def test_do_not_track_off_by_the_tenant_stores_the_hits(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    set_tenant(client, engine, honor_dnt=False)
    assert send(client, [hit(1)], headers={"DNT": "1"}).status_code == 204
    assert send(client, [hit(2)], headers={"Sec-GPC": "1"}).status_code == 204
    assert [v.seq for v in stored(engine)] == [1, 2]
    assert drops(engine) == {}


def test_dnt_zero_is_not_an_opt_out(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    assert send(client, [hit(1)], headers={"DNT": "0", "Sec-GPC": "0"}).status_code == 204
    assert len(stored(engine)) == 1


def test_allowed_origins_once_listed(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    set_tenant(client, engine, allowed_origins=["https://escola.edu.br"])
    ok = send(
        client, [hit(1, "https://escola.edu.br/")], headers={"Origin": "https://escola.edu.br"}
    )
    assert ok.status_code == 204
    refused = send(client, [hit(2), hit(3)], headers={"Origin": "https://copia-maliciosa.example"})
    assert_refused(refused, 403, "origin")
    no_origin = send(client, [hit(4)])
    assert_refused(no_origin, 403, "origin")
    assert [v.seq for v in stored(engine)] == [1]
    assert drops(engine) == {"origin_refused": 3}


def test_any_origin_while_the_list_is_empty(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    set_tenant(client, engine, allowed_origins=[])
    assert send(client, [hit(1)], headers={"Origin": "https://qualquer.example"}).status_code == 204
    assert send(client, [hit(2)]).status_code == 204
    assert len(stored(engine)) == 2


def test_a_fresh_app_reads_the_changed_tenant(
    settings: Settings, engine: Engine, seed_tenant: SeedTenant
) -> None:
    """An operator's change reaches a server started after it, without `forget()`."""
    with engine.begin() as conn:
        conn.execute(tenants.update().values(allowed_origins=["https://escola.edu.br/"]))
    with TestClient(create_app(settings, engine)) as client:
        good = send(client, [hit(1)], headers={"Origin": "https://escola.edu.br"})
        bad = send(client, [hit(2)], headers={"Origin": "https://outra.example"})
    assert (good.status_code, bad.status_code) == (204, 403)


# --- bad requests ----------------------------------------------------------------------------


def body_with(**hit_fields: Any) -> dict[str, Any]:
    return {
        "h": SEED_HOST_CLIENT,
        "s": SESSION,
        "hits": [{"q": 1, "u": f"{SITE}/", "ts": 1, **hit_fields}],
    }


BAD_BODIES: list[Any] = [
    pytest.param(
        {"h": "ZZZZZZZZZZZZZZZZZZZZ", "s": SESSION, "hits": [hit(1)]}, 404, "h", id="unknown-h"
    ),
    pytest.param({"h": "", "s": SESSION, "hits": [hit(1)]}, 404, "h", id="empty-h"),
    pytest.param({"h": "x" * 21, "s": SESSION, "hits": [hit(1)]}, 422, "h", id="long-h"),
    pytest.param({"s": SESSION, "hits": [hit(1)]}, 422, "h", id="missing-h"),
    pytest.param(b'{"h": "aSLhOBjZV5wD7YEpppb3", "s": ', 400, "body", id="truncated"),
    pytest.param(b"{h: 1}", 400, "body", id="not-json"),
    pytest.param(b"", 400, "body", id="empty"),
    pytest.param(b"[]", 422, "body", id="array"),
    pytest.param({"h": SEED_HOST_CLIENT, "hits": [hit(1)]}, 422, "s", id="missing-s"),
    pytest.param({"h": SEED_HOST_CLIENT, "s": "a b", "hits": [hit(1)]}, 422, "s", id="s-space"),
    pytest.param({"h": SEED_HOST_CLIENT, "s": "1" * 129, "hits": [hit(1)]}, 422, "s", id="long-s"),
    pytest.param({"h": SEED_HOST_CLIENT, "s": SESSION}, 422, "hits", id="missing-hits"),
    pytest.param({"h": SEED_HOST_CLIENT, "s": SESSION, "hits": []}, 422, "hits", id="no-hits"),
    pytest.param(
        {"h": SEED_HOST_CLIENT, "s": SESSION, "hits": {"q": 1}}, 422, "hits", id="hits-object"
    ),
    pytest.param(
        {"h": SEED_HOST_CLIENT, "s": SESSION, "hits": [hit(i) for i in range(1, 102)]},
        422,
        "hits",
        id="101-hits",
    ),
    pytest.param(body_with(q=0), 422, "hits[0].q", id="q-zero"),
    pytest.param(body_with(q=-3), 422, "hits[0].q", id="q-negative"),
    pytest.param(body_with(q="1"), 422, "hits[0].q", id="q-string"),
    pytest.param(body_with(q=1.5), 422, "hits[0].q", id="q-float"),
    pytest.param(body_with(q=10_000_001), 422, "hits[0].q", id="q-huge"),
    pytest.param(body_with(u=""), 422, "hits[0].u", id="u-empty"),
    pytest.param(body_with(u=5), 422, "hits[0].u", id="u-number"),
    pytest.param(body_with(u=f"{SITE}/" + "a" * 4096), 422, "hits[0].u", id="u-oversized"),
    pytest.param(body_with(ts=-1), 422, "hits[0].ts", id="ts-negative"),
    pytest.param(body_with(ts="ontem"), 422, "hits[0].ts", id="ts-string"),
    pytest.param(body_with(t=["x"]), 422, "hits[0].t", id="t-list"),
    pytest.param(body_with(t="x" * 1025), 422, "hits[0].t", id="t-oversized"),
    pytest.param(body_with(r="x" * 4097), 422, "hits[0].r", id="r-oversized"),
    pytest.param(body_with(sw=-1), 422, "hits[0].sw", id="sw-negative"),
    pytest.param(body_with(l="x" * 36), 422, "hits[0].l", id="l-oversized"),
    pytest.param(body_with(p=-1), 422, "hits[0].p", id="p-negative"),
    pytest.param(body_with(p=2**63), 422, "hits[0].p", id="p-beyond-64-bits"),
    pytest.param(body_with(lp=["utm_source"]), 422, "hits[0].lp", id="lp-list"),
    pytest.param(body_with(lp={"utm_source": 5}), 422, "hits[0].lp[...]", id="lp-number"),
    pytest.param(
        body_with(lp={"utm_source": "x" * 513}), 422, "hits[0].lp[...]", id="lp-oversized"
    ),
    pytest.param(
        {"h": SEED_HOST_CLIENT, "s": SESSION, "hits": [hit(1), {"q": "dois", "u": SITE, "ts": 1}]},
        422,
        "hits[1].q",
        id="second-hit-bad",
    ),
    pytest.param(
        b'{"h":"aSLhOBjZV5wD7YEpppb3","s":"1","hits":[{"q":1,"u":"https://x.br/","ts":1,"t":"a\\u0000b"}]}',
        422,
        None,
        id="nul-escape",
    ),
    pytest.param(
        b'{"h":"aSLhOBjZV5wD7YEpppb3","s":"1","hits":[{"q":1,"u":"https://x.br/","ts":1,"t":"a\x00b"}]}',
        400,
        None,
        id="nul-byte",
    ),
    pytest.param(
        b'{"h":"aSLhOBjZV5wD7YEpppb3","s":"1","hits":[{"q":1,"u":"https://x.br/","ts":1,"t":"\\ud800"}]}',
        400,
        None,
        id="lone-surrogate",
    ),
    pytest.param(
        {"h": SEED_HOST_CLIENT, "s": SESSION, "hits": [hit(1, t="x" * 1000)] * 70},
        413,
        "body",
        id="over-64KB",
    ),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_BODIES)
def test_bad_requests_are_refused_naming_the_field_and_write_nothing(
    client: TestClient,
    seed_tenant: SeedTenant,
    engine: Engine,
    body: Any,
    status: int,
    field: str | None,
) -> None:
    send(client, [hit(1)], session=OTHER_SESSION)  # something already there
    before = (count(engine, page_views), count(engine, sessions), count(engine, ingest_drops))
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = client.post(
        "/api/collect",
        content=raw,
        headers={"content-type": "text/plain", "user-agent": WINDOWS_CHROME},
    )
    assert_refused(reply, status, field)
    project_spooled(client)
    after = (count(engine, page_views), count(engine, sessions), count(engine, ingest_drops))
    assert after == before


def test_collect_only_takes_post(client: TestClient, seed_tenant: SeedTenant) -> None:
    reply = client.get("/api/collect")
    assert reply.status_code == 405
    assert reply.json()["success"] is False


# --- sessions, contacts and retroactivity ----------------------------------------------------


def test_hits_before_a_server_identify_join_the_contact(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 10 * 60_000
    send(
        client,
        [
            hit(
                1,
                f"{SITE}/?utm_source=google&utm_medium=cpc",
                ts=t0,
                t="Início",
                lp={"utm_source": "google", "utm_medium": "cpc"},
            ),
            hit(2, f"{SITE}/cursos", ts=t0 + 60_000, t="Cursos", r=f"{SITE}/", p=60_000),
        ],
        ua=IPHONE,
    )
    contact_id = identify(
        client, seed_tenant, SESSION, nome="Ana", emailPrincipal="ana@example.com"
    )
    acessos = accesses(client, seed_tenant, contact_id)
    assert [(a["url"], a["titulo"], a["sequencia"]) for a in acessos] == [
        (f"{SITE}/?utm_source=google&utm_medium=cpc", "Início", 1),
        (f"{SITE}/cursos", "Cursos", 2),
    ]
    first, second = acessos
    assert first["session_id"] == SESSION
    assert first["canal"] == "Mídia paga"
    assert (first["origem"], first["midia"]) == ("google", "cpc")
    assert first["utm"] == {"utm_source": "google", "utm_medium": "cpc"}
    assert first["dispositivo"]["tipo"] == "phone"
    assert first["dispositivo"]["sistema"] == "iOS"
    assert first["dispositivo"]["navegador"] == "Mobile Safari"
    assert second["referrer"] == f"{SITE}/"
    assert second["tempoNaPaginaAnteriorMs"] == 60_000
    assert second["canal"] == "Mídia paga"
    moment = datetime.fromisoformat(first["momento"])
    assert moment == datetime.fromtimestamp(t0 // 1000, UTC)

    # After identification, a new access shows at once.
    send(client, [hit(3, f"{SITE}/inscricao", t="Inscrição")], ua=IPHONE)
    assert [a["titulo"] for a in accesses(client, seed_tenant, contact_id)] == [
        "Início",
        "Cursos",
        "Inscrição",
    ]


def test_hits_before_a_browser_send_data_join_the_contact(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    send(client, [hit(1, t="Início"), hit(2, f"{SITE}/cursos", t="Cursos")])
    reply = client.patch(
        "/api/v2/sendData",
        json={
            "hostClient": SEED_HOST_CLIENT,
            "session_id": SESSION,
            "substitute_id": new_tracking_id(),
            "nome": "Bruno",
            "emailPrincipal": "bruno@example.com",
        },
        headers=ORIGIN,
    )
    assert reply.status_code == 200, reply.text
    contact_id = reply.json()["dados"]["id"]
    assert [a["titulo"] for a in accesses(client, seed_tenant, contact_id)] == ["Início", "Cursos"]
    send(client, [hit(3, f"{SITE}/obrigado", t="Obrigado")])
    assert [a["titulo"] for a in accesses(client, seed_tenant, contact_id)] == [
        "Início",
        "Cursos",
        "Obrigado",
    ]


def test_accesses_of_two_sessions_are_in_time_order(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """The same person on a phone and on a computer: one timeline, interleaved by time."""
    t0 = now_ms() - 60 * 60_000
    minute = 60_000
    send(client, [hit(1, f"{SITE}/a", ts=t0, t="celular 1")], session=SESSION, ua=IPHONE)
    send(client, [hit(1, f"{SITE}/b", ts=t0 + 5 * minute, t="pc 1")], session=OTHER_SESSION)
    send(
        client,
        [hit(2, f"{SITE}/c", ts=t0 + 10 * minute, t="celular 2")],
        session=SESSION,
        ua=IPHONE,
    )
    send(client, [hit(2, f"{SITE}/d", ts=t0 + 15 * minute, t="pc 2")], session=OTHER_SESSION)
    first = identify(client, seed_tenant, SESSION, emailPrincipal="carla@example.com")
    second = identify(client, seed_tenant, OTHER_SESSION, emailPrincipal="carla@example.com")
    assert first == second
    acessos = accesses(client, seed_tenant, first)
    assert [a["titulo"] for a in acessos] == ["celular 1", "pc 1", "celular 2", "pc 2"]
    assert [a["session_id"] for a in acessos] == [SESSION, OTHER_SESSION, SESSION, OTHER_SESSION]
    moments = [datetime.fromisoformat(a["momento"]) for a in acessos]
    assert moments == sorted(moments)


def test_a_contact_sees_only_its_own_tenants_hits(
    client: TestClient, seed_tenant: SeedTenant, other_tenant: SeedTenant, engine: Engine
) -> None:
    """The same session hash on two tenants' sites is two sessions."""
    send(client, [hit(1, t="nossa")])
    send(client, [hit(1, "https://outra.edu.br/", t="deles")], host_client=other_tenant.host_client)
    contact_id = identify(client, seed_tenant, SESSION, emailPrincipal="dora@example.com")
    assert [a["titulo"] for a in accesses(client, seed_tenant, contact_id)] == ["nossa"]
    assert count(engine, sessions) == 2
    with engine.connect() as conn:
        linked = conn.execute(
            select(sessions.c.tenant_id).where(sessions.c.contact_id.is_not(None))
        ).all()
    assert [row.tenant_id for row in linked] == [tenant_id(engine)]
    assert count(engine, contacts) == 1


# --- channel type of a session ---------------------------------------------------------------


def test_internal_pages_inherit_the_landing_channel_until_a_new_landing(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 30 * 60_000
    minute = 60_000
    landing = f"{SITE}/?utm_medium=cpc&utm_source=google"
    steps = [
        hit(
            1,
            landing,
            ts=t0,
            r="https://www.google.com/",
            lp={"utm_medium": "cpc", "utm_source": "google"},
        ),
        hit(2, f"{SITE}/cursos", ts=t0 + minute, r=landing),
        hit(3, f"{SITE}/cursos/direito", ts=t0 + 2 * minute, r=f"{SITE}/cursos"),
        # Later, in the same session, back from an organic search.
        hit(4, f"{SITE}/", ts=t0 + 20 * minute, r="https://www.google.com.br/"),
        hit(5, f"{SITE}/contato", ts=t0 + 21 * minute, r=f"{SITE}/"),
    ]
    for step in steps:
        assert send(client, [step]).status_code == 204
    assert [v.channel_type for v in stored(engine)] == [
        "Mídia paga",
        "Mídia paga",
        "Mídia paga",
        "Busca orgânica",
        "Busca orgânica",
    ]
    with engine.connect() as conn:
        open_visit = select(visits.c.channel_type).where(visits.c.id == sessions.c.open_visit_id)
        assert conn.execute(open_visit).scalar_one() == "Busca orgânica"
    contact_id = identify(client, seed_tenant, SESSION, emailPrincipal="eva@example.com")
    assert [a["canal"] for a in accesses(client, seed_tenant, contact_id)] == [
        "Mídia paga",
        "Mídia paga",
        "Mídia paga",
        "Busca orgânica",
        "Busca orgânica",
    ]


def test_inheritance_holds_within_one_flushed_batch(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """A queue flushed at once (hits out of order in the body) is classified by time."""
    t0 = now_ms() - 10 * 60_000
    landing = f"{SITE}/?utm_source=facebook"
    reply = send(
        client,
        [
            hit(2, f"{SITE}/cursos", ts=t0 + 60_000, r=landing),
            hit(1, landing, ts=t0, r="https://l.facebook.com/", lp={"utm_source": "facebook"}),
        ],
    )
    assert reply.status_code == 204
    assert sorted((v.seq, v.channel_type) for v in stored(engine)) == [
        (1, "Social"),
        (2, "Social"),
    ]


def test_first_hit_without_a_landing_is_direct_access(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    send(client, [hit(1, f"{SITE}/cursos")])
    send(client, [hit(2, f"{SITE}/contato", r=f"{SITE}/cursos")])
    assert [v.channel_type for v in stored(engine)] == ["Acesso direto", "Acesso direto"]


def test_a_page_on_any_site_can_read_the_collectors_replies(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    """The tracker runs on the schools' sites: a stored hit (204) and a refusal (4xx JSON)
    both carry the CORS header, and a preflight (which beacons avoid, but a fetch with
    other headers makes) is answered."""
    stored_reply = send(client, [hit(1)], headers=ORIGIN)
    assert stored_reply.status_code == 204
    assert stored_reply.headers["access-control-allow-origin"] == "*"
    assert stored_reply.headers["cache-control"] == "no-store"
    refused = send(client, [hit(0)], headers=ORIGIN)  # q starts at 1
    assert refused.status_code == 422
    assert refused.headers["access-control-allow-origin"] == "*"
    assert refused.headers["content-type"] == "application/json"
    assert list(refused.json()["fields"]) == ["hits[0].q"]
    preflight = client.options(
        "/api/collect",
        headers={**ORIGIN, "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
