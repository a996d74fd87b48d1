"""Shared fixtures: every storage/API test runs on SQLite *and* on the PostgreSQL server at
127.0.0.1:5432 (a throw-away database per test run; never a mock)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from starlette.testclient import TestClient

from pegada.app import create_app
from pegada.settings import Settings
from pegada.storage.engine import build_engine, write_transaction
from pegada.storage.migrate import upgrade
from pegada.storage.tables import metadata
from pegada.tenancy import create_channel, create_event_type, create_tenant

PG_ADMIN_URL = os.environ.get("PEGADA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

SEED_HOST_CLIENT = "aSLhOBjZV5wD7YEpppb3"
SEED_ORIGEM = 3
SEED_TOKEN = "a1264cc5b581cc6bfbad3faee2c54a99"
SEED_SESSION = "663303050524637653063286663526141567525958427"
SEED_SUBSTITUTE = "068615868786813623018786600516031567525965972"
SEED_EVENT_ID = "333333007367155333780632635331011566925997662"


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run (per xdist worker)."""
    name = f"pegada_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        _pg_url("test").replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = _pg_url(name)
    engine = build_engine(Settings(database_url=url))
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("template") / "pegada.db"
    engine = build_engine(Settings(database_url=f"sqlite:///{path}"))
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "pegada.db"
        shutil.copy(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_database")
    engine = build_engine(Settings(database_url=url))
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("db_url") == "postgresql":
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # A spool of this test's own (on PostgreSQL the default would be shared by the run).
    return Settings(database_url=db_url, spool_path=str(tmp_path / "hit-spool.db"))


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = build_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine)) as test_client:
        yield test_client


@dataclass(frozen=True)
class SeedTenant:
    """The tenant, channel and event type the seed's examples assume."""

    host_client: str = SEED_HOST_CLIENT
    origem: int = SEED_ORIGEM
    token: str = SEED_TOKEN
    event_type_id: int = 29

    def creds(self) -> dict[str, object]:
        return {"origem": self.origem, "token": self.token}


@pytest.fixture
def seed_tenant(engine: Engine) -> SeedTenant:
    with write_transaction(engine) as conn:
        tenant = create_tenant(conn, "Faculdade Exemplo", SEED_HOST_CLIENT)
        create_channel(conn, tenant, "Site", SEED_ORIGEM, SEED_TOKEN)
        create_event_type(conn, tenant, "Inscrição no curso", type_id=29, codigo="inscricao")
    return SeedTenant()


@pytest.fixture
def other_tenant(engine: Engine) -> SeedTenant:
    """A second institution, to prove tenants cannot see each other."""
    with write_transaction(engine) as conn:
        tenant = create_tenant(conn, "Outra Escola", "OtherTenant000000001")
        channel = create_channel(conn, tenant, "Site", 1)
        create_event_type(conn, tenant, "Inscrição", type_id=29)
    return SeedTenant(host_client=tenant.host_client, origem=1, token=channel.token)
