"""Identify (`/api/identify`, `/api/v2/sendData`) and `Contato/cadastro`: create or update
the contact (merging it with another one an authenticated call shows to be the same person;
the reply then names the survivor), link the session (retroactively, within the flood
bound), keep the submission, create a nested event."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine

from pegada.clock import utcnow
from pegada.errors import InvalidInput
from pegada.events.record import Placement, record_event
from pegada.identity.contacts import UpsertResult, upsert_contact
from pegada.identity.profile import normalize_contact
from pegada.identity.sessions import link_session
from pegada.journeys.touches import refresh_touches
from pegada.payloads.common import code_text
from pegada.payloads.contact import ContactCadastroBody, ContactFields, IdentifyBody
from pegada.storage import contacts_repo, tracking_repo, visits_repo
from pegada.storage.transact import transact
from pegada.tenancy import Channel, Tenant, authenticate, caller, resolve_event_type
from pegada.usecases.idempotency import once, session_key


def identify(
    engine: Engine,
    body: IdentifyBody,
    document: dict[str, Any],
    endpoint: str,
    *,
    browser: bool = False,
) -> Any:
    """`browser`: the call came from a page without a token (SPEC §4 trust levels): it is
    filed under the tenant's site, and never overwrites what an authenticated channel set.
    A `request_id` makes the call idempotent per session: the tracker resends a request
    whose reply was lost, and the replay gets the first reply and stores nothing new."""
    incoming = normalize_contact(body)

    def work(conn: Connection) -> Any:
        tenant, channel = caller(conn, body.hostClient, body.origem, body.token, browser)
        key = session_key(body.session_id, body.request_id)
        return once(conn, tenant.id, "sendData", key, lambda: store(conn, tenant, channel))

    def store(conn: Connection, tenant: Tenant, channel: Channel | None) -> Any:
        now = utcnow()
        result = upsert_contact(
            conn,
            tenant.id,
            incoming,
            now=now,
            channel_id=channel.id if channel else None,
            substitute_id=body.substitute_id,
            explicit_id=_explicit_id(body),
            trusted=not browser,
        )
        session = tracking_repo.ensure_session(conn, tenant.id, body.session_id, now)
        result.notes += link_session(
            conn, tenant.id, session, result.contact_id, now, browser=browser
        )
        if session.contact_id in (None, result.contact_id):
            contacts_repo.record_conversion(
                conn, tenant.id, result.contact_id, int(session.id), now
            )
        refresh_touches(conn, tenant.id, [result.contact_id])
        source = f"browser:{endpoint}" if browser else endpoint
        _finish(conn, tenant, channel, body, document, source, result, session)
        return {"id": str(result.contact_id)}

    return transact(engine, work)


def register_contact(engine: Engine, body: ContactCadastroBody, document: dict[str, Any]) -> Any:
    """`POST /api/Contato/cadastro`: a CRM contact, with no tracking session."""
    incoming = normalize_contact(body)
    if not incoming.has_reachable_key() and body.id is None:
        raise InvalidInput(
            "emailPrincipal/telefonePrincipal: a contact needs an e-mail or a phone",
            {
                "emailPrincipal": "e-mail or phone required",
                "telefonePrincipal": "e-mail or phone required",
            },
        )

    def work(conn: Connection) -> Any:
        tenant, channel = authenticate(conn, body.hostClient, body.origem, body.token)
        result = upsert_contact(
            conn,
            tenant.id,
            incoming,
            now=utcnow(),
            channel_id=channel.id,
            explicit_id=_explicit_id(body),
        )
        _finish(conn, tenant, channel, body, document, "Contato/cadastro", result, None)
        refresh_touches(conn, tenant.id, [result.contact_id])
        return {"id": str(result.contact_id)}

    return transact(engine, work)


def _explicit_id(body: ContactFields) -> int | None:
    return None if body.id is None else int(body.id)


def _finish(
    conn: Connection,
    tenant: Tenant,
    channel: Channel | None,
    body: ContactFields,
    document: dict[str, Any],
    endpoint: str,
    result: UpsertResult,
    session: Any | None,
) -> None:
    """The nested event and the submission record, common to every contact write."""
    now = utcnow()
    session_pk = int(session.id) if session is not None else None
    open_visit_id = session.open_visit_id if session is not None else None
    if body.evento is not None:
        event_type = resolve_event_type(
            conn,
            tenant,
            body.evento.tipo,
            code_text(body.evento.codTipo),
            id_field="evento.tipo",
            code_field="evento.codTipo",
        )
        record_event(
            conn,
            tenant,
            event_type,
            body.evento,
            Placement(
                result.contact_id,
                session_pk,
                channel.id if channel else None,
                *visits_repo.visit_channel(conn, open_visit_id),
            ),
            now=now,
            field_prefix="evento.",
        )
    contacts_repo.insert_submission(
        conn,
        {
            "tenant_id": tenant.id,
            "contact_id": result.contact_id,
            "session_id": session_pk,
            "channel_id": channel.id if channel else None,
            "endpoint": endpoint,
            "payload": {k: v for k, v in document.items() if k != "token"},
            "notes": result.notes,
            "created_at": now,
        },
    )
