"""sendEvent, in the seed's shape (`/api/sendEvent`) and the flat v2 shape
(`/api/v2/sendEvent`), and the CRM's `Evento/cadastro`.

An event belongs to the contact named in `pessoa`, else to the contact of its session; a
session with no contact yet keeps the event until it is identified.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine

from pegada.clock import utcnow
from pegada.events.record import Placement, record_event
from pegada.identity.contacts import resolve_person
from pegada.payloads.common import code_text
from pegada.payloads.event import EventCadastroBody, EventFields, SendEventBody, SendEventV2Body
from pegada.storage import tracking_repo, visits_repo
from pegada.storage.transact import transact
from pegada.tenancy import Channel, Tenant, authenticate, caller, resolve_event_type
from pegada.usecases.idempotency import once


def send_events(engine: Engine, body: SendEventBody, *, browser: bool = False) -> Any:
    """The seed's `event: [{eventType|codEventType, eventData}]`; replies the count.
    `browser`: sent by a page without a token, filed under the tenant's site."""

    def work(conn: Connection) -> Any:
        proofs = [
            _authenticate_event(
                conn, body, item.eventData, where=f"event[{index}].eventData.", browser=browser
            )
            for index, item in enumerate(body.event)
        ]
        tenant = proofs[0][0]

        def record() -> Any:
            now = utcnow()
            session = tracking_repo.ensure_session(conn, tenant.id, body.session_id, now)
            for index, (item, (_, channel)) in enumerate(zip(body.event, proofs, strict=True)):
                event_type = resolve_event_type(
                    conn,
                    tenant,
                    item.eventType,
                    code_text(item.codEventType),
                    id_field=f"event[{index}].eventType",
                    code_field=f"event[{index}].codEventType",
                )
                placement = _placement(
                    conn, tenant, item.eventData, session, channel, f"event[{index}].eventData"
                )
                record_event(
                    conn,
                    tenant,
                    event_type,
                    item.eventData,
                    placement,
                    now=now,
                    field_prefix=f"event[{index}].eventData.",
                )
            return len(body.event)

        return once(conn, tenant.id, "sendEvent", body.event_id, record)

    return transact(engine, work)


def send_event_v2(engine: Engine, body: SendEventV2Body, *, browser: bool = False) -> Any:
    """`event: {tipo|codTipo, …}` plus `session_id`; replies 1."""

    def work(conn: Connection) -> Any:
        tenant, channel = _authenticate_event(
            conn, body, body.event, where="event.", browser=browser
        )

        def record() -> Any:
            now = utcnow()
            session = tracking_repo.ensure_session(conn, tenant.id, body.session_id, now)
            event_type = resolve_event_type(
                conn,
                tenant,
                body.event.tipo,
                code_text(body.event.codTipo),
                id_field="event.tipo",
                code_field="event.codTipo",
            )
            record_event(
                conn,
                tenant,
                event_type,
                body.event,
                _placement(conn, tenant, body.event, session, channel, "event"),
                now=now,
                field_prefix="event.",
                extra={"pageTitle": body.pageTitle} if body.pageTitle else None,
            )
            return 1

        return once(conn, tenant.id, "sendEvent", body.event_id, record)

    return transact(engine, work)


def register_event(engine: Engine, body: EventCadastroBody) -> Any:
    """`POST /api/Evento/cadastro`: a CRM event for the contact in `pessoa`."""

    def work(conn: Connection) -> Any:
        tenant, channel = authenticate(conn, body.hostClient, body.origem, body.token)
        pessoa = body.pessoa
        contact_id = resolve_person(
            conn,
            tenant.id,
            pessoa.id if pessoa else None,
            code_text(pessoa.codigo) if pessoa else None,
            field="pessoa",
        )
        event_type = resolve_event_type(
            conn,
            tenant,
            body.tipo,
            code_text(body.codTipo),
            id_field="tipo",
            code_field="codTipo",
        )
        event_id = record_event(
            conn, tenant, event_type, body, Placement(contact_id, None, channel.id), now=utcnow()
        )
        return {"id": str(event_id)}

    return transact(engine, work)


def _authenticate_event(
    conn: Connection,
    body: SendEventBody | SendEventV2Body,
    data: EventFields,
    *,
    where: str,
    browser: bool,
) -> tuple[Tenant, Channel | None]:
    """Credentials travel inside the event (the seed) or beside it; inside wins."""
    if browser:
        return caller(conn, body.hostClient, None, None, browser=True)
    if data.token is not None or data.origem is not None:
        return authenticate(conn, body.hostClient, data.origem, data.token, where=where)
    if body.token is not None or body.origem is not None:
        return authenticate(conn, body.hostClient, body.origem, body.token)
    return authenticate(conn, body.hostClient, None, None, where=where)


def _placement(
    conn: Connection,
    tenant: Tenant,
    data: EventFields,
    session: Any,
    channel: Channel | None,
    field: str,
) -> Placement:
    contact_id = session.contact_id
    if data.pessoa is not None:
        contact_id = resolve_person(
            conn,
            tenant.id,
            data.pessoa.id,
            code_text(data.pessoa.codigo),
            field=f"{field}.pessoa",
        )
    visit_id, channel_type = visits_repo.visit_channel(conn, session.open_visit_id)
    return Placement(
        contact_id, int(session.id), channel.id if channel else None, visit_id, channel_type
    )
