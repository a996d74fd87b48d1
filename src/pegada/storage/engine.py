"""Creating the database engine, with the settings that make SQLite durable and safe under
several writers, and the two kinds of transaction the rest of the code uses.

SQLite: WAL journal with `synchronous=FULL` (a committed write survives a power cut, not
only a process crash) and write transactions opened with `BEGIN IMMEDIATE`, so two writers
queue on the database lock instead of failing halfway with "database is locked".
PostgreSQL: psycopg 3, a small pool per process, pre-ping so a restarted server is survived.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from pegada.settings import Settings

#: Execution option marking a connection whose transactions will write (BEGIN IMMEDIATE).
WRITE_OPTION = "pegada_write"


def normalize_url(url: str) -> str:
    """Pick the psycopg 3 driver for plain `postgresql://` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def build_engine(settings: Settings) -> Engine:
    url = normalize_url(settings.database_url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, settings)
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
    )


def _sqlite_engine(url: str, settings: Settings, *, foreign_keys: bool = True) -> Engine:
    path = settings.sqlite_path()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def sqlite_migration_engine(url: str) -> Engine:
    """An engine for migrating a SQLite file. Each connection starts inside a
    `BEGIN IMMEDIATE` transaction, so a whole upgrade (reading the version, every step,
    stamping) is one atomic transaction that other processes queue behind. Foreign keys are
    off, because Alembic's batch mode rebuilds a table by copying, dropping and renaming it,
    which the checks refuse while other tables' rows point at it. Dispose it when done."""
    engine = _sqlite_engine(url, Settings(database_url=url), foreign_keys=False)

    @event.listens_for(engine, "engine_connect")
    def _start_locked(conn: Connection) -> None:
        conn.execution_options(**{WRITE_OPTION: True})
        conn.begin()

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: serialised up front on SQLite, plain on PostgreSQL."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A consistent read: one transaction, nothing written."""
    with engine.connect() as conn, conn.begin():
        yield conn
