"""User agent → device type and name, OS, browser, and bot detection, over the project's
1,000 real user agents (/work/shared/data/user-agents.txt)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pegada.ingest.useragent import describe

UA_FILE = Path(os.environ.get("PEGADA_TEST_USER_AGENTS", "/work/shared/data/user-agents.txt"))
USER_AGENTS = UA_FILE.read_text(encoding="utf-8").splitlines()

#: What marks a crawler or an HTTP library in the file (checked by eye: no browser matches).
BOT_PATTERN = re.compile(
    r"bot|crawl|spider|curl/|python-requests|go-http-client|facebookexternalhit|headlesschrome",
    re.IGNORECASE,
)

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 13; moto g(60)) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 10; Lenovo TB-X606F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Safari/605.1.15"
)
SMART_TV = (
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "76.0.3809.146/6.0 TV Safari/537.36"
)
LG_TV = (
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/79.0.3945.79 Safari/537.36 WebAppManager"
)
CONSOLE = "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_the_file_is_the_one_described() -> None:
    assert len(USER_AGENTS) == 1000
    assert len(set(USER_AGENTS)) == 1000
    for known in (IPHONE, ANDROID_PHONE, IPAD, ANDROID_TABLET, WINDOWS_CHROME, MAC_SAFARI):
        assert known in USER_AGENTS
    for known in (SMART_TV, LG_TV, CONSOLE, GOOGLEBOT):
        assert known in USER_AGENTS


def test_every_user_agent_classifies() -> None:
    kinds = {"phone", "tablet", "desktop", "tv", "console", "bot", "unknown"}
    for ua in USER_AGENTS:
        device = describe(ua)
        assert device.device_type in kinds, ua
        assert device.is_bot == (device.device_type == "bot"), ua
        if device.device_type in ("phone", "tablet", "desktop"):
            assert device.browser and device.os, ua


def test_bots_in_the_file_are_flagged_and_browsers_are_not() -> None:
    expected = {ua for ua in USER_AGENTS if BOT_PATTERN.search(ua)}
    flagged = {ua for ua in USER_AGENTS if describe(ua).is_bot}
    assert len(expected) >= 15
    assert flagged == expected


def test_browsers_are_mostly_phones_and_desktops() -> None:
    types = [describe(ua).device_type for ua in USER_AGENTS]
    assert types.count("unknown") == 0
    assert types.count("desktop") > 300
    assert types.count("phone") > 300
    assert types.count("tablet") > 30


@pytest.mark.parametrize(
    ("ua", "device_type", "name", "os", "browser"),
    [
        (IPHONE, "phone", "Apple iPhone", "iOS", "Mobile Safari"),
        (ANDROID_PHONE, "phone", "Motorola g(60)", "Android", "Chrome Mobile"),
        (IPAD, "tablet", "Apple iPad", "iOS", "Mobile Safari"),
        (ANDROID_TABLET, "tablet", "Lenovo TB-X606F", "Android", "Chrome"),
        (WINDOWS_CHROME, "desktop", None, "Windows", "Chrome"),
        (MAC_SAFARI, "desktop", "Apple Mac", "Mac OS X", "Safari"),
        (SMART_TV, "tv", "Samsung SMART-TV", "Tizen", "Safari"),
        (LG_TV, "tv", "LG Web0S SmartTV", "Web0S", "Chrome"),
        (CONSOLE, "console", "Sony PlayStation 5", None, None),
    ],
)
def test_known_devices(
    ua: str, device_type: str, name: str | None, os: str | None, browser: str | None
) -> None:
    device = describe(ua)
    assert device.device_type == device_type
    assert device.device_name == name
    assert device.os == os
    assert device.browser == browser


def test_versions_are_major_dot_minor() -> None:
    iphone = describe(IPHONE)
    assert (iphone.os_version, iphone.browser_version) == ("17.4", "17.4")
    windows = describe(WINDOWS_CHROME)
    assert (windows.os_version, windows.browser_version) == ("10", "121.0")


@pytest.mark.parametrize(
    "ua",
    [
        GOOGLEBOT,
        "curl/8.5.0",
        "python-requests/2.31.0",
        "Wget/1.21.4",
        "Go-http-client/1.1",
        "",
        "   ",
    ],
)
def test_bots_and_http_clients(ua: str) -> None:
    device = describe(ua)
    assert device.is_bot
    assert device.device_type == "bot"
    assert (device.os, device.browser) == (None, None)


def test_results_are_cached_per_user_agent() -> None:
    assert describe(IPHONE) is describe(IPHONE)
