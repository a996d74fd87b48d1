"""`GET /libs/RBTracking.min.js?rbclicod=HOSTCLIENT[&mm=1]`: the committed build with its
configuration written in, cacheable, CORS-safe, within its size budget, and safe from a
hostile Host header. Runs on SQLite and PostgreSQL (the tenant is read from the database)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from pegada.api.tracker_script import PLACEHOLDER, SCRIPT_PATH
from pegada.app import create_app
from pegada.settings import Settings
from pegada.storage.tables import tenants
from tests.conftest import SEED_HOST_CLIENT, SeedTenant

BUDGET = 2500  # gzipped bytes (issue #3, tracker README)
URL = f"/libs/RBTracking.min.js?rbclicod={SEED_HOST_CLIENT}"


def template() -> str:
    return SCRIPT_PATH.read_text(encoding="utf-8")


def config_of(body: str) -> dict[str, Any]:
    """The configuration object the server wrote in place of the placeholder, after checking
    that nothing else of the committed build changed."""
    before, after = template().split(PLACEHOLDER)
    assert body.startswith(before)
    assert body.endswith(after)
    config: dict[str, Any] = json.loads(body[len(before) : len(body) - len(after)])
    return config


def fetch(client: TestClient, url: str = URL, **headers: str) -> httpx2.Response:
    return client.get(url, headers=headers)


@pytest.fixture
def public_client(db_url: str, engine: Engine) -> Iterator[TestClient]:
    settings = Settings(database_url=db_url, public_url="https://tracking.escola.edu.br/")
    with TestClient(create_app(settings, engine)) as client:
        yield client


def test_script_for_a_known_tenant(client: TestClient, seed_tenant: SeedTenant) -> None:
    reply = fetch(client)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/javascript")
    assert PLACEHOLDER not in reply.text
    assert f'"h":"{SEED_HOST_CLIENT}"' in reply.text
    # Defaults (automatic mode, honour Do Not Track) are left out to save bytes.
    assert config_of(reply.text) == {"h": SEED_HOST_CLIENT, "e": "http://testserver"}


def test_the_placeholder_is_in_the_committed_build_exactly_once() -> None:
    assert template().count(PLACEHOLDER) == 1


def test_manual_mode(client: TestClient, seed_tenant: SeedTenant) -> None:
    manual = fetch(client, f"{URL}&mm=1")
    assert '"m":1' in manual.text
    assert config_of(manual.text)["m"] == 1
    assert "m" not in config_of(fetch(client, f"{URL}&mm=0").text)


def test_do_not_track_choice_of_the_tenant_reaches_the_script(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    assert "d" not in config_of(fetch(client).text)  # the tracker's default: honour it
    with engine.begin() as conn:
        conn.execute(tenants.update().values(honor_dnt=False))
    client.app.state.tenants.forget()  # type: ignore[attr-defined]
    reply = fetch(client)
    assert '"d":0' in reply.text
    assert config_of(reply.text)["d"] == 0


@pytest.mark.parametrize(
    "url",
    [
        "/libs/RBTracking.min.js",
        "/libs/RBTracking.min.js?rbclicod=",
        "/libs/RBTracking.min.js?rbclicod=ZZZZZZZZZZZZZZZZZZZZ",
        "/libs/RBTracking.min.js?rbclicod=%22%7D%3Balert(1)%3B%2F%2F",
        "/libs/RBTracking.min.js?rbclicod=" + "a" * 5000,
    ],
    ids=["missing", "empty", "unknown", "script-in-code", "long"],
)
def test_unknown_or_missing_tenant_gives_a_script_that_records_nothing(
    client: TestClient, seed_tenant: SeedTenant, url: str
) -> None:
    reply = fetch(client, url)
    assert reply.status_code == 200
    assert '"h":""' in reply.text
    assert config_of(reply.text)["h"] == ""
    assert "alert(1)" not in reply.text


def test_the_body_is_the_committed_build_with_only_the_placeholder_replaced(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    reply = fetch(client)
    config = json.dumps(config_of(reply.text), separators=(",", ":"))
    assert reply.text == template().replace(PLACEHOLDER, config)


def test_etag_and_conditional_requests(client: TestClient, seed_tenant: SeedTenant) -> None:
    first = fetch(client)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert fetch(client).headers["etag"] == etag
    again = fetch(client, **{"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert fetch(client, **{"If-None-Match": '"stale"'}).status_code == 200
    # Another configuration is another ETag.
    manual = fetch(client, f"{URL}&mm=1")
    assert manual.headers["etag"] != etag
    assert fetch(client, f"{URL}&mm=1", **{"If-None-Match": etag}).status_code == 200


def test_cache_and_cors_headers(client: TestClient, seed_tenant: SeedTenant) -> None:
    reply = fetch(client, Origin="https://www.escola.edu.br")
    cache_control = reply.headers["cache-control"]
    assert "public" in cache_control and "max-age=" in cache_control
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert "accept-encoding" in reply.headers["vary"].lower()
    plain = fetch(client)  # no Origin: a plain <script src> load
    assert plain.headers["access-control-allow-origin"] == "*"


def test_the_committed_build_is_within_the_budget() -> None:
    assert len(gzip.compress(template().encode(), compresslevel=9)) <= BUDGET


def test_the_script_is_served_gzipped_to_browsers_that_accept_it(
    public_client: TestClient, seed_tenant: SeedTenant
) -> None:
    reply = fetch(public_client, **{"Accept-Encoding": "gzip, deflate, br"})
    assert reply.status_code == 200
    assert reply.headers["content-encoding"] == "gzip"
    assert int(reply.headers["content-length"]) == reply.num_bytes_downloaded
    assert reply.num_bytes_downloaded < len(reply.content) * 0.6
    assert config_of(reply.text)["h"] == SEED_HOST_CLIENT


def test_what_the_browser_downloads_is_within_the_budget(
    public_client: TestClient, seed_tenant: SeedTenant
) -> None:
    """Served gzipped with a realistic configuration (tenant code, a 30-character URL)."""
    reply = fetch(public_client, **{"Accept-Encoding": "gzip, deflate, br"})
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.num_bytes_downloaded <= BUDGET


def test_gzip_is_not_forced_on_a_client_that_did_not_ask(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    for accept in ("identity", "gzip;q=0", "br"):
        reply = fetch(client, **{"Accept-Encoding": accept})
        assert "content-encoding" not in reply.headers, accept
        assert reply.num_bytes_downloaded == len(reply.content)
        assert config_of(reply.text)["h"] == SEED_HOST_CLIENT
    gzipped = fetch(client, **{"Accept-Encoding": "gzip"})
    plain = fetch(client, **{"Accept-Encoding": "identity"})
    assert gzipped.text == plain.text
    assert gzipped.headers["etag"] != plain.headers["etag"]
    revalidated = fetch(
        client, **{"Accept-Encoding": "gzip", "If-None-Match": gzipped.headers["etag"]}
    )
    assert revalidated.status_code == 304


def test_collector_url_from_the_request(client: TestClient, seed_tenant: SeedTenant) -> None:
    reply = fetch(client, Host="tracking.escola.edu.br:8443")
    assert config_of(reply.text)["e"] == "http://tracking.escola.edu.br:8443"


def test_collector_url_from_settings_wins(
    public_client: TestClient, seed_tenant: SeedTenant
) -> None:
    reply = fetch(public_client, Host="other-name.example")
    assert config_of(reply.text)["e"] == "https://tracking.escola.edu.br"


@pytest.mark.parametrize(
    "host",
    [
        'evil"};alert(1);//',
        "evil.example/</script><script>alert(1)</script>",
        "evil.example\\u2028alert(1)",
        "a b",
    ],
)
def test_a_hostile_host_header_cannot_inject_script(
    client: TestClient, seed_tenant: SeedTenant, host: str
) -> None:
    reply = fetch(client, Host=host)
    assert reply.status_code == 200
    config = config_of(reply.text)  # still the build, with one JSON object in it
    assert set(config) == {"h", "e"}
    assert "alert" not in config["e"]
    assert "alert(1)" not in reply.text
    assert config["e"].startswith("http://")
