"""The dimensions a breakdown can be by, the columns that make each one's key, and the
`report_visits` column that says when a session last had a visit with the same key (how
its visitors are counted without DISTINCT)."""

from __future__ import annotations

from typing import Any

#: Breakdown dimensions: name → the visit columns that make its key.
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "channel": ("channel_type",),
    "source_medium_campaign": ("source", "medium", "campaign"),
    "landing_page": ("landing_host", "landing_path"),
    "device": ("device_type",),
    "browser": ("browser",),
    "os": ("os",),
}

#: The name each visit column takes in a breakdown key.
KEY_NAMES = {
    "channel_type": "channel",
    "source": "source",
    "medium": "medium",
    "campaign": "campaign",
    "landing_host": "host",
    "landing_path": "path",
    "device_type": "device",
    "browser": "browser",
    "os": "os",
}


def key_columns(table: Any, dimension: str | None) -> list[Any]:
    """The dimension's key columns of `table` (visits or report_visits), labelled
    `k_<key name>`; none without a dimension."""
    if dimension is None:
        return []
    return [table.c[name].label(f"k_{KEY_NAMES[name]}") for name in DIMENSIONS[dimension]]


def prev_day_column(dimension: str | None) -> str:
    """The report_visits column holding the day of the session's previous visit with the
    same key (any previous visit without a dimension)."""
    return "prev_day" if dimension is None else f"prev_day_{dimension}"
