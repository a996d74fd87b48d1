"""Is a user agent a bot? crawlerdetect's own pattern lists, matched with RE2.

crawlerdetect joins about 1,500 patterns into one alternation for Python's `re`, which
costs hundreds of microseconds for each user agent not seen before; real traffic brings new
strings all the time, so that cost lands on live hits. RE2 (google-re2) runs the same
alternation in linear time, several times faster (bench/profile_hitpath.py prints both). The
steps are crawlerdetect's: remove the exclusion patterns from the string, then look for
any crawler pattern; both engines take the leftmost alternative that matches, so the
removal gives the same string. The few crawler patterns RE2 cannot compile (lookarounds:
one of 1,462 today) are matched with `re`. tests/unit/test_bots.py checks the answers
against crawlerdetect itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import re2
from crawlerdetect.providers.crawlers import data as crawler_patterns
from crawlerdetect.providers.exclusions import data as exclusion_patterns

_OPTIONS = re2.Options()
_OPTIONS.case_sensitive = False
_OPTIONS.max_mem = 64 << 20  # the crawler alternation needs more than RE2's default 8 MiB


#: Lookarounds, which RE2 does not have (it says so on stderr when asked to compile one).
_LOOKAROUND = re.compile(r"\(\?<?[=!]")


def _re2_able(pattern: str) -> bool:
    return _LOOKAROUND.search(pattern) is None


def _alternation(patterns: Iterable[str]) -> str:
    return "(?:" + "|".join(patterns) + ")"


_fast = [p for p in crawler_patterns if _re2_able(p)]
_slow = [p for p in crawler_patterns if not _re2_able(p)]
_EXCLUSIONS = re2.compile(_alternation(exclusion_patterns), _OPTIONS)
_CRAWLERS = re2.compile(_alternation(_fast), _OPTIONS)
_CRAWLERS_RE = re.compile(_alternation(_slow), re.IGNORECASE) if _slow else None


def looks_like_a_bot(user_agent: str) -> bool:
    """crawlerdetect's `isCrawler` answer for a (stripped, non-empty) user agent."""
    agent = _EXCLUSIONS.sub("", user_agent)
    if not agent:
        return False
    if _CRAWLERS.search(agent) is not None:
        return True
    return _CRAWLERS_RE is not None and _CRAWLERS_RE.search(agent) is not None
