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


@dataclass(frozen=True)
class Touch:
    """What a landing tells about its source: campaign parameters and referrer."""

    params: Mapping[str, str] = field(default_factory=dict)  # utm_* and click ids, lower keys
    referrer_host: str | None = None
    page_host: str | None = None


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
            name: {str(v).lower() for v in document[name]}
            for name in ("paid_mediums", "display_mediums")
        }
        self.click_ids = [c.lower() for c in document["click_ids"]]
        self.utm_params = [u.lower() for u in document["utm_params"]]
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
        if touch.referrer_host and not _same_site(touch.referrer_host, touch.page_host):
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


def _same_site(referrer_host: str, page_host: str | None) -> bool:
    return page_host is not None and _bare(referrer_host) == _bare(page_host)


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
    for key in ("version", "rules", "sources", "unknown_channel", "click_ids", "utm_params"):
        if key not in document:
            raise ValueError(f"channel rules: missing {key!r}")

    def check(when: dict[str, Any], where: str) -> None:
        for name, value in when.items():
            if name not in _KNOWN_CONDITIONS:
                raise ValueError(f"channel rules: unknown condition {name!r} in {where}")
            if name == "any":
                for index, option in enumerate(value):
                    check(option, f"{where}.any[{index}]")

    for index, rule in enumerate(document["rules"]):
        check(rule.get("when", {}), f"rules[{index}] ({rule.get('channel')})")


@lru_cache(maxsize=1)
def default_rules() -> ChannelRules:
    return ChannelRules.load()
