"""The Alembic scripts build exactly the schema of `storage/tables.py`, on SQLite and on
PostgreSQL; upgrading is idempotent, keeps existing rows, and is safe from several
processes at once (servers starting together, an operator running `pegada migrate`)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, MetaData, String, create_engine, func, select, text

from pegada.settings import Settings
from pegada.storage.engine import build_engine
from pegada.storage.migrate import alembic_config, upgrade
from pegada.storage.tables import metadata
from pegada.tenancy import authenticate, get_tenant, token_digest
from tests.conftest import PG_ADMIN_URL, _pg_url
from tests.servers import PEGADA, pegada_env


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all (a new SQLite file; a new PostgreSQL database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"pegada_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def empty_engine(empty_db_url: str) -> Iterator[Engine]:
    engine = build_engine(Settings(database_url=empty_db_url))
    yield engine
    engine.dispose()


def schema_diff(engine: Engine, target: MetaData = metadata) -> list[Any]:
    """What autogenerate would write to turn the database into `target` (empty: equal)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, target))


def head_revision(engine: Engine) -> str:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert head is not None
    return head


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def test_fresh_database_matches_the_tables_exactly(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    assert schema_diff(empty_engine) == []
    assert current_revisions(empty_engine) == {head_revision(empty_engine)}


def test_schema_comparison_notices_a_missing_column(empty_engine: Engine) -> None:
    """The comparison above has teeth: a column the migrations lack shows up."""
    upgrade(empty_engine)
    changed = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["contacts"].append_column(Column("not_migrated", String(10)))
    diff = schema_diff(empty_engine, changed)
    assert [(d[0], d[3].name) for d in diff] == [("add_column", "not_migrated")]


def test_upgrade_twice_changes_nothing_and_keeps_rows(
    empty_db_url: str, empty_engine: Engine
) -> None:
    upgrade(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(
            metadata.tables["tenants"].insert(),
            {"host_client": "A" * 20, "name": "Escola", "created_at": datetime.now(UTC)},
        )
    upgrade(empty_engine)
    done = subprocess.run(
        [PEGADA, "migrate"], env=pegada_env(empty_db_url), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert schema_diff(empty_engine) == []
    assert current_revisions(empty_engine) == {head_revision(empty_engine)}
    with empty_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(metadata.tables["tenants"])).scalar()


def test_processes_migrating_at_once_all_succeed(empty_db_url: str, empty_engine: Engine) -> None:
    """Several `pegada migrate` (or `pegada serve` start-ups) on one new database."""
    processes = [
        subprocess.Popen(
            [PEGADA, "migrate"],
            env=pegada_env(empty_db_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=60)
        outcomes.append((process.returncode, stderr))
    assert [code for code, _ in outcomes] == [0] * 4, outcomes
    assert all("Traceback" not in stderr for _, stderr in outcomes), outcomes
    assert schema_diff(empty_engine) == []
    assert current_revisions(empty_engine) == {head_revision(empty_engine)}


def test_upgrade_from_the_first_revision_keeps_existing_data(empty_engine: Engine) -> None:
    """A database filled under the first schema is upgraded in place, rows intact (on
    SQLite, batch-mode table rebuilds must cope with rows that reference the table)."""
    base = ScriptDirectory.from_config(alembic_config(empty_engine)).get_base()
    assert base is not None
    upgrade(empty_engine, base)
    old = MetaData()
    now = datetime.now(UTC)
    with empty_engine.begin() as conn:
        old.reflect(conn)
        tenant_id = conn.execute(
            old.tables["tenants"].insert().returning(old.tables["tenants"].c.id),
            {"host_client": "aSLhOBjZV5wD7YEpppb3", "name": "Faculdade", "created_at": now},
        ).scalar_one()
        conn.execute(
            old.tables["channels"].insert(),
            {
                "tenant_id": tenant_id,
                "origem": 3,
                "name": "Site",
                "token": "a1264cc5b581cc6bfbad3faee2c54a99",
                "token_digest": token_digest("a1264cc5b581cc6bfbad3faee2c54a99"),
                "created_at": now,
            },
        )
        contact_id = conn.execute(
            old.tables["contacts"].insert().returning(old.tables["contacts"].c.id),
            {
                "tenant_id": tenant_id,
                "nome": "João",
                "email": "joao@example.com",
                "fields": {"nome": "João", "emailPrincipal": "joao@example.com"},
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        conn.execute(
            old.tables["contact_keys"].insert(),
            {
                "tenant_id": tenant_id,
                "kind": "email",
                "value": "joao@example.com",
                "contact_id": contact_id,
                "created_at": now,
            },
        )
        conn.execute(
            old.tables["sessions"].insert(),
            {
                "tenant_id": tenant_id,
                "session_hash": "6" * 45,
                "contact_id": contact_id,
                "created_at": now,
            },
        )

    upgrade(empty_engine)

    assert schema_diff(empty_engine) == []
    with empty_engine.connect() as conn:
        tenant = get_tenant(conn, "aSLhOBjZV5wD7YEpppb3")
        assert (tenant.id, tenant.name) == (tenant_id, "Faculdade")
        contact = conn.execute(select(metadata.tables["contacts"])).one()
        assert (contact.id, contact.email, contact.fields["nome"]) == (
            contact_id,
            "joao@example.com",
            "João",
        )
        session = conn.execute(select(metadata.tables["sessions"])).one()
        assert session.contact_id == contact_id
        key = conn.execute(select(metadata.tables["contact_keys"])).one()
        assert (key.kind, key.contact_id) == ("email", contact_id)
        _, channel = authenticate(conn, tenant.host_client, 3, "a1264cc5b581cc6bfbad3faee2c54a99")
        assert (channel.tenant_id, channel.name) == (tenant_id, "Site")
