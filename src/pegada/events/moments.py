"""Reading the `momento` of an event: CRM style `YYYY-MM-DD hh:mm:ss` is local time of the
tenant; ISO 8601 with an offset is taken as given."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pegada.errors import field_error

_LOCAL_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
#: Years a moment may fall in: far enough from datetime's limits (years 1 and 9999) that
#: converting between UTC and any time zone, to store it or to show it, cannot overflow.
_MIN_YEAR, _MAX_YEAR = 1000, 9000


def parse_moment(value: str, timezone: str, *, field: str) -> datetime:
    text = value.strip()
    for pattern in _LOCAL_FORMATS:
        try:
            local = datetime.strptime(text, pattern)
        except ValueError:
            continue
        return _in_range(local.replace(tzinfo=ZoneInfo(timezone)), field)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise field_error(field, "not a date and time (use YYYY-MM-DD hh:mm:ss)") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
    return _in_range(parsed, field)


def _in_range(moment: datetime, field: str) -> datetime:
    if not _MIN_YEAR <= moment.year <= _MAX_YEAR:
        raise field_error(field, f"year out of range (from {_MIN_YEAR} to {_MAX_YEAR})")
    return moment.astimezone(UTC)


def local_iso(moment: datetime, timezone: str) -> str:
    """A stored UTC moment as ISO 8601 in the tenant's time zone, with its offset."""
    return moment.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")
