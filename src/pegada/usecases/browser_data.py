"""`getData`: what one browser session itself submitted, for pre-filling a form on a second
domain. Never other data of the contact: knowing someone's e-mail must not let a stranger
read that person's record (SPEC §4)."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Engine

from pegada.payloads.contact import ContactFields
from pegada.storage import contacts_repo
from pegada.storage.engine import read_transaction

#: Contact fields a form can send, minus credentials, ids and the nested event.
_RETURNED = frozenset(f.encode_name for f in msgspec.structs.fields(ContactFields)) - {
    "origem",
    "token",
    "id",
    "evento",
}


def session_data(engine: Engine, tenant_id: int, session_hash: str) -> dict[str, Any]:
    with read_transaction(engine) as conn:
        payloads = contacts_repo.submissions_of_session(conn, tenant_id, session_hash)
    merged: dict[str, Any] = {}
    for (payload,) in payloads:
        for name, value in payload.items():
            if name in _RETURNED and value not in (None, "", [], {}):
                merged[name] = value
    return merged
