"""Generating and checking the public identifiers of SPEC §2."""

from __future__ import annotations

import re
import secrets
import string
import time

_ALPHANUMERIC = string.ascii_letters + string.digits
HOST_CLIENT_RE = re.compile(r"^[A-Za-z0-9]{20}$")
TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
#: Session hashes, substitute ids and event ids: generated ones are 45 digits, but any
#: non-empty printable id a backend supplies (an order number, a UUID) is accepted.
EXTERNAL_ID_MAX = 128
_EXTERNAL_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


def new_host_client() -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(20))


def new_token() -> str:
    return secrets.token_hex(16)


def new_tracking_id(now_ms: int | None = None) -> str:
    """32 random digits then the 13-digit Unix time in ms, as `RBTracking.idGenerator()`."""
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    random_digits = "".join(str(secrets.randbelow(10)) for _ in range(32))
    return f"{random_digits}{millis:013d}"


def is_external_id(value: str) -> bool:
    """True for an id we accept from outside: 1–128 visible ASCII characters, no spaces."""
    return bool(_EXTERNAL_ID_RE.match(value))
