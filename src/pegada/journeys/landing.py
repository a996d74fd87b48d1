"""What one page access says about where the visitor came from: its channel classification
and whether it is a landing (an "entry": campaign parameters or an outside referrer).

One function for both places that classify: the hit path (`ingest/pipeline.py`, from the
request) and the rebuild of stored history (`journeys/recompute.py`, from a stored page
view, when the rules or the tenant's settings changed or a late hit arrived).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pegada.attribution.rules import ChannelRules, Classification, Touch
from pegada.ingest.urls import campaign_params, site_host, split_url


@dataclass(frozen=True, slots=True)
class Scope:
    """How one tenant's page accesses are attributed and grouped into visits."""

    tenant_id: int
    rules: ChannelRules
    #: The tenant's own sites (hosts of its allowed origins): their referrers are internal.
    internal_hosts: frozenset[str]
    zone: ZoneInfo
    idle: timedelta


@dataclass(frozen=True, slots=True)
class Landing:
    classification: Classification
    #: Campaign parameters or an outside referrer: the access may start a visit of its own.
    is_entry: bool


def classify_access(
    rules: ChannelRules,
    params: Mapping[str, str],
    referrer_host: str | None,
    page_host: str,
    internal_hosts: frozenset[str],
) -> Landing:
    classification = rules.classify(Touch(params, referrer_host, page_host, internal_hosts))
    external = referrer_host is not None and classification.referrer_kind != "none"
    return Landing(classification, bool(params) or external)


def stored_params(url: str, utm: Mapping[str, str] | None, names: frozenset[str]) -> dict[str, str]:
    """The campaign parameters of a stored page view under the current rules, read as the
    hit path reads them (`campaign_params`): what was stored of them (the tracker's `lp`, or
    the URL's) over the URL's query, so a parameter the rules learned since is found in the
    URL, and one they dropped is ignored."""
    split = split_url(url)
    return campaign_params(dict(utm) if utm else None, split[2] if split else {}, names)


def classify_stored(scope: Scope, row: Any) -> Landing:
    """`classify_access` of a stored page view (url, utm, host, referrer_host)."""
    params = stored_params(row.url, row.utm, scope.rules.param_names)
    return classify_access(scope.rules, params, row.referrer_host, row.host, scope.internal_hosts)


def own_hosts(origins: Iterable[str]) -> frozenset[str]:
    """The tenant's own sites from its allowed origins (as `ingest/tenants.py` reads them)."""
    normalized = (origin.rstrip("/").lower() for origin in origins)
    return frozenset(filter(None, (site_host(origin) for origin in normalized)))
