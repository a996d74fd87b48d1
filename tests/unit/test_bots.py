"""Bot detection through RE2 (ingest/bots.py) answers exactly as crawlerdetect itself, on the
1,000 real user agents of the shared file and on strings picked to exercise the parts that
differ between the engines (the exclusions removed first, the lookaround pattern left to
`re`, case, empty leftovers)."""

from __future__ import annotations

import pytest
from crawlerdetect import CrawlerDetect

from pegada.ingest.bots import looks_like_a_bot
from tests.unit.test_useragent import UA_FILE

TRICKY = [
    "YandexBot/3.0",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (Linux; Android 12) YandexSearch/22.13 Mobile Safari/537.36",
    "yandex",
    "GOOGLEBOT/2.1",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36 Instagram 312.0.0.32.112",
    "Mozilla/5.0",
    "Safari",
    "x",
]


def _file_agents() -> list[str]:
    return [line.strip() for line in UA_FILE.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("agent", TRICKY)
def test_tricky_strings_agree_with_crawlerdetect(agent: str) -> None:
    assert looks_like_a_bot(agent) == CrawlerDetect().isCrawler(agent)


def test_every_real_user_agent_agrees_with_crawlerdetect() -> None:
    detector = CrawlerDetect()
    agents = _file_agents()
    differing = [a for a in agents if looks_like_a_bot(a) != detector.isCrawler(a)]
    assert differing == []
    assert sum(map(looks_like_a_bot, agents)) >= 10  # the file's bots are found
