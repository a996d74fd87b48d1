"""The current time, in one place so every timestamp of a request agrees."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


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
