"""SQL for tenants, channels and event types."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select

from pegada.storage.tables import channels, event_types, tenants


def insert_tenant(conn: Connection, host_client: str, name: str, now: datetime) -> int:
    result = conn.execute(
        tenants.insert()
        .values(host_client=host_client, name=name, created_at=now)
        .returning(tenants.c.id)
    )
    return int(result.scalar_one())


def tenant_by_host_client(conn: Connection, host_client: str) -> Row[Any] | None:
    return conn.execute(select(tenants).where(tenants.c.host_client == host_client)).first()


def tenant_by_id(conn: Connection, tenant_id: int) -> Row[Any] | None:
    return conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()


def update_tenant(conn: Connection, tenant_id: int, values: dict[str, Any]) -> None:
    if values:
        conn.execute(tenants.update().where(tenants.c.id == tenant_id).values(**values))


def all_tenants(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(tenants).order_by(tenants.c.id)))


def next_origem(conn: Connection, tenant_id: int) -> int:
    highest = conn.execute(
        select(func.max(channels.c.origem)).where(channels.c.tenant_id == tenant_id)
    ).scalar()
    return int(highest or 0) + 1


def insert_channel(conn: Connection, values: dict[str, Any]) -> int:
    return int(
        conn.execute(channels.insert().values(**values).returning(channels.c.id)).scalar_one()
    )


def channel_by_token_digest(conn: Connection, digest: str) -> Row[Any] | None:
    return conn.execute(select(channels).where(channels.c.token_digest == digest)).first()


def channels_of(conn: Connection, tenant_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(channels).where(channels.c.tenant_id == tenant_id).order_by(channels.c.origem)
        )
    )


def next_event_type_id(conn: Connection, tenant_id: int) -> int:
    highest = conn.execute(
        select(func.max(event_types.c.type_id)).where(event_types.c.tenant_id == tenant_id)
    ).scalar()
    return int(highest or 0) + 1


def insert_event_type(conn: Connection, values: dict[str, Any]) -> int:
    return int(
        conn.execute(event_types.insert().values(**values).returning(event_types.c.id)).scalar_one()
    )


def event_type_by_type_id(conn: Connection, tenant_id: int, type_id: int) -> Row[Any] | None:
    return conn.execute(
        select(event_types).where(
            event_types.c.tenant_id == tenant_id, event_types.c.type_id == type_id
        )
    ).first()


def event_type_by_codigo(conn: Connection, tenant_id: int, codigo: str) -> Row[Any] | None:
    return conn.execute(
        select(event_types).where(
            event_types.c.tenant_id == tenant_id, event_types.c.codigo == codigo
        )
    ).first()


def event_types_of(conn: Connection, tenant_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(event_types)
            .where(event_types.c.tenant_id == tenant_id)
            .order_by(event_types.c.type_id)
        )
    )
