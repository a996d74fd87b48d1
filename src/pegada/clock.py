"""The current time, in one place so every timestamp of a request agrees."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def epoch_microseconds() -> int:
    """Now as whole microseconds since the epoch: how the hit spool records arrivals (an
    integer is cheaper to take and to store than a datetime on that path)."""
    return time.time_ns() // 1000


def aware_utc(text: str) -> datetime:
    """An ISO time that names its offset, in UTC; ValueError for anything else (a naive time
    would be read in whatever zone the server runs in). Cursors carry times this way."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, OverflowError) as exc:
        raise ValueError(text) from exc
    if moment.tzinfo is None:
        raise ValueError(text)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(text) from exc
