"""Settings: every one documented (in the code and in README.md) and read strictly from the
environment; and the SQLite connection settings that make acknowledged writes durable."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from pegada.settings import DEFAULT_DATABASE_URL, Settings
from pegada.storage.engine import build_engine, read_transaction, write_transaction
from pegada.storage.migrate import upgrade

README = Path(__file__).resolve().parent.parent / "README.md"
FIELDS = dataclasses.fields(Settings)
INT_FIELDS = [f for f in FIELDS if f.type in (int, "int")]
BOOL_FIELDS = [f for f in FIELDS if f.type in (bool, "bool")]


# --- documentation -----------------------------------------------------------------------


@pytest.mark.parametrize("setting", FIELDS, ids=lambda f: f.name)
def test_every_setting_is_documented(setting: dataclasses.Field[object]) -> None:
    env = setting.metadata.get("env")
    doc = setting.metadata.get("doc")
    assert isinstance(env, str) and env.startswith("PEGADA_"), f"{setting.name}: no env name"
    assert isinstance(doc, str) and doc.strip(), f"{setting.name}: no doc"
    assert f"`{env}`" in README.read_text(), f"{env} is not documented in README.md"


def test_env_names_are_unique() -> None:
    names = [f.metadata["env"] for f in FIELDS]
    assert len(names) == len(set(names))


# --- reading the environment -------------------------------------------------------------


def test_no_variables_means_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings().database_url == DEFAULT_DATABASE_URL


def test_reads_os_environ_and_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEGADA_MAX_JSON_DEPTH", "12")
    monkeypatch.setenv("PEGADA_DB_POOL_SIZE", "3")
    settings = Settings.from_env(db_pool_size=7)
    assert (settings.max_json_depth, settings.db_pool_size) == (12, 7)


@pytest.mark.parametrize("setting", INT_FIELDS, ids=lambda f: f.name)
def test_whole_numbers(setting: dataclasses.Field[object]) -> None:
    env = setting.metadata["env"]
    assert getattr(Settings.from_env({env: "4096"}), setting.name) == 4096
    assert getattr(Settings.from_env({env: " 17 "}), setting.name) == 17


@pytest.mark.parametrize("setting", BOOL_FIELDS, ids=lambda f: f.name)
def test_yes_no(setting: dataclasses.Field[object]) -> None:
    env = setting.metadata["env"]
    for raw in ("1", "true", "TRUE", " yes ", "on"):
        assert getattr(Settings.from_env({env: raw}), setting.name) is True, raw
    for raw in ("0", "false", "False", "no", "off", ""):
        assert getattr(Settings.from_env({env: raw}), setting.name) is False, raw


GARBAGE = [
    *((f.metadata["env"], raw) for f in INT_FIELDS for raw in ("ten", "1.5", "", "0x10", "0")),
    *((f.metadata["env"], raw) for f in INT_FIELDS for raw in ("-3",)),
    *((f.metadata["env"], raw) for f in BOOL_FIELDS for raw in ("maybe", "2", "y e s")),
    ("PEGADA_DATABASE_URL", "not a url"),
    ("PEGADA_DATABASE_URL", "postgresql://u@h:port/db"),
    ("PEGADA_DATABASE_URL", "mysql://user@localhost/pegada"),
]


@pytest.mark.parametrize(("env", "raw"), GARBAGE)
def test_garbage_is_refused_naming_the_variable(env: str, raw: str) -> None:
    with pytest.raises(ValueError, match=env):
        Settings.from_env({env: raw})


def test_bad_database_url_is_not_echoed() -> None:
    """The URL may carry a password, so the message describes it instead of quoting it."""
    with pytest.raises(ValueError) as caught:
        Settings.from_env({"PEGADA_DATABASE_URL": "postgresql://u:hunter2@h:nope/db"})
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/pegada.db", Path("data/pegada.db")),
        ("sqlite:////var/lib/pegada.db", Path("/var/lib/pegada.db")),
        ("sqlite:///:memory:", None),
        ("postgresql://postgres@127.0.0.1/pegada", None),
    ],
)
def test_sqlite_path(url: str, path: Path | None) -> None:
    assert Settings.from_env({"PEGADA_DATABASE_URL": url}).sqlite_path() == path


# --- SQLite durability -------------------------------------------------------------------


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    target = tmp_path / "durable.db"
    shutil.copy(sqlite_template, target)
    engine = build_engine(Settings(database_url=f"sqlite:///{target}"))
    upgrade(engine)  # the migration's own connection settings must not leak into these
    yield engine
    engine.dispose()


def _pragmas(conn: Connection) -> dict[str, object]:
    names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    return {n: conn.exec_driver_sql(f"PRAGMA {n}").scalar() for n in names}


DURABLE = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 30000}


def test_sqlite_connections_are_durable(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert _pragmas(conn) == DURABLE
    with read_transaction(sqlite_engine) as conn:
        assert _pragmas(conn) == DURABLE
    with write_transaction(sqlite_engine) as conn:
        assert _pragmas(conn) == DURABLE


def test_sqlite_enforces_foreign_keys(sqlite_engine: Engine) -> None:
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        with write_transaction(sqlite_engine) as conn:
            conn.execute(
                text(
                    "INSERT INTO channels (tenant_id, origem, name, token, token_digest,"
                    " created_at) VALUES (999, 1, 'x', 'y', 'z', '2026-01-01 00:00:00')"
                )
            )


def test_sqlite_write_transaction_takes_the_lock_up_front(sqlite_engine: Engine) -> None:
    """BEGIN IMMEDIATE: a second writer waits at its start instead of failing halfway;
    readers are not blocked (WAL)."""
    path = str(sqlite_engine.url.database)
    with write_transaction(sqlite_engine):
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            assert other.execute("SELECT count(*) FROM tenants").fetchone() == (0,)
        finally:
            other.close()


def test_postgresql_engine_uses_psycopg_and_the_pool_setting() -> None:
    engine = build_engine(Settings(database_url="postgresql://u@127.0.0.1/db", db_pool_size=4))
    try:
        assert engine.dialect.driver == "psycopg"
        assert engine.pool.size() == 4  # type: ignore[attr-defined]
    finally:
        engine.dispose()
