"""First and last touch of a contact (SPEC §6): the channel, source, medium, campaign and
landing page of its first visit ever (across all its sessions), and of the visit in which
it converted (the one under way when it was identified). A contact with no tracking at all
gets the unknown channel ("Desconhecida").

Recomputed from the visits whenever they may have changed: on identify, on merge and
unmerge, on recompute, and when late hits add a visit to an identified session.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row

from pegada.attribution.rules import default_rules
from pegada.storage import visits_repo


def touch(visit: Row[Any] | None, unknown: str | None = None) -> dict[str, Any]:
    if visit is None:
        return {"channel": unknown or default_rules().unknown_channel}
    return {
        "channel": visit.channel_type,
        "source": visit.source,
        "medium": visit.medium,
        "campaign": visit.campaign,
        "landing_url": visit.landing_url,
        "at": visit.started_at.isoformat(),
        "visit_id": int(visit.id),
    }


def refresh_touches(
    conn: Connection, tenant_id: int, contact_ids: Iterable[int], *, unknown: str | None = None
) -> None:
    """`unknown`: the channel of no tracking at all (default: the built-in rules' name)."""
    for contact_id in sorted(set(contact_ids)):
        first = visits_repo.first_visit(conn, tenant_id, contact_id)
        conversion = visits_repo.conversion_of(conn, tenant_id, contact_id)
        last = None
        if conversion is not None and conversion.converted_session_id is not None:
            last = visits_repo.converting_visit(
                conn, int(conversion.converted_session_id), conversion.converted_at
            )
        visits_repo.set_touches(
            conn, tenant_id, contact_id, touch(first, unknown), touch(last, unknown)
        )
