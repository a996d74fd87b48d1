"""Merging two contacts found to be one person, and undoing it.

The survivor is the older contact (smaller id), so an id a CRM already stored keeps
pointing at the person: the merged contact's row is kept with `merged_into` set, and
lookups by its id follow it (`survivor_of`). Whole sessions move (with their visits and page
views), never part of one; events, submissions and identity keys move too. The profiles
fold into one (`identity.profile.fold_profiles`).

Every merge is logged in `contact_merges` with its reason (the key that proved it, e.g.
"cpf 52998224725"), its time and a snapshot of both contacts before it and of the ids that
moved, so `unmerge` puts both back as they were. Merges of one survivor are undone last
first: undoing an older one under a later one would restore a profile the later merge
folded into.

Both contact rows are locked in id order, so two transactions merging overlapping pairs
queue instead of deadlocking.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from pegada.errors import Conflict, InvalidInput, NotFound
from pegada.identity.profile import fold_profiles, profile_columns
from pegada.journeys.touches import refresh_touches
from pegada.storage import contacts_repo, merges_repo

#: Contact columns a merge changes and an unmerge restores (besides `merged_into`).
_STATE_COLUMNS = (
    "codigo",
    "nome",
    "email",
    "cpf",
    "phone",
    "fields",
    "search_text",
    "crm_fields",
    "converted_session_id",
    "converted_at",
)

#: How far `survivor_of` follows merged_into (a chain longer than this is corrupt data).
_MAX_CHAIN = 100


@dataclass(frozen=True)
class Unmerged:
    merge_id: int
    survivor_id: int
    merged_id: int
    sessions: int
    events: int
    submissions: int
    keys: int
    at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "merge": self.merge_id,
            "survivor": self.survivor_id,
            "restored": self.merged_id,
            "movedBack": {
                "sessions": self.sessions,
                "events": self.events,
                "submissions": self.submissions,
                "keys": self.keys,
            },
            "unmergedAt": self.at.isoformat(),
        }


def survivor_of(conn: Connection, tenant_id: int, row: Row[Any], *, lock: bool) -> Row[Any]:
    """The live contact a (possibly merged) contact row stands for now."""
    for _ in range(_MAX_CHAIN):
        if row.merged_into is None:
            return row
        following = contacts_repo.contact_row(conn, tenant_id, int(row.merged_into), lock=lock)
        if following is None:
            raise NotFound(f"contact {row.id} was merged into a contact that no longer exists")
        row = following
    raise Conflict(f"contact {row.id}: merged_into chain too long")


def _state(row: Row[Any]) -> dict[str, Any]:
    state = {name: getattr(row, name) for name in _STATE_COLUMNS}
    if state["converted_at"] is not None:
        state["converted_at"] = state["converted_at"].isoformat()
    return state


def _restored(state: dict[str, Any]) -> dict[str, Any]:
    values = dict(state)
    if values["converted_at"] is not None:
        values["converted_at"] = datetime.fromisoformat(values["converted_at"])
    return values


def _conversion(survivor: Row[Any], merged: Row[Any]) -> dict[str, Any]:
    """The later of the two conversions (the last touch is the latest identify)."""
    latest = survivor
    if merged.converted_at is not None and (
        survivor.converted_at is None or merged.converted_at > survivor.converted_at
    ):
        latest = merged
    return {
        "converted_session_id": latest.converted_session_id,
        "converted_at": latest.converted_at,
    }


def merge_contacts(
    conn: Connection,
    tenant_id: int,
    survivor_id: int,
    merged_id: int,
    reason: str,
    now: datetime,
) -> int:
    """Merge `merged_id` into `survivor_id` (the older contact) and return the merge id.
    `reason` says what proved them one person ("emailPrincipal ana@x.com")."""
    if survivor_id == merged_id:
        raise InvalidInput(f"contact {survivor_id} cannot be merged into itself")
    if survivor_id > merged_id:
        raise InvalidInput(
            f"the survivor of a merge is the older contact: {merged_id}, not {survivor_id}"
        )
    rows = merges_repo.lock_contacts(conn, tenant_id, (survivor_id, merged_id))
    for contact_id in (survivor_id, merged_id):
        if contact_id not in rows:
            raise NotFound(f"no contact with id {contact_id} in this tenant")
        if rows[contact_id].merged_into is not None:
            raise Conflict(
                f"contact {contact_id} is already merged into contact "
                f"{rows[contact_id].merged_into}"
            )
    survivor, merged = rows[survivor_id], rows[merged_id]
    snapshot = {
        "survivor": _state(survivor),
        "merged": _state(merged),
        "moved": {
            "sessions": merges_repo.session_ids_of(conn, tenant_id, merged_id),
            "events": merges_repo.event_ids_of(conn, tenant_id, merged_id),
            "submissions": merges_repo.submission_ids_of(conn, tenant_id, merged_id),
            "keys": [list(key) for key in merges_repo.keys_of(conn, tenant_id, merged_id)],
        },
    }
    merges_repo.move_all(conn, tenant_id, merged_id, survivor_id)
    profile = fold_profiles(dict(survivor.fields), dict(merged.fields))
    contacts_repo.update_contact(
        conn,
        tenant_id,
        survivor_id,
        {
            **profile_columns(profile, survivor.phone or merged.phone),
            "crm_fields": sorted(set(survivor.crm_fields) | set(merged.crm_fields)),
            **_conversion(survivor, merged),
            "updated_at": now,
        },
    )
    contacts_repo.update_contact(
        conn, tenant_id, merged_id, {"merged_into": survivor_id, "updated_at": now}
    )
    merge_id = merges_repo.insert_merge(
        conn,
        {
            "tenant_id": tenant_id,
            "survivor_id": survivor_id,
            "merged_id": merged_id,
            "reason": reason[:300],
            "snapshot": snapshot,
            "merged_at": now,
        },
    )
    refresh_touches(conn, tenant_id, [survivor_id, merged_id])
    return merge_id


def unmerge(conn: Connection, tenant_id: int, merge_id: int, now: datetime) -> Unmerged:
    """Undo a merge: both contacts get their profiles from the snapshot, the merged one its
    sessions (with any event recorded on them since), events, submissions and keys back."""
    found = merges_repo.merge_row(conn, tenant_id, merge_id)
    if found is None:
        raise NotFound(f"merge {merge_id}: no such merge in this tenant", {"merge": "unknown"})
    survivor_id, merged_id = int(found.survivor_id), int(found.merged_id)
    rows = merges_repo.lock_contacts(conn, tenant_id, (survivor_id, merged_id))
    merge = merges_repo.merge_row(conn, tenant_id, merge_id, lock=True)
    assert merge is not None
    if merge.unmerged_at is not None:
        raise Conflict(
            f"merge {merge_id} was already undone at {merge.unmerged_at.isoformat()}",
            {"merge": "already undone"},
        )
    later = merges_repo.later_active_merges(conn, tenant_id, merge_id, survivor_id)
    if later:
        raise Conflict(
            f"merge {merge_id}: contact {survivor_id} took part in later merges "
            f"({', '.join(map(str, later))}); undo those first, latest first",
            {"merge": "later merges first"},
        )
    if len(rows) != 2 or rows[merged_id].merged_into != survivor_id:
        raise Conflict(
            f"merge {merge_id}: contact {merged_id} is no longer merged into {survivor_id}",
            {"merge": "inconsistent"},
        )
    snapshot = merge.snapshot
    moved = snapshot["moved"]
    session_ids = [int(i) for i in moved["sessions"]]
    count_sessions = merges_repo.move_back(
        conn, tenant_id, "sessions", session_ids, survivor_id, merged_id
    )
    count_events = merges_repo.move_back(
        conn, tenant_id, "events", [int(i) for i in moved["events"]], survivor_id, merged_id
    )
    count_events += merges_repo.move_back_session_events(
        conn, tenant_id, session_ids, survivor_id, merged_id
    )
    count_submissions = merges_repo.move_back(
        conn,
        tenant_id,
        "submissions",
        [int(i) for i in moved["submissions"]],
        survivor_id,
        merged_id,
    )
    count_keys = merges_repo.move_back_keys(
        conn, tenant_id, [(str(k), str(v)) for k, v in moved["keys"]], survivor_id, merged_id
    )
    contacts_repo.update_contact(
        conn, tenant_id, survivor_id, {**_restored(snapshot["survivor"]), "updated_at": now}
    )
    contacts_repo.update_contact(
        conn,
        tenant_id,
        merged_id,
        {**_restored(snapshot["merged"]), "merged_into": None, "updated_at": now},
    )
    merges_repo.set_unmerged(conn, tenant_id, merge_id, now)
    refresh_touches(conn, tenant_id, [survivor_id, merged_id])
    return Unmerged(
        merge_id,
        survivor_id,
        merged_id,
        count_sessions,
        count_events,
        count_submissions,
        count_keys,
        now,
    )


def merge_log(
    conn: Connection, tenant_id: int, contact_id: int | None = None
) -> list[dict[str, Any]]:
    """The tenant's merges, oldest first (with `contact_id`: those it took part in), as
    scripts see them: who survived, who merged, why, when, whether undone, what moved."""
    return [
        {
            "id": int(row.id),
            "survivor": int(row.survivor_id),
            "merged": int(row.merged_id),
            "reason": row.reason,
            "mergedAt": row.merged_at.isoformat(),
            "unmergedAt": row.unmerged_at.isoformat() if row.unmerged_at else None,
            "moved": {name: len(ids) for name, ids in row.snapshot["moved"].items()},
        }
        for row in merges_repo.merges(conn, tenant_id, contact_id)
    ]
