"""Classifying a landing into a channel type with the data-driven rules of channels.json.

A rule's `when` is a set of conditions that must all hold; `any` holds when one of its
nested condition sets does. The vocabulary is small on purpose so the file stays readable:
`medium_in`, `medium_in_list`, `source_mapped`, `source_kind`, `click_id`, `no_utm`,
`no_params`, `referrer_kind` (none | search | social | other).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_RULES_PATH = Path(__file__).with_name("channels.json")
_KNOWN_CONDITIONS = {
    "medium_in",
    "medium_in_list",
    "source_mapped",
    "source_kind",
    "click_id",
    "no_utm",
    "no_params",
    "referrer_kind",
    "any",
}
_MEDIUM_LISTS = ("paid_mediums", "display_mediums")
#: sessions.channel_type and page_views.channel_type hold at most this many characters.
_MAX_CHANNEL_LENGTH = 40


@dataclass(frozen=True)
class Touch:
    """What a landing tells about its source: campaign parameters and referrer."""

    params: Mapping[str, str] = field(default_factory=dict)  # utm_* and click ids, lower keys
    referrer_host: str | None = None
    page_host: str | None = None
    #: The tenant's other sites (cross-domain tracking): a referrer from one is internal.
    internal_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Classification:
    channel: str
    source: str | None
    medium: str | None
    campaign: str | None
    referrer_kind: str
    rules_version: int


class ChannelRules:
    """The loaded rule set. Build with `ChannelRules.load(path)`; immutable afterwards."""

    def __init__(self, document: dict[str, Any]) -> None:
        _validate(document)
        self.version = int(document["version"])
        self.rules: list[tuple[str, dict[str, Any]]] = [
            (rule["channel"], rule["when"]) for rule in document["rules"]
        ]
        self.unknown_channel: str = document["unknown_channel"]
        self.lists: dict[str, set[str]] = {
            name: {str(v).lower() for v in document[name]} for name in _MEDIUM_LISTS
        }
        self.click_ids = [c.lower() for c in document["click_ids"]]
        self.utm_params = [u.lower() for u in document["utm_params"]]
        #: Query parameters that carry attribution (UTM and click ids).
        self.param_names = frozenset(self.utm_params + self.click_ids)
        self.source_kind: dict[str, str] = {}
        self.exact_hosts: dict[str, tuple[str, str]] = {}
        self.wildcard_labels: dict[str, tuple[str, str]] = {}
        for name, source in document["sources"].items():
            kind = source["kind"]
            for alias in [name, *source.get("aliases", [])]:
                self.source_kind[alias.lower()] = kind
            for host in source.get("hosts", []):
                host = host.lower()
                if host.endswith(".*"):
                    self.wildcard_labels[host[:-2]] = (name, kind)
                else:
                    self.exact_hosts[host] = (name, kind)

    @classmethod
    def load(cls, path: Path = DEFAULT_RULES_PATH) -> ChannelRules:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def referrer_source(self, host: str) -> tuple[str, str] | None:
        """(source name, kind) of a referrer host, if it is a mapped site."""
        labels = host.lower().rstrip(".").split(".")
        for start in range(len(labels) - 1):
            found = self.exact_hosts.get(".".join(labels[start:]))
            if found:
                return found
        for index, label in enumerate(labels):
            rest = labels[index + 1 :]
            if label in self.wildcard_labels and rest and all(len(part) <= 3 for part in rest):
                return self.wildcard_labels[label]
        return None

    def classify(self, touch: Touch) -> Classification:
        facts = self._facts(touch)
        for channel, when in self.rules:
            if _holds(when, facts, self):
                return Classification(
                    channel,
                    facts["source"],
                    facts["medium"],
                    facts["campaign"],
                    facts["referrer_kind"],
                    self.version,
                )
        return Classification(self.unknown_channel, None, None, None, "none", self.version)

    def _facts(self, touch: Touch) -> dict[str, Any]:
        params = {k.lower(): v.strip() for k, v in touch.params.items() if v and v.strip()}
        source = params.get("utm_source", "").lower() or None
        medium = params.get("utm_medium", "").lower() or None
        referrer_kind = "none"
        referrer_name = None
        if touch.referrer_host and not _internal(touch):
            mapped = self.referrer_source(touch.referrer_host)
            referrer_kind = mapped[1] if mapped else "other"
            referrer_name = mapped[0] if mapped else _bare(touch.referrer_host)
        has_utm = any(name in params for name in self.utm_params)
        has_click = any(name in params for name in self.click_ids)
        return {
            "source": source or referrer_name,
            "utm_source": source,
            "medium": medium,
            "campaign": params.get("utm_campaign"),
            "source_kind": self.source_kind.get(source or ""),
            "source_mapped": source is not None and source in self.source_kind,
            "click_id": has_click,
            "no_utm": not has_utm,
            "no_params": not has_utm and not has_click,
            "referrer_kind": referrer_kind,
        }


def _bare(host: str) -> str:
    host = host.lower()
    return host[4:] if host.startswith("www.") else host


def _internal(touch: Touch) -> bool:
    assert touch.referrer_host is not None
    host = _bare(touch.referrer_host)
    if touch.page_host is not None and host == _bare(touch.page_host):
        return True
    return host in touch.internal_hosts


def _holds(when: dict[str, Any], facts: dict[str, Any], rules: ChannelRules) -> bool:
    for name, expected in when.items():
        if name == "any":
            if not any(_holds(option, facts, rules) for option in expected):
                return False
        elif name == "medium_in":
            if facts["medium"] not in {str(v).lower() for v in expected}:
                return False
        elif name == "medium_in_list":
            if facts["medium"] not in rules.lists[expected]:
                return False
        elif name == "source_kind":
            if facts["source_kind"] != expected:
                return False
        elif facts[name] != expected:
            return False
    return True


def _validate(document: dict[str, Any]) -> None:
    for key in (
        "version",
        "rules",
        "sources",
        "unknown_channel",
        "click_ids",
        "utm_params",
        *_MEDIUM_LISTS,
    ):
        if key not in document:
            raise ValueError(f"channel rules: missing {key!r}")

    def check(when: dict[str, Any], where: str) -> None:
        for name, value in when.items():
            if name not in _KNOWN_CONDITIONS:
                raise ValueError(f"channel rules: unknown condition {name!r} in {where}")
            if name == "medium_in_list" and value not in _MEDIUM_LISTS:
                # Would otherwise fail on every classified hit, not when the file is loaded.
                raise ValueError(f"channel rules: unknown medium list {value!r} in {where}")
            if name == "any":
                for index, option in enumerate(value):
                    check(option, f"{where}.any[{index}]")

    for index, rule in enumerate(document["rules"]):
        channel = rule.get("channel")
        where = f"rules[{index}] ({channel})"
        if not isinstance(channel, str) or not 0 < len(channel) <= _MAX_CHANNEL_LENGTH:
            raise ValueError(
                f"channel rules: {where} needs a channel name of 1 to "
                f"{_MAX_CHANNEL_LENGTH} characters"
            )
        if not isinstance(rule.get("when"), dict):
            raise ValueError(f"channel rules: {where} has no 'when' object")
        check(rule["when"], where)
    for name, source in document["sources"].items():
        if "kind" not in source:
            raise ValueError(f"channel rules: source {name!r} has no 'kind'")


@lru_cache(maxsize=1)
def default_rules() -> ChannelRules:
    return ChannelRules.load()
