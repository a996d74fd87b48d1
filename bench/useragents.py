"""A realistic, uneven user-agent mix for the collector benchmark.

`/work/shared/data/user-agents.txt` holds 1,000 distinct strings in no particular order. Real
traffic is very uneven: a handful of strings (current Chrome on Android and Windows, Safari on
iPhone) carry a large share of visits, and there is a long tail of older versions, in-app
browsers, tablets, TVs and consoles. This module ranks the browsers by a popularity score
(kind of device/browser, how recent the version is, a seeded random factor) and gives rank `k`
the Zipf weight `1 / k**s`. Bots and HTTP clients get a fixed share of *sessions*, Zipf among
themselves too. The result is deterministic for a given seed.

Bots are recognised here with our own pattern, independently of the server's crawlerdetect, so
the benchmark's "stored rows = non-bot hits" check is a real check of the server.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SOURCE = Path("/work/shared/data/user-agents.txt")

BOT_RE = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|facebookexternalhit|headless|^curl/|^wget/|"
    r"python-requests|go-http-client|okhttp|^java/|libwww",
    re.IGNORECASE,
)
_MOBILE_RE = re.compile(r"mobile|iphone|ipod|android(?!.*tv)", re.IGNORECASE)
_TABLET_RE = re.compile(r"ipad|tablet|kindle|silk", re.IGNORECASE)
_MAJOR_RE = re.compile(r"(?:Chrome|Firefox|Version|Edg|OPR|SamsungBrowser|FxiOS|CriOS)/(\d+)")

#: (kind, pattern, share of browser sessions), tried in order: the first match is the UA's
#: kind. Shaped after a Brazilian school's site: mostly phones, Chrome first, iPhone second.
_KINDS: list[tuple[str, re.Pattern[str], float]] = [
    ("in-app", re.compile(r"Instagram|FBAN|FBAV|FB_IAB|WhatsApp|TikTok|musical_ly", re.I), 0.06),
    (
        "tv/console",
        re.compile(r"SMART-TV|SmartTV|Web0S|Tizen|PlayStation|Xbox|Nintendo", re.I),
        0.005,
    ),
    ("samsung", re.compile(r"SamsungBrowser"), 0.03),
    ("android chrome", re.compile(r"Android.*Chrome/.*Mobile", re.S), 0.40),
    ("iphone safari", re.compile(r"iPhone.*Version/.*Safari", re.S), 0.18),
    ("iphone other", re.compile(r"iPhone"), 0.02),
    ("windows chrome", re.compile(r"Windows NT.*Chrome/(?!.*(Edg|OPR|YaBrowser)/)", re.S), 0.14),
    ("edge", re.compile(r"Edg/"), 0.05),
    ("mac", re.compile(r"Macintosh"), 0.05),
    ("tablet", re.compile(r"iPad|Tablet|Android(?!.*Mobile)", re.S), 0.02),
    ("firefox", re.compile(r"Firefox/"), 0.015),
]
_OTHER = ("other", 0.03)
#: Bots most often seen running page scripts first.
_BOT_ORDER = ("Googlebot", "bingbot", "HeadlessChrome", "facebookexternalhit", "YandexBot")


@dataclass(frozen=True)
class WeightedAgent:
    ua: str
    weight: float  # share within its group (browsers or bots), sums to 1 per group
    bot: bool
    mobile: bool


@dataclass(frozen=True)
class AgentMix:
    browsers: list[WeightedAgent]  # most common first
    bots: list[WeightedAgent]
    bot_session_share: float
    zipf_s: float

    def top_share(self, n: int) -> float:
        return sum(a.weight for a in self.browsers[:n])

    def write_lua_data(self, path: Path) -> None:
        """One line per agent: `group<TAB>weight<TAB>mobile<TAB>ua`, group `b` (browser) or
        `x` (bot); the first line is `share<TAB><bot session share>`. Read by collect.lua."""
        lines = [f"share\t{self.bot_session_share:.6f}"]
        for group, agents in (("b", self.browsers), ("x", self.bots)):
            for agent in agents:
                lines.append(f"{group}\t{agent.weight:.9f}\t{int(agent.mobile)}\t{agent.ua}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def kind_of(ua: str) -> tuple[str, float]:
    """(kind, share of browser sessions of that kind)."""
    return next(((kind, share) for kind, pattern, share in _KINDS if pattern.search(ua)), _OTHER)


def _recency(ua: str, rng: random.Random) -> float:
    """Newer versions first (with a seeded random factor): most visitors run current ones."""
    major = _MAJOR_RE.search(ua)
    recent = False
    if major:
        version = int(major.group(1))
        recent = version >= 17 if "Version/" in ua else version >= 120
    return (2.0 if recent else 1.0) * rng.lognormvariate(0.0, 0.5)


def _zipf(count: int, s: float) -> list[float]:
    raw = [1.0 / (rank**s) for rank in range(1, count + 1)]
    total = sum(raw)
    return [w / total for w in raw]


def build_mix(
    source: Path = DEFAULT_SOURCE,
    *,
    seed: int = 20240601,
    zipf_s: float = 1.1,
    bot_session_share: float = 0.08,
) -> AgentMix:
    """Every kind gets its share of browser sessions, split over its UAs by Zipf(`zipf_s`) in
    order of recency; bots get `bot_session_share` of all sessions, Zipf(1) among them."""
    lines = source.read_text(encoding="utf-8").splitlines()
    agents = list(dict.fromkeys(line.strip() for line in lines if line.strip()))
    rng = random.Random(seed)
    by_kind: dict[str, list[str]] = {}
    shares: dict[str, float] = {}
    bots: list[str] = []
    for ua in agents:
        if BOT_RE.search(ua):
            bots.append(ua)
            continue
        kind, share = kind_of(ua)
        by_kind.setdefault(kind, []).append(ua)
        shares[kind] = share
    total_share = sum(shares.values())
    weighted: list[tuple[float, str]] = []
    for kind, members in sorted(by_kind.items()):
        members.sort(key=lambda ua: _recency(ua, rng), reverse=True)
        scale = shares[kind] / total_share
        weighted += [
            (w * scale, ua) for ua, w in zip(members, _zipf(len(members), zipf_s), strict=True)
        ]
    weighted.sort(key=lambda pair: pair[0], reverse=True)

    def bot_rank(ua: str) -> tuple[int, str]:
        known = [i for i, name in enumerate(_BOT_ORDER) if name in ua]
        return (known[0] if known else len(_BOT_ORDER), ua)

    bots.sort(key=bot_rank)
    browsers = [
        WeightedAgent(ua, w, False, bool(_MOBILE_RE.search(ua)) and not _TABLET_RE.search(ua))
        for w, ua in weighted
    ]
    bot_agents = [
        WeightedAgent(ua, w, True, False) for ua, w in zip(bots, _zipf(len(bots), 1.0), strict=True)
    ]
    return AgentMix(browsers, bot_agents, bot_session_share if bots else 0.0, zipf_s)
