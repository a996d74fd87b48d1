"""Splitting page and referrer URLs, reading campaign parameters, and truncating IPs (an IP is
never stored in full: SPEC §7, LGPD)."""

from __future__ import annotations

import pytest

from pegada.attribution.rules import ChannelRules
from pegada.ingest.urls import campaign_params, ip_prefix, referrer_host, split_url

RULES = ChannelRules.load()
NAMES = frozenset(RULES.utm_params + RULES.click_ids)


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("203.0.113.0", "203.0.113.0/24"),
        ("127.0.0.1", "127.0.0.0/24"),
        ("10.1.2.255", "10.1.2.0/24"),
        ("2001:db8:abcd:12:3456:789a:bcde:f012", "2001:db8:abcd::/48"),
        ("2001:0DB8:ABCD:0012::1", "2001:db8:abcd::/48"),
        ("::1", "::/48"),
        # A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6 addresses.
        ("::ffff:203.0.113.77", "203.0.113.0/24"),
        ("fe80::1%eth0", "fe80::/48"),
    ],
)
def test_ip_is_kept_only_as_its_network(address: str, network: str) -> None:
    assert ip_prefix(address) == network


@pytest.mark.parametrize("address", [None, "", "testclient", "unix:/run/pegada.sock", "1.2.3"])
def test_what_is_not_an_ip_is_not_kept(address: str | None) -> None:
    assert ip_prefix(address) is None


def test_no_part_of_the_host_address_survives() -> None:
    v4 = ip_prefix("198.51.100.234")
    v6 = ip_prefix("2001:db8:1:2:3:4:5:6")
    assert v4 is not None and "234" not in v4
    assert v6 is not None and ":2:" not in v6 and ":6" not in v6


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://www.Escola.EDU.br:8443/cursos/direito?turno=noite&utm_source=g#inscricao",
            ("www.escola.edu.br", "/cursos/direito", {"turno": "noite", "utm_source": "g"}),
        ),
        ("http://escola.edu.br", ("escola.edu.br", "/", {})),
        ("HTTPS://ESCOLA.EDU.BR/A", ("escola.edu.br", "/A", {})),
        ("https://escola.edu.br/?utm_source=&x=1", ("escola.edu.br", "/", {"x": "1"})),
        ("https://[2001:db8::1]:8080/p", ("2001:db8::1", "/p", {})),
    ],
)
def test_split_url(url: str, expected: tuple[str, str, dict[str, str]]) -> None:
    assert split_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://escola.edu.br/",
        "data:text/html,<h1>x</h1>",
        "about:blank",
        "https://",
        "https://[::1/",
        "//escola.edu.br/",
        "/cursos",
        "not a url",
    ],
)
def test_split_url_refuses_what_is_not_an_http_page(url: str) -> None:
    assert split_url(url) is None


@pytest.mark.parametrize(
    ("referrer", "host"),
    [
        ("https://www.Google.com.br/search?q=vestibular", "www.google.com.br"),
        ("http://t.co/abc", "t.co"),
        ("android-app://com.google.android.gm/", "com.google.android.gm"),
        ("", None),
        ("not a url", None),
        ("http://[::1", None),
        ("javascript:void(0)", None),
    ],
)
def test_referrer_host(referrer: str, host: str | None) -> None:
    assert referrer_host(referrer) == host


def test_campaign_params_from_the_landing_win_over_the_query() -> None:
    landing = {"utm_source": "google", "utm_medium": "cpc", "gclid": "X"}
    query = {"utm_source": "other", "page": "2"}
    assert campaign_params(landing, query, NAMES) == landing


def test_campaign_params_from_the_query_keep_only_known_names() -> None:
    query = {"UTM_Source": "Google", "utm_medium": "cpc", "fbclid": "F", "page": "2", "q": "x"}
    assert campaign_params(None, query, NAMES) == {
        "utm_source": "Google",
        "utm_medium": "cpc",
        "fbclid": "F",
    }


def test_campaign_params_skip_empty_values() -> None:
    assert campaign_params({"utm_source": "", "gclid": "G"}, {}, NAMES) == {"gclid": "G"}
    assert campaign_params(None, {}, NAMES) == {}
