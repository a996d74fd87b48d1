"""One typed settings object, read from `PEGADA_*` environment variables.

Every field is documented here (the docstring of each field is the documentation, and a
test fails when a field is added without one), so operators have one place to look.
Nothing reads the environment at import time: `Settings.from_env()` is called by the CLI
and by tests that want the defaults.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///data/pegada.db"


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of one Pegada process."""

    database_url: str = field(
        default=DEFAULT_DATABASE_URL,
        metadata={
            "env": "PEGADA_DATABASE_URL",
            "doc": "SQLAlchemy URL of the database. `sqlite:///path` (the default, a file "
            "under ./data/) or `postgresql://user@host/db`.",
        },
    )
    max_body_bytes: int = field(
        default=64 * 1024,
        metadata={
            "env": "PEGADA_MAX_BODY_BYTES",
            "min": 1,
            "doc": "Largest request body accepted by the API; larger bodies get 413.",
        },
    )
    max_json_depth: int = field(
        default=8,
        metadata={
            "env": "PEGADA_MAX_JSON_DEPTH",
            "min": 1,
            "doc": "Deepest nesting of objects/arrays accepted in a JSON body.",
        },
    )
    db_pool_size: int = field(
        default=10,
        metadata={
            "env": "PEGADA_DB_POOL_SIZE",
            "min": 1,
            "doc": "Connections kept open per process (PostgreSQL only).",
        },
    )
    public_url: str = field(
        default="",
        metadata={
            "env": "PEGADA_PUBLIC_URL",
            "doc": "Base URL browsers reach Pegada at, written into the tracker script (e.g. "
            "`https://tracking.example.edu`); empty = taken from each request's Host header.",
        },
    )
    browser_requests_per_minute: int = field(
        default=30,
        metadata={
            "env": "PEGADA_BROWSER_REQUESTS_PER_MINUTE",
            "min": 1,
            "doc": "Calls without a token (a browser's sendData, sendEvent, getData) one "
            "session may make per minute and process; an IP network gets four times as many.",
        },
    )
    channel_rules: str = field(
        default="",
        metadata={
            "env": "PEGADA_CHANNEL_RULES",
            "doc": "Path of a channel-rules JSON file (a copy of the built-in "
            "attribution/channels.json, extended); empty = the built-in rules.",
        },
    )
    forwarded_allow_ips: str = field(
        default="127.0.0.1",
        metadata={
            "env": "PEGADA_FORWARDED_ALLOW_IPS",
            "doc": "Comma-separated addresses of reverse proxies whose X-Forwarded-For / "
            "X-Forwarded-Proto are believed (the visitor's network is read from them); "
            "`*` trusts any.",
        },
    )
    spool_path: str = field(
        default="",
        metadata={
            "env": "PEGADA_SPOOL_PATH",
            "doc": "File where accepted page hits are committed before their reply, until the "
            "projector has written them into the database. Empty = beside a SQLite "
            "database (`data/pegada-spool.db` for the default one), or "
            "`data/spool-<database name>.db` for PostgreSQL. Keep it on a disk that "
            "survives restarts; the processes of one host share it.",
        },
    )
    auto_migrate: bool = field(
        default=True,
        metadata={
            "env": "PEGADA_AUTO_MIGRATE",
            "doc": "Run database migrations when `pegada serve` starts (set 0 when an "
            "operator runs `pegada migrate` separately).",
        },
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from `PEGADA_*` variables, then apply explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is None:
                continue
            values[f.name] = _parse(raw, f.type, f.metadata["env"], f.metadata.get("min"))
            if f.name == "database_url":
                _check_database_url(raw, f.metadata["env"])
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def sqlite_path(self) -> Path | None:
        """The file behind a SQLite URL (None for other databases or in-memory)."""
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        path = self.database_url[len(prefix) :]
        return Path(path) if path and path != ":memory:" else None

    def spool_file(self) -> Path:
        """Where this process spools hits (`spool_path`, or the default beside the data)."""
        if self.spool_path:
            return Path(self.spool_path)
        database = self.sqlite_path()
        if database is not None:
            return database.with_name(f"{database.stem}-spool.db")
        from sqlalchemy.engine import make_url

        name = make_url(self.database_url).database
        if not name or name == ":memory:":  # an in-memory database: this process's alone
            return Path("data") / f"spool-memory-{os.getpid()}.db"
        return Path("data") / f"spool-{name}.db"


def _parse(raw: str, annotation: object, name: str, minimum: int | None = None) -> object:
    if annotation in (int, "int"):
        try:
            number = int(raw)
        except ValueError as exc:
            raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc
        if minimum is not None and number < minimum:
            raise ValueError(f"{name} must be at least {minimum}, got {raw!r}")
        return number
    if annotation in (bool, "bool"):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{name} must be 1/0, true/false, got {raw!r}")
    return raw


def _check_database_url(raw: str, name: str) -> None:
    """A URL of a database Pegada runs on; the value is not echoed (it may hold a password)."""
    from sqlalchemy.engine import make_url

    try:
        backend = make_url(raw).get_backend_name()
    except Exception as exc:  # ArgumentError, or ValueError for a bad port
        raise ValueError(
            f"{name} must be a URL like sqlite:///data/pegada.db or postgresql://user@host/db"
        ) from exc
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise ValueError(f"{name} must name a SQLite or PostgreSQL database, not {backend!r}")
