"""Databases for bench/journeys.py: a throw-away PostgreSQL database or a SQLite file,
migrated, with the two tenants made through `pegada.tenancy` (as `pegada tenant` would),
then the generated rows written straight into the tables — COPY on PostgreSQL, one
`executemany` per table on SQLite — in the formats SQLAlchemy itself stores.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from journeys_data import COLUMNS, EVENT_TYPES, JSON_COLUMNS, TABLES, ZONE, Rows, Tenancy
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pegada.settings import Settings
from pegada.storage.engine import build_engine, write_transaction
from pegada.storage.migrate import upgrade
from pegada.tenancy import (
    create_channel,
    create_event_type,
    create_tenant,
    update_tenant_settings,
)

#: (hostClient, name, origem, channel token, site, enrolment site) of the two tenants.
MAIN = (
    "aSLhOBjZV5wD7YEpppb3",
    "Faculdade Exemplo",
    3,
    "a1264cc5b581cc6bfbad3faee2c54a99",
    "www.escola.edu.br",
    "inscricao.escola.edu.br",
)
OTHER = (
    "OutraEscola000000001",
    "Outra Escola",
    1,
    "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "www.outra.edu.br",
    "matricula.outra.edu.br",
)


# --- databases -------------------------------------------------------------------------------


def create_pg_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    """A new database next to `admin_url`'s; returns its URL and what drops it."""
    name = f"pegada_bench_{uuid.uuid4().hex[:10]}"
    admin = make_url(admin_url).set(drivername="postgresql+psycopg")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return url, drop


def prepare(url: str) -> tuple[Tenancy, Tenancy]:
    """Migrate, then make the main tenant and the small other one (time zone, own sites,
    a channel, the event types)."""
    engine = build_engine(Settings(database_url=url))
    try:
        upgrade(engine)
        made = []
        with write_transaction(engine) as conn:
            for host_client, name, origem, token, site, enrolment in (MAIN, OTHER):
                tenant = create_tenant(conn, name, host_client)
                update_tenant_settings(
                    conn,
                    tenant,
                    timezone=ZONE,
                    allowed_origins=[f"https://{site}", f"https://{enrolment}"],
                )
                channel = create_channel(conn, tenant, "Site", origem, token)
                types = {
                    type_id: create_event_type(conn, tenant, titulo, type_id=type_id, codigo=code)
                    for type_id, code, titulo in EVENT_TYPES
                }
                made.append(
                    Tenancy(
                        tenant.id,
                        channel.id,
                        origem,
                        host_client,
                        {type_id: et.id for type_id, et in types.items()},
                        site,
                        enrolment,
                        channel.token,
                    )
                )
    finally:
        engine.dispose()
    return made[0], made[1]


# --- loading ---------------------------------------------------------------------------------


def _loaded(log: Callable[[str], None], table: str, rows: Rows, started: float) -> None:
    log(f"  {table}: {len(rows.tables[table]):,} rows in {time.perf_counter() - started:.1f} s")


def _json(value: Any) -> str:
    return json.dumps(value)  # None is JSON null, as SQLAlchemy stores it


def load_postgresql(url: str, rows: Rows, log: Callable[[str], None]) -> None:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        for table in TABLES:
            columns = COLUMNS[table]
            json_at = [i for i, name in enumerate(columns) if name in JSON_COLUMNS]
            started = time.perf_counter()
            with conn.cursor() as cur:
                statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                with cur.copy(statement) as copy:  # type: ignore[arg-type]
                    for row in rows.tables[table]:
                        if json_at:
                            values = list(row)
                            for i in json_at:
                                values[i] = _json(values[i])
                            copy.write_row(values)
                        else:
                            copy.write_row(row)
                if "id" in columns:
                    cur.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # type: ignore[arg-type]
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
            conn.commit()
            _loaded(log, table, rows, started)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        started = time.perf_counter()
        # What autovacuum does to freshly loaded tables: statistics and the visibility map.
        conn.execute("VACUUM (ANALYZE)")
        log(f"  VACUUM (ANALYZE) in {time.perf_counter() - started:.1f} s")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _sqlite_rows(table: str, rows: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    columns = COLUMNS[table]
    kinds = ["json" if name in JSON_COLUMNS else "plain" for name in columns]
    for row in rows:
        yield tuple(
            _json(v) if kind == "json" else _sqlite_value(v)
            for v, kind in zip(row, kinds, strict=True)
        )


def load_sqlite(path: str, rows: Rows, log: Callable[[str], None]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        for table in TABLES:
            columns = COLUMNS[table]
            started = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})",
                _sqlite_rows(table, rows.tables[table]),
            )
            conn.execute("COMMIT")
            _loaded(log, table, rows, started)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
