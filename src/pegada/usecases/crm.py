"""The read side and the event-type calls of the Rubeus CRM subset: `Contato/dadosPessoa`,
`Evento/cadastroTipoEvento`, `Evento/listarTipoEvento`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine

from pegada.errors import InvalidInput
from pegada.events.moments import local_iso
from pegada.identity.contacts import resolve_person
from pegada.payloads.common import code_text
from pegada.payloads.contact import DadosPessoaBody
from pegada.payloads.event import EventTypeCadastroBody, EventTypeListBody
from pegada.storage import contacts_repo, events_repo, hits_repo, tracking_repo
from pegada.storage.engine import read_transaction
from pegada.storage.transact import transact
from pegada.tenancy import Tenant, authenticate, create_event_type, list_event_types


def contact_details(engine: Engine, body: DadosPessoaBody) -> Any:
    if body.id is None and body.codigo is None:
        raise InvalidInput("id/codigo: give the contact's id or codigo", {"id": "is required"})
    with read_transaction(engine) as conn:
        tenant, _ = authenticate(conn, body.hostClient, body.origem, body.token)
        contact_id = resolve_person(
            conn,
            tenant.id,
            body.id,
            code_text(body.codigo),
            field="",
        )
        return contact_document(conn, tenant, contact_id)


def contact_document(conn: Connection, tenant: Tenant, contact_id: int) -> dict[str, Any]:
    """The contact as the API shows it: profile, sessions, events and page accesses
    (oldest first)."""
    row = contacts_repo.contact_row(conn, tenant.id, contact_id)
    assert row is not None
    tz = tenant.timezone
    return {
        "id": str(row.id),
        **row.fields,
        "criadoEm": local_iso(row.created_at, tz),
        "atualizadoEm": local_iso(row.updated_at, tz),
        "sessoes": [
            {
                "session_id": s.session_hash,
                "criadaEm": local_iso(s.created_at, tz),
                "identificadaEm": local_iso(s.identified_at, tz) if s.identified_at else None,
            }
            for s in tracking_repo.sessions_of(conn, tenant.id, contact_id)
        ],
        "eventos": [
            {
                "id": str(e.id),
                "codigo": e.codigo,
                "tipo": {"id": e.type_id, "codigo": e.type_codigo, "titulo": e.type_titulo},
                "momento": local_iso(e.occurred_at, tz),
                "session_id": e.session_hash,
                "canal": e.channel_type,
                "dados": e.fields,
            }
            for e in events_repo.events_of(conn, tenant.id, contact_id)
        ],
        "acessos": [
            page_access(v, tz) for v in hits_repo.page_views_of(conn, tenant.id, contact_id)
        ],
    }


def page_access(view: Any, tz: str) -> dict[str, Any]:
    """One page access as the API shows it."""
    return {
        "url": view.url,
        "titulo": view.title,
        "momento": local_iso(view.occurred_at, tz),
        "referrer": view.referrer,
        "utm": view.utm or {},
        "canal": view.channel_type,
        "origem": view.source,
        "midia": view.medium,
        "campanha": view.campaign,
        "dispositivo": {
            "tipo": view.device_type,
            "nome": view.device_name,
            "sistema": view.os,
            "sistemaVersao": view.os_version,
            "navegador": view.browser,
            "navegadorVersao": view.browser_version,
            "tela": view.screen,
            "idioma": view.language,
        },
        "tempoNaPaginaAnteriorMs": view.time_on_previous_ms,
        "session_id": view.session_hash,
        "sequencia": view.seq,
    }


def register_event_type(engine: Engine, body: EventTypeCadastroBody) -> Any:
    def work(conn: Connection) -> Any:
        tenant, channel = authenticate(conn, body.hostClient, body.origem, body.token)
        created = create_event_type(
            conn,
            tenant,
            body.titulo,
            type_id=body.id,
            codigo=code_text(body.codigo),
            fluxo=body.fluxo,
            forma_criacao_oportunidade=body.formaCriacaoOportunidade,
            origem=channel.origem,
        )
        return created.as_api()

    return transact(engine, work)


def event_types(engine: Engine, body: EventTypeListBody) -> Any:
    with read_transaction(engine) as conn:
        tenant, _ = authenticate(conn, body.hostClient, body.origem, body.token)
        return [t.as_api() for t in list_event_types(conn, tenant)]
