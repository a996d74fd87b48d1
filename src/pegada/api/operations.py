"""The table of API operations: one entry drives the route, the handler and the OpenAPI
description, so the three cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from pegada.payloads.contact import ContactCadastroBody, DadosPessoaBody, IdentifyBody
from pegada.payloads.event import (
    EventCadastroBody,
    EventTypeCadastroBody,
    EventTypeListBody,
    SendEventBody,
    SendEventV2Body,
)
from pegada.usecases import crm, identify, send_event

#: (engine, typed body, untyped document, browser) → `dados`. `browser` is True only for a
#: tokenless call from a page, on operations that allow it.
Run = Callable[[Engine, Any, dict[str, Any], bool], Any]


@dataclass(frozen=True)
class Operation:
    path: str
    methods: tuple[str, ...]
    body: type
    run: Run
    summary: str
    description: str
    reply_example: Any
    tag: str
    #: A page may call it without a token (SPEC §4): filed under the tenant's site,
    #: rate-limited, never overwriting what an authenticated channel set.
    browser_ok: bool = False


TRACKING = ("PATCH", "POST")

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "/api/identify",
        TRACKING,
        IdentifyBody,
        lambda engine, body, doc, browser: identify.identify(
            engine, body, doc, "identify", browser=browser
        ),
        "Identify a session's contact",
        "Creates or updates the contact (matched by id, codigo, emailPrincipal, cpf, "
        "telefonePrincipal, then substitute_id) and links the session to it, including the "
        "pages and events it had before. Needs the channel's origem + token.",
        {"id": "155"},
        "tracking",
        browser_ok=True,
    ),
    Operation(
        "/api/v2/sendData",
        TRACKING,
        IdentifyBody,
        lambda engine, body, doc, browser: identify.identify(
            engine, body, doc, "v2/sendData", browser=browser
        ),
        "Identify a session's contact (current name)",
        "The same operation as /api/identify.",
        {"id": "155"},
        "tracking",
        browser_ok=True,
    ),
    Operation(
        "/api/sendEvent",
        TRACKING,
        SendEventBody,
        lambda engine, body, _doc, browser: send_event.send_events(engine, body, browser=browser),
        "Record events (the seed's shape)",
        "Each element of `event` names its type by eventType (id) or codEventType (code) "
        "and carries the data in eventData. `event_id` is an idempotency key: a replay "
        "returns the first reply and records nothing. Replies the number of events recorded.",
        1,
        "tracking",
        browser_ok=True,
    ),
    Operation(
        "/api/v2/sendEvent",
        TRACKING,
        SendEventV2Body,
        lambda engine, body, _doc, browser: send_event.send_event_v2(engine, body, browser=browser),
        "Record one event",
        "One flat CRM event in `event` (tipo or codTipo), for the session's contact; an "
        "anonymous session keeps it until it is identified.",
        1,
        "tracking",
        browser_ok=True,
    ),
    Operation(
        "/api/Contato/cadastro",
        ("POST",),
        ContactCadastroBody,
        lambda engine, body, doc, _browser: identify.register_contact(engine, body, doc),
        "Create or update a contact",
        "A CRM contact; needs emailPrincipal or telefonePrincipal (or the id of an existing "
        "contact). A nested `evento` is created with it.",
        {"id": "155"},
        "crm",
    ),
    Operation(
        "/api/Contato/dadosPessoa",
        ("POST",),
        DadosPessoaBody,
        lambda engine, body, _doc, _browser: crm.contact_details(engine, body),
        "Read a contact",
        "The contact by id or codigo, with its linked sessions and its events in time order.",
        {"id": "155", "nome": "João Silva", "sessoes": [], "eventos": []},
        "crm",
    ),
    Operation(
        "/api/Evento/cadastro",
        ("POST",),
        EventCadastroBody,
        lambda engine, body, _doc, _browser: send_event.register_event(engine, body),
        "Record an event for a contact",
        "A flat CRM event for the contact named in `pessoa` ({id} or {codigo}). Resending "
        "an event's `codigo` edits that event.",
        {"id": "12"},
        "crm",
    ),
    Operation(
        "/api/Evento/cadastroTipoEvento",
        ("POST",),
        EventTypeCadastroBody,
        lambda engine, body, _doc, _browser: crm.register_event_type(engine, body),
        "Create an event type",
        "A new event type; `id` is chosen when not given.",
        {
            "id": 29,
            "titulo": "Inscrição",
            "codigo": None,
            "fluxo": 0,
            "formaCriacaoOportunidade": None,
        },
        "crm",
    ),
    Operation(
        "/api/Evento/listarTipoEvento",
        ("POST",),
        EventTypeListBody,
        lambda engine, body, _doc, _browser: crm.event_types(engine, body),
        "List event types",
        "Every event type of the tenant, by id.",
        [
            {
                "id": 29,
                "titulo": "Inscrição",
                "codigo": None,
                "fluxo": 0,
                "formaCriacaoOportunidade": None,
            }
        ],
        "crm",
    ),
)
