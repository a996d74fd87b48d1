"""The hit pipeline: named steps over one request's hits. A refused hit is a `Drop` with a
reason (counted per tenant and day), never silently lost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from pegada.attribution.rules import ChannelRules, Classification
from pegada.ingest.payload import CollectBody, Hit
from pegada.ingest.urls import (
    campaign_params,
    referrer_host,
    split_url,
    without_userinfo,
)
from pegada.ingest.useragent import describe
from pegada.journeys.landing import Landing, Scope, classify_access

#: A queued hit may arrive days late; older or future client times are not trusted.
_MAX_AGE = timedelta(days=7)
_MAX_SKEW = timedelta(minutes=5)


class DropReason(StrEnum):
    BOT = "bot"
    ORIGIN_REFUSED = "origin_refused"
    DO_NOT_TRACK = "do_not_track"
    BAD_URL = "bad_url"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the HTTP request tells beyond the body."""

    tenant_id: int
    user_agent: str
    #: The visitor's network (`ingest/urls.ip_prefix`), never the address.
    network: str | None
    received_at: datetime
    internal_hosts: frozenset[str] = frozenset()
    timezone: str = "America/Sao_Paulo"
    visit_idle: timedelta = timedelta(minutes=30)


@dataclass(slots=True)
class PageView:
    """An enriched hit, ready to be written (session resolved by the writer)."""

    tenant_id: int
    session_hash: str
    seq: int
    is_entry: bool  # a landing: campaign parameters or an outside referrer
    classification: Classification
    row: dict[str, Any]
    #: The tenant's rules, own sites, time zone and idle time (shared by a request's hits).
    scope: Scope


@dataclass(frozen=True, slots=True)
class Drop:
    """Hits refused, counted on the tenant's local day of their arrival (its reports are in
    local days)."""

    tenant_id: int
    reason: DropReason
    count: int
    timezone: str
    received_at: datetime


_MAX_AGE_MS = _MAX_AGE // timedelta(milliseconds=1)
_MAX_SKEW_MS = _MAX_SKEW // timedelta(milliseconds=1)


def occurred_at(hit: Hit, received_at: datetime, now_ms: int | None = None) -> datetime:
    # Compared as whole milliseconds first: an absurd `ts` (any size JSON allows) must fall
    # back to the server's time, not overflow datetime.
    if now_ms is None:
        now_ms = int(received_at.timestamp() * 1000)
    if now_ms - _MAX_AGE_MS <= hit.ts <= now_ms + _MAX_SKEW_MS:
        return datetime.fromtimestamp(hit.ts / 1000, UTC)
    return received_at


@lru_cache(maxsize=1024)
def _scope(
    tenant_id: int,
    rules: ChannelRules,
    internal_hosts: frozenset[str],
    timezone: str,
    idle: timedelta,
) -> Scope:
    """A tenant's scope, built once per setting (every request of a tenant shares it)."""
    return Scope(tenant_id, rules, internal_hosts, ZoneInfo(timezone), idle)


@lru_cache(maxsize=16_384)
def _landing(
    rules: ChannelRules,
    params: tuple[tuple[str, str], ...],
    ref_host: str | None,
    host: str,
    internal_hosts: frozenset[str],
) -> Landing:
    """`classify_access`, remembered: most hits are a site's own pages or the same few
    search engines and campaigns, and the rules are fixed for the process."""
    return classify_access(rules, dict(params), ref_host, host, internal_hosts)


def process(
    body: CollectBody, context: RequestContext, rules: ChannelRules
) -> tuple[list[PageView], list[Drop]]:
    device = describe(context.user_agent)
    if device.is_bot:
        return [], [_drop(context, DropReason.BOT, len(body.hits))]
    views: list[PageView] = []
    drops: list[Drop] = []
    network = context.network
    scope = _scope(
        context.tenant_id, rules, context.internal_hosts, context.timezone, context.visit_idle
    )
    received_at = context.received_at
    now_ms = int(received_at.timestamp() * 1000)
    for hit in body.hits:
        url, referrer = without_userinfo(hit.u), without_userinfo(hit.r)
        split = split_url(url)
        if split is None:
            drops.append(_drop(context, DropReason.BAD_URL, 1))
            continue
        host, path, query = split
        params = campaign_params(hit.lp, query, rules.param_names)
        ref_host = referrer_host(referrer)
        landing = _landing(
            rules, tuple(sorted(params.items())), ref_host, host, context.internal_hosts
        )
        views.append(
            PageView(
                context.tenant_id,
                body.s,
                hit.q,
                landing.is_entry,
                landing.classification,
                {
                    "seq": hit.q,
                    "occurred_at": occurred_at(hit, received_at, now_ms),
                    "received_at": received_at,
                    "url": url,
                    "host": host,
                    "path": path,
                    "title": hit.t or None,
                    "referrer": referrer or None,
                    "referrer_host": ref_host,
                    "utm": params or None,
                    "device_type": device.device_type,
                    "device_name": device.device_name,
                    "os": device.os,
                    "os_version": device.os_version,
                    "browser": device.browser,
                    "browser_version": device.browser_version,
                    "screen": f"{hit.sw}x{hit.sh}" if hit.sw and hit.sh else None,
                    "language": hit.l or None,
                    "time_on_previous_ms": hit.p,
                    "ip_prefix": network,
                },
                scope,
            )
        )
    return views, drops


def _drop(context: RequestContext, reason: DropReason, count: int) -> Drop:
    return Drop(context.tenant_id, reason, count, context.timezone, context.received_at)
