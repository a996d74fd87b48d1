"""Running the Alembic migrations from code (the CLI and `serve` call this).

The migration scripts live inside the package so an installed Pegada can migrate itself
without an alembic.ini in the working directory.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from pegada.storage.engine import sqlite_migration_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Several processes may start at once on one PostgreSQL; only one migrates at a time.
_PG_LOCK_KEY = 0x5E6ADA


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to run from several processes at once."""
    config = alembic_config(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            try:
                command.upgrade(config, revision)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
    elif engine.url.database in (None, "", ":memory:"):
        command.upgrade(config, revision)
    else:
        # SQLite file: the whole upgrade is one write transaction (see
        # sqlite_migration_engine), so processes that start at once run it one after another
        # instead of interleaving steps or failing with "database is locked".
        migration_engine = sqlite_migration_engine(engine.url.render_as_string(False))
        try:
            config.attributes["engine"] = migration_engine
            command.upgrade(config, revision)
        finally:
            migration_engine.dispose()
