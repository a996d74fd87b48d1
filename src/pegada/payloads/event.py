"""CRM events (SPEC §5) and the two sendEvent shapes of SPEC §4."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from pegada.payloads.common import (
    Code,
    Credentials,
    CustomFields,
    ExternalId,
    HostClient,
    Html,
    Text100,
    Text255,
)
from pegada.payloads.contact import PessoaRef

Moment = Annotated[
    str,
    Meta(
        max_length=40,
        description="`YYYY-MM-DD hh:mm:ss` in the tenant's time zone, or ISO 8601 with offset.",
    ),
]


class EventFields(Credentials, kw_only=True):
    """A flat CRM event. Its type is `tipo` (type id) or `codTipo` (type code)."""

    codigo: Code | None = None
    tipo: int | None = None
    codTipo: Code | None = None
    descricao: Html | None = None
    pessoa: PessoaRef | None = None
    codOferta: Code | None = None
    codCurso: Code | None = None
    curso: Text255 | None = None
    codLocalOferta: Code | None = None
    codRegistro: Code | None = None
    data: Annotated[str, Meta(max_length=40)] | None = None
    tipoData: Text100 | int | None = None
    momento: Moment | None = None
    notaEnem: Annotated[float, Meta(ge=0, le=1000)] | None = None
    compareceuAtividade: Literal[0, 1] | None = None
    formaIngresso: Text255 | int | None = None
    dataVencimento: Annotated[str, Meta(max_length=40)] | None = None
    camposPersonalizados: CustomFields | None = None


class SeedEventItem(msgspec.Struct, kw_only=True):
    """One element of the seed's `event` array: the type beside, the data inside."""

    eventType: int | None = None
    codEventType: Code | None = None
    eventData: EventFields = msgspec.field(default_factory=EventFields)


class SendEventBody(Credentials, kw_only=True):
    """`PATCH /api/sendEvent` (the seed's shape)."""

    event: Annotated[list[SeedEventItem], Meta(min_length=1, max_length=50)]
    hostClient: HostClient
    session_id: ExternalId
    event_id: ExternalId | None = None

    def credentials_given(self) -> bool:
        return super().credentials_given() or any(
            item.eventData.credentials_given() for item in self.event
        )


class SendEventV2Body(Credentials, kw_only=True):
    """`PATCH /api/v2/sendEvent`: one flat event in `event`."""

    event: EventFields
    hostClient: HostClient
    session_id: ExternalId
    event_id: ExternalId | None = None
    pageTitle: Annotated[str, Meta(max_length=1000)] | None = None

    def credentials_given(self) -> bool:
        return super().credentials_given() or self.event.credentials_given()


class EventCadastroBody(EventFields, kw_only=True):
    """`POST /api/Evento/cadastro`: a flat event for the contact named in `pessoa`."""

    hostClient: HostClient | None = None


class EventTypeCadastroBody(Credentials, kw_only=True):
    """`POST /api/Evento/cadastroTipoEvento`."""

    titulo: Annotated[str, Meta(min_length=1, max_length=255)]
    id: Annotated[int, Meta(ge=1, le=2_147_483_647)] | None = None
    codigo: Code | None = None
    fluxo: Literal[0, 1] = 0
    formaCriacaoOportunidade: Literal[1, 2, 3] | None = None
    hostClient: HostClient | None = None


class EventTypeListBody(Credentials, kw_only=True):
    """`POST /api/Evento/listarTipoEvento`."""

    hostClient: HostClient | None = None
