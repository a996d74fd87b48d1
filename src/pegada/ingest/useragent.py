"""User agent → device type and name, OS, browser; and bot detection.

`ua-parser` (with its `ua-parser-rs` accelerator when installed) names the browser, OS and
device; crawlerdetect's patterns recognise bots (ingest/bots.py, through RE2). Both results
are cached per distinct user agent: real traffic repeats a few thousand strings.
ua-parser does not say *what kind* of device it saw, so the type
(phone, tablet, desktop, tv, console) is derived from its answer and a few UA tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse

from pegada.ingest.bots import looks_like_a_bot

_TV_TOKENS = (
    "smart-tv",
    "smarttv",
    "hbbtv",
    "web0s",
    "webos.tv",
    "crkey",
    "appletv",
    "bravia",
    "roku",
    "aftm",
    "aftt",
    "afts",
    "googletv",
    "android tv",
    " tv ",
)
_CONSOLE_TOKENS = ("playstation", "xbox", "nintendo")
_TABLET_DEVICES = ("ipad", "tablet", "kindle", "silk")


@dataclass(frozen=True, slots=True)
class Device:
    is_bot: bool
    device_type: str  # phone | tablet | desktop | tv | console | bot | unknown
    device_name: str | None
    os: str | None
    os_version: str | None
    browser: str | None
    browser_version: str | None


def _version(*parts: str | None) -> str | None:
    kept = [p for p in parts if p]
    return ".".join(kept) if kept else None


def _kind(ua: str, device_family: str | None, os_family: str | None) -> str:
    low = ua.lower()
    family = (device_family or "").lower()
    if any(token in low for token in _CONSOLE_TOKENS):
        return "console"
    if any(token in low for token in _TV_TOKENS) or family in ("chromecast",):
        return "tv"
    if any(token in family or token in low for token in _TABLET_DEVICES):
        return "tablet"
    if "mobile" in low or family == "iphone" or "phone" in low:
        return "phone"
    if os_family == "Android":
        return "tablet"  # Android without the "Mobile" token is a tablet by convention
    if os_family in ("Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "macOS"):
        return "desktop"
    return "unknown"


@lru_cache(maxsize=20_000)
def is_bot(ua: str) -> bool:
    stripped = ua.strip()
    return not stripped or looks_like_a_bot(stripped)


@lru_cache(maxsize=20_000)
def describe(ua: str) -> Device:
    if is_bot(ua):
        return Device(True, "bot", None, None, None, None, None)
    result = parse(ua)
    agent, os, device = result.user_agent, result.os, result.device
    device_family = device.family if device else None
    if device_family == "Spider":
        return Device(True, "bot", None, None, None, None, None)
    name = None
    if device is not None:
        name = " ".join(p for p in (device.brand, device.model) if p) or device.family
    kind = _kind(ua, device_family, os.family if os else None)
    browser = agent.family if agent else None
    browser_version = _version(agent.major, agent.minor) if agent else None
    if browser == "Apple Mail" and kind in ("console", "tv"):
        # ua-parser's guess for a bare "AppleWebKit/… (KHTML, like Gecko)", as a
        # PlayStation sends: no mail app runs there, the browser is just not named.
        browser = browser_version = None
    return Device(
        False,
        kind,
        name,
        os.family if os else None,
        _version(os.major, os.minor) if os else None,
        browser,
        browser_version,
    )
