"""Finding, creating and updating contacts by their identity keys, race-free.

Matching follows SPEC §5: `id`, then `codigo`, e-mail, CPF, phone, and last the tracker's
`substitute_id`. Keys live in `contact_keys` under a unique key, so two processes creating
the same person cannot both succeed: the loser raises `RaceLost` and its transaction is
re-run (storage/transact.py), finding the winner's contact.

A key that the payload carries but another contact already owns shows the two are one
person when it is an e-mail, CPF or codigo sent by an authenticated channel: the two merge
(identity/merge.py, logged and undoable) and the reply names the survivor. Anything else is
not taken from its owner, only noted on the submission: a phone (families share one), a key
sent by a page without a token (anyone can type any e-mail into a form), and a key whose
owner already holds a different principal e-mail, CPF or codigo than the matched contact
(two established identities; merging them is for a person to decide, not a form).

A merged contact's id keeps working: lookups by id follow `merged_into` to the survivor.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from pegada.errors import InvalidInput, NotFound
from pegada.identity.merge import merge_contacts, survivor_of
from pegada.identity.profile import (
    IDENTITY_FIELDS,
    ContactInput,
    given_fields,
    merge_profile,
    profile_columns,
    without_protected,
)
from pegada.storage import contacts_repo
from pegada.storage.transact import RaceLost

#: Identity keys whose being held by another contact proves the two are one person. Not
#: the phone: families and offices share one.
MERGE_KEYS = ("codigo", "email", "cpf")

#: Single-valued identity fields: two contacts that already hold different values of one of
#: them are two identities as far as the data goes, and are not merged automatically.
CONFLICTING_FIELDS = ("codigo", "emailPrincipal", "cpf")


@dataclass
class UpsertResult:
    contact_id: int
    created: bool
    notes: list[str] = field(default_factory=list)
    merges: list[int] = field(default_factory=list)


def find_contact(
    conn: Connection,
    tenant_id: int,
    keys: list[tuple[str, str]],
    *,
    explicit_id: int | None = None,
) -> Row[Any] | None:
    """The contact these keys (in match order) point to, locked for update; a merged
    contact stands for its survivor."""
    if explicit_id is not None:
        row = contacts_repo.contact_row(conn, tenant_id, explicit_id, lock=True)
        if row is None:
            raise NotFound(
                f"id: no contact with id {explicit_id} in this tenant", {"id": "unknown"}
            )
        return survivor_of(conn, tenant_id, row, lock=True)
    for kind, value in keys:
        contact_id = contacts_repo.contact_id_by_key(conn, tenant_id, kind, value)
        if contact_id is not None:
            row = contacts_repo.contact_row(conn, tenant_id, contact_id, lock=True)
            # A merge that committed while we waited for the lock moved the key on.
            return None if row is None else survivor_of(conn, tenant_id, row, lock=True)
    return None


def upsert_contact(
    conn: Connection,
    tenant_id: int,
    incoming: ContactInput,
    *,
    now: datetime,
    channel_id: int | None,
    substitute_id: str | None = None,
    explicit_id: int | None = None,
    trusted: bool = True,
) -> UpsertResult:
    """Create or update the contact these keys point to. `trusted` is False for a browser
    form sent without a token: it may create a contact and add to one, but never changes a
    field that an authenticated channel set (SPEC §4)."""
    keys = incoming.match_keys(substitute_id)
    row = find_contact(conn, tenant_id, keys, explicit_id=explicit_id)
    if row is None:
        return _create(
            conn, tenant_id, incoming, keys, now=now, channel_id=channel_id, trusted=trusted
        )
    return _update(conn, tenant_id, row, incoming, keys, now=now, trusted=trusted)


def _create(
    conn: Connection,
    tenant_id: int,
    incoming: ContactInput,
    keys: list[tuple[str, str]],
    *,
    now: datetime,
    channel_id: int | None,
    trusted: bool,
) -> UpsertResult:
    profile = merge_profile({}, incoming)
    contact_id = contacts_repo.insert_contact(
        conn,
        {
            "tenant_id": tenant_id,
            **profile_columns(profile, incoming.phone),
            "crm_fields": sorted(given_fields(incoming)) if trusted else [],
            "created_channel_id": channel_id,
            "created_at": now,
            "updated_at": now,
        },
    )
    for kind, value in sorted(keys):
        if contacts_repo.claim_key(conn, tenant_id, kind, value, contact_id, now) != contact_id:
            # Absent when we matched, owned now: a concurrent request created this person.
            raise RaceLost(f"{kind} key claimed concurrently")
    result = UpsertResult(contact_id, created=True)
    owned = _claim_secondary(conn, tenant_id, contact_id, incoming, now, result)
    if owned != incoming.secondary_emails:
        profile = merge_profile({}, replace(incoming, secondary_emails=owned))
        contacts_repo.update_contact(
            conn, tenant_id, contact_id, profile_columns(profile, incoming.phone)
        )
    return result


def _update(
    conn: Connection,
    tenant_id: int,
    row: Row[Any],
    incoming: ContactInput,
    keys: list[tuple[str, str]],
    *,
    now: datetime,
    trusted: bool,
) -> UpsertResult:
    result = UpsertResult(int(row.id), created=False)
    if trusted:
        row = _merge_holders(conn, tenant_id, row, keys, now, result)
        result.contact_id = int(row.id)
    crm_fields = set(row.crm_fields)
    held_elsewhere: set[str] = set()
    if trusted:
        crm_fields |= given_fields(incoming)
    else:
        incoming, held_elsewhere = without_protected(incoming, crm_fields)
        for kind in sorted(held_elsewhere):
            result.notes.append(f"{IDENTITY_FIELDS[kind]} kept: set by an authenticated channel")
        keys = [(kind, value) for kind, value in keys if kind not in held_elsewhere]
    for kind, value in sorted(keys):
        owner = contacts_repo.claim_key(conn, tenant_id, kind, value, result.contact_id, now)
        if owner != result.contact_id:
            held_elsewhere.add(kind)
            result.notes.append(
                f"{IDENTITY_FIELDS.get(kind, kind)} {value!r} belongs to contact {owner}; not moved"
            )
    owned = _claim_secondary(conn, tenant_id, result.contact_id, incoming, now, result)
    profile = merge_profile(
        dict(row.fields),
        replace(incoming, secondary_emails=owned),
        keep_principal=held_elsewhere,
    )
    phone = row.phone if "phone" in held_elsewhere or not incoming.phone else incoming.phone
    contacts_repo.update_contact(
        conn,
        tenant_id,
        result.contact_id,
        {**profile_columns(profile, phone), "crm_fields": sorted(crm_fields), "updated_at": now},
    )
    return result


def _merge_holders(
    conn: Connection,
    tenant_id: int,
    row: Row[Any],
    keys: list[tuple[str, str]],
    now: datetime,
    result: UpsertResult,
) -> Row[Any]:
    """Merge into one the matched contact and each other contact holding an e-mail, CPF or
    codigo of the payload (unless the two conflict); returns the survivor's row, locked."""
    for kind, value in keys:
        if kind not in MERGE_KEYS:
            continue
        owner = contacts_repo.contact_id_by_key(conn, tenant_id, kind, value)
        if owner is None or owner == int(row.id):
            continue
        other = contacts_repo.contact_row(conn, tenant_id, owner, lock=True)
        if other is None:
            continue
        # A merge that committed while we waited for the lock: its survivor holds the key.
        other = survivor_of(conn, tenant_id, other, lock=True)
        owner = int(other.id)
        if owner == int(row.id):
            continue
        clash = [
            name
            for name in CONFLICTING_FIELDS
            if row.fields.get(name)
            and other.fields.get(name)
            and row.fields[name] != other.fields[name]
        ]
        label = IDENTITY_FIELDS[kind]
        if clash:
            result.notes.append(
                f"{label} {value!r} belongs to contact {owner}, which has another "
                f"{' and '.join(clash)}: not merged"
            )
            continue
        survivor_id, merged_id = sorted((int(row.id), owner))
        merge_id = merge_contacts(conn, tenant_id, survivor_id, merged_id, f"{label} {value}", now)
        result.merges.append(merge_id)
        result.notes.append(
            f"contact {merged_id} merged into {survivor_id} ({label} {value!r}; merge {merge_id})"
        )
        survivor = contacts_repo.contact_row(conn, tenant_id, survivor_id, lock=True)
        assert survivor is not None
        row = survivor
    return row


def _claim_secondary(
    conn: Connection,
    tenant_id: int,
    contact_id: int,
    incoming: ContactInput,
    now: datetime,
    result: UpsertResult,
) -> list[str]:
    """Secondary e-mails become keys too, so a later form with one of them finds this
    contact; one that another contact owns stays where it is and is not listed on this
    contact. Returns the addresses this contact holds."""
    owned: list[str] = []
    for address in incoming.secondary_emails:
        owner = contacts_repo.claim_key(conn, tenant_id, "email", address, contact_id, now)
        if owner != contact_id:
            result.notes.append(f"email {address!r} belongs to contact {owner}; not moved")
        else:
            owned.append(address)
    return owned


def resolve_person(
    conn: Connection, tenant_id: int, person_id: int | str | None, codigo: str | None, *, field: str
) -> int:
    """The contact named explicitly (`pessoa: {id}` or `{codigo}`) in this tenant; `field`
    is where the reference sits in the body ("" for the top level)."""
    prefix = f"{field}." if field else ""
    if person_id is not None:
        row = contacts_repo.contact_row(conn, tenant_id, int(person_id))
        if row is None:
            raise NotFound(
                f"{prefix}id: no contact with id {person_id} in this tenant",
                {f"{prefix}id": "unknown contact"},
            )
        return _live_id(conn, tenant_id, row)
    if codigo is not None:
        found = contacts_repo.contact_id_by_key(conn, tenant_id, "codigo", codigo)
        row = None if found is None else contacts_repo.contact_row(conn, tenant_id, found)
        if row is None:
            raise NotFound(
                f"{prefix}codigo: no contact with codigo {codigo!r} in this tenant",
                {f"{prefix}codigo": "unknown contact"},
            )
        return _live_id(conn, tenant_id, row)
    raise InvalidInput(
        f"{prefix}id: give the contact's id or codigo", {f"{prefix}id": "id or codigo required"}
    )


def _live_id(conn: Connection, tenant_id: int, row: Row[Any]) -> int:
    """The id of the live contact `row` stands for (following merges). In a write
    transaction each contact on the way is share-locked first, so a merge under way either
    finishes before (and the row is read again after it) or waits until this transaction,
    and then moves what it wrote for the contact along with the rest."""
    lock = contacts_repo.in_write_transaction(conn)
    for _ in range(100):
        if lock:
            row = contacts_repo.contact_row(conn, tenant_id, int(row.id), share_lock=True) or row
        if row.merged_into is None:
            return int(row.id)
        following = contacts_repo.contact_row(conn, tenant_id, int(row.merged_into))
        if following is None:
            break
        row = following
    raise NotFound(f"contact {row.id}: its merge chain does not end in a contact")
