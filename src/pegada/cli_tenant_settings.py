"""`pegada tenant set …`: a tenant's settings (time zone, visit idle time, allowed origins,
Do Not Track).

Added to cli.py's `tenant` group there, which imports this module at its top: the shared
helpers of cli.py are imported when the command runs, not when this module loads.
"""

from __future__ import annotations

import click
from sqlalchemy import Connection

from pegada.cli_contacts import _with_db
from pegada.tenancy import get_tenant, update_tenant_settings


@click.command("set")
@click.argument("host_client")
@click.option(
    "--visit-idle-minutes",
    type=int,
    help="Minutes without a page after which the next one starts a new visit (1 to 1440).",
)
@click.option("--timezone", help="IANA time zone, e.g. America/Sao_Paulo (local days, momento).")
@click.option(
    "--allowed-origin",
    "allowed_origins",
    multiple=True,
    metavar="URL",
    help="An origin allowed to send hits, e.g. https://www.escola.edu.br; repeat for "
    "several. Replaces the list; the tenant's own sites for attribution.",
)
@click.option("--any-origin", is_flag=True, help="Empty the list: any origin may send hits.")
@click.option(
    "--honor-dnt/--no-honor-dnt",
    default=None,
    help="Honour Do Not Track / Global Privacy Control.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_with_db(write=True)
def tenant_set(
    conn: Connection,
    host_client: str,
    visit_idle_minutes: int | None,
    timezone: str | None,
    allowed_origins: tuple[str, ...],
    any_origin: bool,
    honor_dnt: bool | None,
    as_json: bool,
) -> None:
    """Change a tenant's settings (those given; prints them all). Running servers use them
    within seconds; `pegada attribution recompute` regroups the stored visits with them."""
    from pegada.cli import _emit

    if any_origin and allowed_origins:
        raise click.ClickException("--any-origin and --allowed-origin: give one or the other")
    tenant = get_tenant(conn, host_client)
    changed = update_tenant_settings(
        conn,
        tenant,
        timezone=timezone,
        visit_idle_minutes=visit_idle_minutes,
        allowed_origins=[] if any_origin else (list(allowed_origins) or None),
        honor_dnt=honor_dnt,
    )
    data = {"hostClient": tenant.host_client, "name": tenant.name, **changed.as_api()}
    human = "\n".join(
        [
            f"{tenant.host_client}  {tenant.name}",
            f"timezone            {changed.timezone}",
            f"visit idle minutes  {changed.visit_idle_minutes}",
            f"allowed origins     {' '.join(changed.allowed_origins) or '(any)'}",
            f"honor DNT           {'yes' if changed.honor_dnt else 'no'}",
        ]
    )
    _emit(as_json, data, human)
