"""The `pegada` command: serve, migrate, and the operator's tenant/channel/event-type admin.

Every admin command prints a short human line, or with `--json` one JSON object/array on
stdout (what tests and scripts read). Errors go to stderr with exit status 1.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import wraps
from types import FrameType
from typing import Any, TypeVar

import click
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from pegada.cli_attribution import attribution
from pegada.cli_contacts import contact
from pegada.cli_project import project, projector_beside
from pegada.cli_reports import reports
from pegada.cli_tenant_settings import tenant_set
from pegada.errors import PegadaError
from pegada.settings import Settings
from pegada.storage.engine import build_engine, read_transaction, write_transaction
from pegada.storage.migrate import upgrade
from pegada.tenancy import (
    Tenant,
    create_channel,
    create_event_type,
    create_tenant,
    get_tenant,
    list_channels,
    list_event_types,
    list_tenants,
)

F = TypeVar("F", bound=Callable[..., Any])


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _database_errors(settings: Settings) -> Iterator[None]:
    """A database that cannot be reached or opened is one line on stderr, not a traceback."""
    try:
        yield
    except ArgumentError as exc:
        raise click.ClickException(f"PEGADA_DATABASE_URL: not a database URL ({exc})") from exc
    except (OperationalError, OSError) as exc:
        detail = exc.orig if isinstance(exc, OperationalError) else exc
        lines = str(detail).strip().splitlines() or ["unavailable"]
        raise click.ClickException(f"database {_safe_url(settings)}: {lines[0]}") from exc


def _with_db(write: bool) -> Callable[[F], F]:
    """Open the database (migrated) and hand the command a connection in a transaction."""

    def decorate(command: F) -> F:
        @wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            settings = _settings()
            with _database_errors(settings):
                engine = build_engine(settings)
                try:
                    upgrade(engine)
                    transaction = write_transaction if write else read_transaction
                    with transaction(engine) as conn:
                        return command(conn, *args, **kwargs)
                except PegadaError as exc:
                    raise click.ClickException(exc.message) from exc
                finally:
                    engine.dispose()

        return run  # type: ignore[return-value]

    return decorate


def _tenant_json(tenant: Tenant) -> dict[str, str]:
    """A tenant as scripts see it: the API's field names, not the database id."""
    return {"hostClient": tenant.host_client, "name": tenant.name, "timezone": tenant.timezone}


def _emit(as_json: bool, data: Any, human: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False) if as_json else human)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
@click.version_option(package_name="pegada")
def main() -> None:
    """Pegada: page tracking and lead identification."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
@click.option(
    "--no-projector",
    is_flag=True,
    help="Do not start `pegada project` beside the server (run it yourself).",
)
def serve(host: str, port: int, workers: int, no_projector: bool) -> None:
    """Run the HTTP server (migrating the database first unless PEGADA_AUTO_MIGRATE=0) and
    the projector that writes spooled hits into the database."""
    settings = _settings()
    if settings.auto_migrate:
        _migrate(settings)
    click.echo(f"Pegada on http://{host}:{port} (database: {_safe_url(settings)})", err=True)
    # uvicorn shuts down on SIGTERM, then raises it again under the handler it found: this
    # one unwinds the stack instead of ending the process, so the projector is stopped and
    # the spool drained before we exit.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with nullcontext() if no_projector else projector_beside(settings):
        _run_uvicorn(settings, host, port, workers)


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _run_uvicorn(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "pegada.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def _migrate(settings: Settings) -> None:
    with _database_errors(settings):
        engine = build_engine(settings)
        try:
            upgrade(engine)
        finally:
            engine.dispose()


def _safe_url(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = _settings()
    _migrate(settings)
    click.echo(f"database at the latest schema ({_safe_url(settings)})")


@main.group()
def tenant() -> None:
    """Institutions (tenants)."""


@tenant.command("create")
@click.argument("name")
@click.option("--host-client", help="Keep an existing 20-character code (migrating sites).")
@json_option
@_with_db(write=True)
def tenant_create(conn: Connection, name: str, host_client: str | None, as_json: bool) -> None:
    created = create_tenant(conn, name, host_client)
    _emit(as_json, _tenant_json(created), created.host_client)


@tenant.command("list")
@json_option
@_with_db(write=False)
def tenant_list(conn: Connection, as_json: bool) -> None:
    tenants = list_tenants(conn)
    human = "\n".join(f"{t.host_client}  {t.name}" for t in tenants)
    _emit(as_json, [_tenant_json(t) for t in tenants], human)


@main.group()
def channel() -> None:
    """A tenant's channels (origem + token)."""


@channel.command("create")
@click.argument("host_client")
@click.argument("name")
@click.option("--origem", type=int, help="Channel number (default: the next free one).")
@click.option("--token", help="Keep an existing 32-hex token (default: a new random one).")
@json_option
@_with_db(write=True)
def channel_create(
    conn: Connection,
    host_client: str,
    name: str,
    origem: int | None,
    token: str | None,
    as_json: bool,
) -> None:
    created = create_channel(conn, get_tenant(conn, host_client), name, origem, token)
    data = {"origem": created.origem, "token": created.token, "name": created.name}
    _emit(as_json, data, f"origem {created.origem}  token {created.token}")


@channel.command("list")
@click.argument("host_client")
@json_option
@_with_db(write=False)
def channel_list(conn: Connection, host_client: str, as_json: bool) -> None:
    channels = list_channels(conn, get_tenant(conn, host_client))
    data = [{"origem": c.origem, "name": c.name, "token": c.token} for c in channels]
    human = "\n".join(f"{c.origem}  {c.token}  {c.name}" for c in channels)
    _emit(as_json, data, human)


@main.group("event-type")
def event_type() -> None:
    """A tenant's event types."""


@event_type.command("create")
@click.argument("host_client")
@click.argument("titulo")
@click.option("--id", "type_id", type=int, help="Type id (default: the next free one).")
@click.option("--codigo", help="Type code, for codEventType / codTipo.")
@json_option
@_with_db(write=True)
def event_type_create(
    conn: Connection,
    host_client: str,
    titulo: str,
    type_id: int | None,
    codigo: str | None,
    as_json: bool,
) -> None:
    created = create_event_type(
        conn, get_tenant(conn, host_client), titulo, type_id=type_id, codigo=codigo
    )
    _emit(as_json, created.as_api(), f"event type {created.type_id}  {created.titulo}")


@event_type.command("list")
@click.argument("host_client")
@json_option
@_with_db(write=False)
def event_type_list(conn: Connection, host_client: str, as_json: bool) -> None:
    types = list_event_types(conn, get_tenant(conn, host_client))
    human = "\n".join(f"{t.type_id}  {t.codigo or '-'}  {t.titulo}" for t in types)
    _emit(as_json, [t.as_api() for t in types], human)


main.add_command(contact)
main.add_command(attribution)
main.add_command(reports)
main.add_command(project)
tenant.add_command(tenant_set)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
