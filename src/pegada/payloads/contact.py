"""The CRM contact (SPEC §5) and the identify / sendData body built on it."""

from __future__ import annotations

import datetime
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
    Text45,
    Text100,
    Text255,
)


class EstadoCidade(msgspec.Struct, kw_only=True):
    cidade: Text255 | None = None
    estado: Annotated[str, Meta(pattern=r"^[A-Za-z]{2}$", description="UF")] | None = None


class Assinatura(msgspec.Struct, kw_only=True):
    """A consent: `status` 1 accepted, 2 refused."""

    id: Code
    status: Literal[1, 2]


class PessoaRef(msgspec.Struct, kw_only=True):
    """Names a contact explicitly, by Pegada `id` or external `codigo`."""

    id: int | Annotated[str, Meta(pattern=r"^[0-9]{1,18}$")] | None = None
    codigo: Code | None = None


class NestedEvento(msgspec.Struct, kw_only=True):
    """An event created together with the contact (`evento` inside a contact body)."""

    tipo: int | None = None
    codTipo: Code | None = None
    codigo: Code | None = None
    descricao: Html | None = None
    codOferta: Code | None = None
    codCurso: Code | None = None
    codLocalOferta: Code | None = None
    camposPersonalizados: CustomFields | None = None


class ContactFields(Credentials, kw_only=True):
    """Every CRM contact field Pegada stores. Empty or null values never erase stored data."""

    id: int | Annotated[str, Meta(pattern=r"^[0-9]{1,18}$")] | None = None
    codigo: Code | None = None
    nome: Text255 | None = None
    nomeSocial: Text255 | None = None
    dataNascimento: datetime.date | None = None
    emailPrincipal: Text255 | None = None
    telefonePrincipal: Annotated[str, Meta(max_length=40)] | int | None = None
    email: list[Text255] | None = None
    telefone: list[Annotated[str, Meta(max_length=40)] | int] | None = None
    cpf: Annotated[str, Meta(max_length=20)] | int | None = None
    endereco: Text255 | None = None
    cep: Annotated[str, Meta(max_length=20)] | int | None = None
    numero: Text45 | int | None = None
    complemento: Text255 | None = None
    bairro: Text45 | None = None
    sexo: Literal[1, 2] | None = None
    imagemUrl: Annotated[str, Meta(max_length=2048)] | None = None
    estadoCidade: EstadoCidade | None = None
    profissao: Text255 | None = None
    aluno: Literal[0, 1] | None = None
    exaluno: Literal[0, 1] | None = None
    escolaOrigem: Text255 | None = None
    anoFormacao: Annotated[int, Meta(ge=1900, le=2100)] | None = None
    naturalidade: Text255 | None = None
    nacionalidade: Text255 | None = None
    estadoCivil: Text100 | int | None = None
    cor: Text100 | int | None = None
    grauInstrucao: Text100 | int | None = None
    tags: list[Text100] | None = None
    tagsRemovidas: list[Text100] | None = None
    camposPersonalizados: CustomFields | None = None
    baseLegal: Text255 | int | None = None
    assinaturas: list[Assinatura] | None = None
    evento: NestedEvento | None = None


class IdentifyBody(ContactFields, kw_only=True):
    """`PATCH /api/identify` and `/api/v2/sendData`: a contact plus tracking ids."""

    hostClient: HostClient
    session_id: ExternalId
    substitute_id: ExternalId
    request_id: (
        Annotated[
            ExternalId,
            Meta(
                description="Idempotency key of this call (RBTracking sends a new "
                "idGenerator() per sendData and keeps it on a resend): the same request_id "
                "for the same session_id gets the first reply and stores nothing new."
            ),
        ]
        | None
    ) = None


class ContactCadastroBody(ContactFields, kw_only=True):
    """`POST /api/Contato/cadastro`: a contact; `hostClient` optional (the token names the
    tenant)."""

    hostClient: HostClient | None = None


class DadosPessoaBody(Credentials, kw_only=True):
    """`POST /api/Contato/dadosPessoa`: read one contact by `id` or `codigo`."""

    hostClient: HostClient | None = None
    id: int | Annotated[str, Meta(pattern=r"^[0-9]{1,18}$")] | None = None
    codigo: Code | None = None
