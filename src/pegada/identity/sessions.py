"""Linking a tracking session to the contact it turned out to be.

The link is retroactive: events that waited on the anonymous session move to the contact
in the same transaction. A session already linked to another contact keeps its link (one
browser's history is never split between people); the conflict is reported.

The flood bound: each identify through a session that resolves to a contact other than the
session's (and not merged with it by a key) counts as one identity claim of the session.
Once a session has made `SESSION_CLAIM_BOUND` claims, further claims from the page (no
token) are refused with 409 (final: the tracker drops the request instead of retrying it
forever), and server-to-server ones are accepted without touching the
session; the flooded sessions are listed by `merges_repo.flooded_sessions`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from pegada.errors import Conflict
from pegada.storage import events_repo, merges_repo, tracking_repo
from pegada.storage.merges_repo import SESSION_CLAIM_BOUND


class SessionFlooded(Conflict):
    """A browser session that already claimed too many identities claims another one."""


def link_session(
    conn: Connection,
    tenant_id: int,
    session: Row[Any],
    contact_id: int,
    now: datetime,
    *,
    browser: bool = False,
) -> list[str]:
    """Link and return notes about anything that could not be done. `session` is the
    session row, locked; `browser`: the identify came from a page without a token."""
    if session.contact_id is None:
        tracking_repo.link_session(conn, tenant_id, int(session.id), contact_id, now)
        events_repo.attach_session_events(conn, tenant_id, int(session.id), contact_id)
        return []
    if session.contact_id == contact_id:
        return []
    claims = int(session.identity_claims)
    if claims >= SESSION_CLAIM_BOUND:
        if browser:
            raise SessionFlooded(
                f"session_id: this browser session already identified as {claims + 1} "
                "different people; more identifies from the page are refused for it "
                "(send them with the channel's token)",
                {"session_id": "too many identities on one session"},
            )
        return [
            f"session flooded ({claims} identity claims besides contact {session.contact_id}); "
            "left untouched"
        ]
    claims = merges_repo.add_identity_claim(conn, tenant_id, int(session.id))
    return [
        f"session already belongs to contact {session.contact_id}; not relinked "
        f"(identity claim {claims} of {SESSION_CLAIM_BOUND} on this session)"
    ]
