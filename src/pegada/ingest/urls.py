"""Splitting page and referrer URLs, and reading campaign parameters, for enrichment."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit


def split_url(url: str) -> tuple[str, str, dict[str, str]] | None:
    """(host, path, query) of an http(s) URL; None when it is not one."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    query = dict(parse_qsl(parts.query, keep_blank_values=False)) if parts.query else {}
    return parts.hostname, parts.path or "/", query


def referrer_host(referrer: str) -> str | None:
    if not referrer:
        return None
    try:
        parts = urlsplit(referrer)
    except ValueError:
        return None
    if parts.scheme in ("http", "https") and parts.hostname:
        return parts.hostname
    if parts.scheme == "android-app" and parts.hostname:
        return parts.hostname  # e.g. android-app://com.google.android.gm
    return None


def campaign_params(
    landing: dict[str, str] | None, query: dict[str, str], names: frozenset[str]
) -> dict[str, str]:
    """UTM parameters and click ids from the page URL's query and the tracker's `lp` (the
    landing URL's, which wins); the tracker sends only the common ones in `lp`, so rarer
    click ids are read from the URL."""
    found = {key.lower(): value for key, value in query.items() if key.lower() in names and value}
    for key, value in (landing or {}).items():
        if key.lower() in names and value:
            found[key.lower()] = value
    return found


@lru_cache(maxsize=65_536)
def ip_prefix(address: str | None) -> str | None:
    """The network an IP belongs to (/24 for IPv4, /48 for IPv6), never the address.
    Remembered per address: a visitor sends many hits from one."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:a.b.c.d from a dual-stack listener is an IPv4 client
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def site_host(url: str) -> str | None:
    """The host of an origin or URL, lower-case and without a leading "www."."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host[4:] if host.startswith("www.") else host


def without_userinfo(url: str) -> str:
    """The URL without `user:password@`: credentials in a link are never stored."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=netloc).geturl()
