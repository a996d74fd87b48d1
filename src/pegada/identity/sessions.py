"""Linking a tracking session to the contact it turned out to be.

The link is retroactive: events that waited on the anonymous session move to the contact
in the same transaction. A session already linked to another contact keeps its link (one
browser's history is never split between people); the conflict is reported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from pegada.storage import events_repo, tracking_repo


def link_session(
    conn: Connection, tenant_id: int, session: Row[Any], contact_id: int, now: datetime
) -> list[str]:
    """Link and return notes about anything that could not be done."""
    if session.contact_id is None:
        tracking_repo.link_session(conn, tenant_id, int(session.id), contact_id, now)
        events_repo.attach_session_events(conn, tenant_id, int(session.id), contact_id)
        return []
    if session.contact_id != contact_id:
        return [f"session already belongs to contact {session.contact_id}; not relinked"]
    return []
