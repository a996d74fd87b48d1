"""SQL for merging two contacts and undoing it (the `contact_merges` log), and for the
sessions that claimed too many identities (the flood bound).

Every function takes `tenant_id` and filters by it. Rows are moved by their ids; long id
lists go in chunks so no statement passes a driver's parameter limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, or_, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from pegada.storage.contacts_repo import contact_row
from pegada.storage.dialect import for_update
from pegada.storage.tables import (
    contact_keys,
    contact_merges,
    events,
    sessions,
    submissions,
)

#: Identities one browser session may claim beyond its own contact before it counts as
#: flooded: then identifies from the page for it are refused, server-to-server ones leave
#: the session alone (identity/sessions.py), and it is listed by `flooded_sessions`.
SESSION_CLAIM_BOUND = 5

_CHUNK = 500


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# --- contacts --------------------------------------------------------------------------------


def lock_contacts(conn: Connection, tenant_id: int, contact_ids: Iterable[int]) -> dict[int, Any]:
    """Lock the contacts' rows one by one in id order (so two transactions locking an
    overlapping pair cannot each hold one and wait for the other); id → row, absent ones
    left out."""
    found: dict[int, Any] = {}
    for contact_id in sorted(set(contact_ids)):
        row = contact_row(conn, tenant_id, contact_id, lock=True)
        if row is not None:
            found[contact_id] = row
    return found


# --- what belongs to a contact ---------------------------------------------------------------


def _ids_of(conn: Connection, table: Table, tenant_id: int, contact_id: int) -> list[int]:
    rows = conn.execute(
        select(table.c.id)
        .where(table.c.tenant_id == tenant_id, table.c.contact_id == contact_id)
        .order_by(table.c.id)
    )
    return [int(r.id) for r in rows]


def session_ids_of(conn: Connection, tenant_id: int, contact_id: int) -> list[int]:
    return _ids_of(conn, sessions, tenant_id, contact_id)


def event_ids_of(conn: Connection, tenant_id: int, contact_id: int) -> list[int]:
    return _ids_of(conn, events, tenant_id, contact_id)


def submission_ids_of(conn: Connection, tenant_id: int, contact_id: int) -> list[int]:
    return _ids_of(conn, submissions, tenant_id, contact_id)


def keys_of(conn: Connection, tenant_id: int, contact_id: int) -> list[tuple[str, str]]:
    rows = conn.execute(
        select(contact_keys.c.kind, contact_keys.c.value)
        .where(contact_keys.c.tenant_id == tenant_id, contact_keys.c.contact_id == contact_id)
        .order_by(contact_keys.c.kind, contact_keys.c.value)
    )
    return [(str(r.kind), str(r.value)) for r in rows]


# --- moving rows between contacts ------------------------------------------------------------


def _hand_over(
    conn: Connection,
    table: Table,
    tenant_id: int,
    from_contact: int,
    to_contact: int,
    *only: ColumnElement[bool],
) -> int:
    """Give `from_contact`'s rows of `table` (those matching `only`, if given) to
    `to_contact`; returns how many moved. Every move of a merge or an unmerge is this one
    statement, so none can forget the tenant or whose rows it takes."""
    result = conn.execute(
        table.update()
        .where(table.c.tenant_id == tenant_id, table.c.contact_id == from_contact, *only)
        .values(contact_id=to_contact)
    )
    return int(result.rowcount)


def _hand_over_listed(
    conn: Connection,
    table: Table,
    tenant_id: int,
    from_contact: int,
    to_contact: int,
    column: ColumnElement[Any],
    values: Sequence[Any],
) -> int:
    """`_hand_over` of the rows whose `column` is one of `values`, a chunk at a time (an
    unmerge's lists can be long); returns how many moved."""
    return sum(
        _hand_over(conn, table, tenant_id, from_contact, to_contact, column.in_(list(chunk)))
        for chunk in _chunks(values)
    )


def move_all(conn: Connection, tenant_id: int, from_contact: int, to_contact: int) -> None:
    """Hand every session, event, submission and identity key of one contact to another.
    The caller holds both contact rows locked, so no row can start pointing at
    `from_contact` meanwhile (a foreign-key check waits for that lock)."""
    for table in (sessions, events, submissions, contact_keys):
        _hand_over(conn, table, tenant_id, from_contact, to_contact)


#: The tables whose rows `move_back` takes by id.
_BY_ID: dict[str, Table] = {"sessions": sessions, "events": events, "submissions": submissions}


def move_back(
    conn: Connection,
    tenant_id: int,
    kind: str,
    ids: Sequence[int],
    from_contact: int,
    to_contact: int,
) -> int:
    """Give the rows of `kind` ("sessions", "events", "submissions") with these ids that
    `from_contact` still has back to `to_contact`; returns how many moved."""
    table = _BY_ID[kind]
    return _hand_over_listed(conn, table, tenant_id, from_contact, to_contact, table.c.id, ids)


def move_back_session_events(
    conn: Connection,
    tenant_id: int,
    session_ids: Sequence[int],
    from_contact: int,
    to_contact: int,
) -> int:
    """Events of these sessions that `from_contact` has (also ones recorded after the merge)
    follow their session back: a session's history is never split between two people."""
    return _hand_over_listed(
        conn, events, tenant_id, from_contact, to_contact, events.c.session_id, session_ids
    )


def move_back_keys(
    conn: Connection,
    tenant_id: int,
    keys: Sequence[tuple[str, str]],
    from_contact: int,
    to_contact: int,
) -> int:
    """Give the identity keys, (kind, value) pairs, that `from_contact` still has back to
    `to_contact`; returns how many moved."""
    key = tuple_(contact_keys.c.kind, contact_keys.c.value)
    return _hand_over_listed(conn, contact_keys, tenant_id, from_contact, to_contact, key, keys)


# --- the merge log ---------------------------------------------------------------------------


def insert_merge(conn: Connection, values: dict[str, Any]) -> int:
    return int(
        conn.execute(
            contact_merges.insert().values(**values).returning(contact_merges.c.id)
        ).scalar_one()
    )


def merge_row(
    conn: Connection, tenant_id: int, merge_id: int, *, lock: bool = False
) -> Row[Any] | None:
    query = select(contact_merges).where(
        contact_merges.c.tenant_id == tenant_id, contact_merges.c.id == merge_id
    )
    return conn.execute(for_update(conn, query) if lock else query).first()


def took_part(contact_id: int) -> ColumnElement[bool]:
    """Merges the contact took part in, as survivor or as the merged one: what unmerge
    checks, the merge log lists and the timeline shows must be the same merges."""
    return or_(contact_merges.c.survivor_id == contact_id, contact_merges.c.merged_id == contact_id)


def later_active_merges(
    conn: Connection, tenant_id: int, merge_id: int, contact_id: int
) -> list[int]:
    """Ids of merges after `merge_id`, not undone, that the contact took part in."""
    rows = conn.execute(
        select(contact_merges.c.id)
        .where(
            contact_merges.c.tenant_id == tenant_id,
            contact_merges.c.id > merge_id,
            contact_merges.c.unmerged_at.is_(None),
            took_part(contact_id),
        )
        .order_by(contact_merges.c.id.desc())
    )
    return [int(r.id) for r in rows]


def set_unmerged(conn: Connection, tenant_id: int, merge_id: int, at: datetime) -> None:
    conn.execute(
        contact_merges.update()
        .where(contact_merges.c.tenant_id == tenant_id, contact_merges.c.id == merge_id)
        .values(unmerged_at=at)
    )


def merges(conn: Connection, tenant_id: int, contact_id: int | None = None) -> list[Row[Any]]:
    """The merge log, oldest first; with `contact_id`, the merges it took part in."""
    query = select(contact_merges).where(contact_merges.c.tenant_id == tenant_id)
    if contact_id is not None:
        query = query.where(took_part(contact_id))
    return list(conn.execute(query.order_by(contact_merges.c.id)))


# --- the flood bound -------------------------------------------------------------------------


def add_identity_claim(conn: Connection, tenant_id: int, session_pk: int) -> int:
    """Count one more identity claimed by this session; returns the new count."""
    conn.execute(
        sessions.update()
        .where(sessions.c.tenant_id == tenant_id, sessions.c.id == session_pk)
        .values(identity_claims=sessions.c.identity_claims + 1)
    )
    return int(
        conn.execute(
            select(sessions.c.identity_claims).where(sessions.c.id == session_pk)
        ).scalar_one()
    )


def flooded_sessions(
    conn: Connection, tenant_id: int, min_claims: int = SESSION_CLAIM_BOUND
) -> list[Row[Any]]:
    """Sessions that claimed at least `min_claims` identities besides their own contact
    (by default: the flooded ones), most claims first: `session_hash`, `identity_claims`,
    `contact_id` (the contact the session stays linked to)."""
    return list(
        conn.execute(
            select(sessions.c.session_hash, sessions.c.identity_claims, sessions.c.contact_id)
            .where(sessions.c.tenant_id == tenant_id, sessions.c.identity_claims >= min_claims)
            .order_by(sessions.c.identity_claims.desc(), sessions.c.id)
        )
    )
