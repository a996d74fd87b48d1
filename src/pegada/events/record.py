"""Recording an event: its type, its contact (or the anonymous session it waits on), and
editing in place when its `codigo` was seen before (SPEC §5: resending a codigo edits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection

from pegada.events.moments import parse_moment
from pegada.payloads.common import code_text
from pegada.payloads.event import EventFields
from pegada.storage import events_repo
from pegada.tenancy import EventType, Tenant

#: Fields that say how to file the event rather than what happened.
_ROUTING = {"origem", "token", "tipo", "codTipo", "pessoa", "codigo", "momento", "hostClient"}


@dataclass(frozen=True)
class Placement:
    """Where an event lands: its contact (if known yet), its session, its channel, and the
    visit the session was in (so the event is credited to what brought that visit)."""

    contact_id: int | None
    session_pk: int | None
    channel_id: int | None
    visit_id: int | None = None
    channel_type: str | None = None


def event_data(fields: EventFields | Any) -> dict[str, Any]:
    """What happened, as given: every non-routing field that has a value."""
    return {
        name: value
        for name, value in msgspec.structs.asdict(fields).items()
        if name not in _ROUTING and value is not None
    }


def record_event(
    conn: Connection,
    tenant: Tenant,
    event_type: EventType,
    fields: EventFields | Any,
    placement: Placement,
    *,
    now: datetime,
    field_prefix: str = "",
    extra: dict[str, Any] | None = None,
) -> int:
    """Insert the event, or edit the one with the same `codigo`; returns its id."""
    data = {**event_data(fields), **(extra or {})}
    momento = getattr(fields, "momento", None)
    occurred_at = (
        parse_moment(momento, tenant.timezone, field=f"{field_prefix}momento") if momento else now
    )
    codigo = code_text(getattr(fields, "codigo", None))
    if codigo is not None:
        existing = events_repo.event_by_codigo(conn, tenant.id, codigo)
        if existing is not None:
            changes: dict[str, Any] = {
                "event_type_id": event_type.id,
                "fields": {**existing.fields, **data},
                "updated_at": now,
            }
            if momento:
                changes["occurred_at"] = occurred_at
            if placement.contact_id is not None:
                changes["contact_id"] = placement.contact_id
            events_repo.update_event(conn, tenant.id, int(existing.id), changes)
            return int(existing.id)
    return events_repo.insert_event(
        conn,
        {
            "tenant_id": tenant.id,
            "event_type_id": event_type.id,
            "contact_id": placement.contact_id,
            "session_id": placement.session_pk,
            "channel_id": placement.channel_id,
            "visit_id": placement.visit_id,
            "channel_type": placement.channel_type,
            "codigo": codigo,
            "occurred_at": occurred_at,
            "fields": data,
            "created_at": now,
            "updated_at": now,
        },
    )
