"""Tenants (institutions), their channels (`origem` + secret `token`) and event types, and
the authentication of server-to-server calls against them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from pegada import ids
from pegada.clock import utcnow
from pegada.errors import AuthFailed, Conflict, InvalidInput, NotFound, field_error
from pegada.storage import tenancy_repo


@dataclass(frozen=True)
class Tenant:
    id: int
    host_client: str
    name: str
    timezone: str

    @classmethod
    def from_row(cls, row: Row[Any]) -> Tenant:
        return cls(row.id, row.host_client, row.name, row.timezone)


@dataclass(frozen=True)
class TenantSettings:
    """What a tenant can tune: its time zone (local days, `momento`), the idle time that
    ends a visit, the origins allowed to send hits (empty: any) and Do Not Track."""

    timezone: str
    visit_idle_minutes: int
    allowed_origins: tuple[str, ...]
    honor_dnt: bool

    @classmethod
    def from_row(cls, row: Row[Any]) -> TenantSettings:
        return cls(
            row.timezone,
            int(row.visit_idle_minutes),
            tuple(row.allowed_origins),
            bool(row.honor_dnt),
        )

    def as_api(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "visitIdleMinutes": self.visit_idle_minutes,
            "allowedOrigins": list(self.allowed_origins),
            "honorDnt": self.honor_dnt,
        }


#: Bounds of a tenant's visit idle time, in minutes (a minute to a day).
VISIT_IDLE_MINUTES = (1, 1440)


@dataclass(frozen=True)
class Channel:
    id: int
    tenant_id: int
    origem: int
    name: str
    token: str

    @classmethod
    def from_row(cls, row: Row[Any]) -> Channel:
        return cls(row.id, row.tenant_id, row.origem, row.name, row.token)


@dataclass(frozen=True)
class EventType:
    id: int
    type_id: int
    codigo: str | None
    titulo: str
    fluxo: int
    forma_criacao_oportunidade: int | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> EventType:
        return cls(
            row.id, row.type_id, row.codigo, row.titulo, row.fluxo, row.forma_criacao_oportunidade
        )

    def as_api(self) -> dict[str, Any]:
        return {
            "id": self.type_id,
            "titulo": self.titulo,
            "codigo": self.codigo,
            "fluxo": self.fluxo,
            "formaCriacaoOportunidade": self.forma_criacao_oportunidade,
        }


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_tenant(conn: Connection, name: str, host_client: str | None = None) -> Tenant:
    if not name.strip():
        raise field_error("name", "must not be empty")
    code = host_client or ids.new_host_client()
    if not ids.HOST_CLIENT_RE.match(code):
        raise field_error("hostClient", "must be 20 letters or digits")
    try:
        with conn.begin_nested():
            tenancy_repo.insert_tenant(conn, code, name.strip(), utcnow())
    except IntegrityError as exc:
        raise Conflict(f"hostClient: a tenant with code {code} already exists") from exc
    return get_tenant(conn, code)


def get_tenant(conn: Connection, host_client: str) -> Tenant:
    row = tenancy_repo.tenant_by_host_client(conn, host_client)
    if row is None:
        raise NotFound(
            f"hostClient: no tenant with code {host_client!r}", {"hostClient": "unknown tenant"}
        )
    return Tenant.from_row(row)


def list_tenants(conn: Connection) -> list[Tenant]:
    return [Tenant.from_row(row) for row in tenancy_repo.all_tenants(conn)]


def tenant_settings(conn: Connection, tenant: Tenant) -> TenantSettings:
    row = tenancy_repo.tenant_by_id(conn, tenant.id)
    assert row is not None
    return TenantSettings.from_row(row)


def update_tenant_settings(
    conn: Connection,
    tenant: Tenant,
    *,
    timezone: str | None = None,
    visit_idle_minutes: int | None = None,
    allowed_origins: Sequence[str] | None = None,
    honor_dnt: bool | None = None,
) -> TenantSettings:
    """Change the given settings (None: keep), each checked first; returns them all.
    Running servers pick the change up within their tenant cache's few seconds; stored
    visits keep their grouping until `pegada attribution recompute`."""
    values: dict[str, Any] = {}
    if timezone is not None:
        if timezone not in _time_zones():
            raise field_error(
                "timezone", f"{timezone!r} is not an IANA time zone (e.g. America/Sao_Paulo)"
            )
        values["timezone"] = timezone
    if visit_idle_minutes is not None:
        low, high = VISIT_IDLE_MINUTES
        if not low <= visit_idle_minutes <= high:
            raise field_error(
                "visitIdleMinutes",
                f"must be from {low} to {high} minutes, not {visit_idle_minutes}",
            )
        values["visit_idle_minutes"] = visit_idle_minutes
    if allowed_origins is not None:
        values["allowed_origins"] = list(dict.fromkeys(_origin(o) for o in allowed_origins))
    if honor_dnt is not None:
        values["honor_dnt"] = honor_dnt
    tenancy_repo.update_tenant(conn, tenant.id, values)
    return tenant_settings(conn, tenant)


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _origin(value: str) -> str:
    """An origin as browsers send it (`https://www.escola.edu.br`), lower-case."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise field_error(
            "allowedOrigins",
            f"{value!r} is not an origin: scheme and host only, e.g. https://www.escola.edu.br",
        )
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"  # IPv6
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def create_channel(
    conn: Connection, tenant: Tenant, name: str, origem: int | None = None, token: str | None = None
) -> Channel:
    if not name.strip():
        raise field_error("name", "must not be empty")
    if origem is not None and origem < 1:
        raise field_error("origem", "must be a positive whole number")
    secret = token or ids.new_token()
    if not ids.TOKEN_RE.match(secret):
        raise field_error("token", "must be 32 lowercase hexadecimal characters")
    number = origem if origem is not None else tenancy_repo.next_origem(conn, tenant.id)
    values = {
        "tenant_id": tenant.id,
        "origem": number,
        "name": name.strip(),
        "token": secret,
        "token_digest": token_digest(secret),
        "created_at": utcnow(),
    }
    try:
        with conn.begin_nested():
            channel_id = tenancy_repo.insert_channel(conn, values)
    except IntegrityError as exc:
        raise Conflict(
            f"origem: channel {number} already exists in this tenant, or the token is in use"
        ) from exc
    return Channel(channel_id, tenant.id, number, name.strip(), secret)


def list_channels(conn: Connection, tenant: Tenant) -> list[Channel]:
    return [Channel.from_row(row) for row in tenancy_repo.channels_of(conn, tenant.id)]


def authenticate(
    conn: Connection,
    host_client: str | None,
    origem: int | None,
    token: str | None,
    *,
    where: str = "",
) -> tuple[Tenant, Channel]:
    """The tenant and channel that `origem` + `token` prove, or AuthFailed.

    `where` prefixes the field names in errors (`event[0].eventData.` for credentials that
    travel inside an event, as in the seed).
    """
    tenant = get_tenant(conn, host_client) if host_client is not None else None
    missing = {
        f"{where}{name}": "is required"
        for name, value in (("origem", origem), ("token", token))
        if value is None
    }
    if missing:
        raise AuthFailed(
            f"{', '.join(missing)}: the channel's origem and token are required", missing
        )
    assert token is not None and origem is not None
    row = tenancy_repo.channel_by_token_digest(conn, token_digest(token))
    valid = (
        row is not None
        and hmac.compare_digest(row.token, token)
        and row.origem == origem
        and (tenant is None or row.tenant_id == tenant.id)
    )
    if not valid or row is None:
        fields = {f"{where}origem": "wrong pair", f"{where}token": "wrong pair"}
        raise AuthFailed(
            f"{where}origem/{where}token: not a channel of this tenant (wrong origem or token)",
            fields,
        )
    if tenant is None:
        tenant_row = tenancy_repo.tenant_by_id(conn, row.tenant_id)
        assert tenant_row is not None
        tenant = Tenant.from_row(tenant_row)
    return tenant, Channel.from_row(row)


def caller(
    conn: Connection,
    host_client: str,
    origem: int | None,
    token: str | None,
    browser: bool,
) -> tuple[Tenant, Channel | None]:
    """Who is calling: a channel proven by origem + token, or (browser) the tenant's site,
    with no channel and the lower trust that goes with it."""
    if browser:
        return get_tenant(conn, host_client), None
    return authenticate(conn, host_client, origem, token)


def create_event_type(
    conn: Connection,
    tenant: Tenant,
    titulo: str,
    *,
    type_id: int | None = None,
    codigo: str | None = None,
    fluxo: int = 0,
    forma_criacao_oportunidade: int | None = None,
    origem: int | None = None,
) -> EventType:
    if not titulo.strip():
        raise field_error("titulo", "must not be empty")
    if len(titulo) > 255:
        raise field_error("titulo", "longer than 255 characters")
    if type_id is not None and type_id < 1:
        raise field_error("id", "must be a positive whole number")
    number = type_id if type_id is not None else tenancy_repo.next_event_type_id(conn, tenant.id)
    values = {
        "tenant_id": tenant.id,
        "type_id": number,
        "codigo": codigo,
        "titulo": titulo.strip(),
        "fluxo": fluxo,
        "forma_criacao_oportunidade": forma_criacao_oportunidade,
        "origem": origem,
        "created_at": utcnow(),
    }
    try:
        with conn.begin_nested():
            pk = tenancy_repo.insert_event_type(conn, values)
    except IntegrityError as exc:
        taken = f"id {number}" + (f" or codigo {codigo!r}" if codigo else "")
        raise Conflict(f"id/codigo: an event type with {taken} already exists") from exc
    return EventType(pk, number, codigo, titulo.strip(), fluxo, forma_criacao_oportunidade)


def list_event_types(conn: Connection, tenant: Tenant) -> list[EventType]:
    return [EventType.from_row(row) for row in tenancy_repo.event_types_of(conn, tenant.id)]


def resolve_event_type(
    conn: Connection,
    tenant: Tenant,
    type_id: int | None,
    codigo: str | None,
    *,
    id_field: str,
    code_field: str,
) -> EventType:
    """The event type named by id or by code. Errors name the input they are about:
    `id_field` (also for "event without type") or `code_field` when only a code was given."""
    if type_id is not None:
        row = tenancy_repo.event_type_by_type_id(conn, tenant.id, type_id)
        if row is None:
            raise InvalidInput(
                f"{id_field}: no event type {type_id} in this tenant",
                {id_field: f"unknown event type {type_id}"},
            )
        return EventType.from_row(row)
    if codigo is not None:
        row = tenancy_repo.event_type_by_codigo(conn, tenant.id, codigo)
        if row is None:
            raise InvalidInput(
                f"{code_field}: no event type with code {codigo!r} in this tenant",
                {code_field: f"unknown event type code {codigo!r}"},
            )
        return EventType.from_row(row)
    raise InvalidInput(f"{id_field}: event without type", {id_field: "event without type"})
