"""`pegada reports refresh [HOSTCLIENT …]`: bring the report rollups up to date now.

Every report refreshes its tenant's rollups before reading, which costs two index look-ups
when nothing changed but a whole build the first time (about half a minute per million page
views on PostgreSQL, a few minutes on SQLite): after an upgrade to a version with rollups,
or to keep the first dashboard request of the morning quick, an operator runs this instead
(at upgrade time, or from cron). Registered on the main command in cli.py.
"""

from __future__ import annotations

import time

import click

from pegada.errors import PegadaError
from pegada.storage.engine import build_engine, read_transaction
from pegada.storage.migrate import upgrade
from pegada.tenancy import get_tenant, list_tenants
from pegada.usecases import rollups


@click.group()
def reports() -> None:
    """The read side's report rollups."""


@reports.command("refresh")
@click.argument("host_clients", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def refresh(host_clients: tuple[str, ...], as_json: bool) -> None:
    """Bring the rollups of these tenants (all when none is named) up to date; builds them
    the first time. Safe to run at any moment, beside running servers."""
    from pegada.cli import _database_errors, _emit, _settings

    settings = _settings()
    done: list[dict[str, object]] = []
    with _database_errors(settings):
        engine = build_engine(settings)
        try:
            upgrade(engine)
            with read_transaction(engine) as conn:
                tenants = (
                    [get_tenant(conn, code) for code in host_clients]
                    if host_clients
                    else list_tenants(conn)
                )
            for tenant in tenants:
                started = time.perf_counter()
                rollups.refresh(engine, tenant.id)
                seconds = round(time.perf_counter() - started, 3)
                done.append({"host_client": tenant.host_client, "seconds": seconds})
                click.echo(f"{tenant.host_client}: up to date in {seconds:.1f} s", err=True)
        except PegadaError as exc:
            raise click.ClickException(exc.message) from exc
        finally:
            engine.dispose()
    _emit(as_json, done, f"{len(done)} tenant(s) up to date")
