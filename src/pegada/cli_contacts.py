"""`pegada contact …`: a tenant's merge log, and undoing a merge (identity/merge.py).

Registered on the main command in cli.py. The shared helpers of cli.py (`_with_db`,
`_emit`) are imported when a command runs, not when this module loads, because cli.py
imports this module at its top.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from sqlalchemy import Connection

from pegada.clock import utcnow
from pegada.identity.merge import merge_log, unmerge
from pegada.tenancy import get_tenant

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _with_db(write: bool) -> Callable[[F], F]:
    """cli.py's `_with_db` (the command gets a connection in a transaction), looked up when
    the command runs, since cli.py imports this module (and cli_tenant_settings.py, which
    uses this too) at its top."""

    def decorate(command: F) -> F:
        @wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            from pegada.cli import _with_db as with_db

            return with_db(write)(command)(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


def _emit(as_json: bool, data: Any, human: str) -> None:
    from pegada.cli import _emit as emit

    emit(as_json, data, human)


@click.group()
def contact() -> None:
    """A tenant's contacts: the merge log, and undoing a merge."""


@contact.command("unmerge")
@click.argument("host_client")
@click.argument("merge_id", type=int)
@json_option
@_with_db(write=True)
def contact_unmerge(conn: Connection, host_client: str, merge_id: int, as_json: bool) -> None:
    """Undo merge MERGE_ID: both contacts get back their profiles, sessions, events,
    submissions and keys as they were before it. Later merges of the survivor first."""
    done = unmerge(conn, get_tenant(conn, host_client).id, merge_id, utcnow())
    human = (
        f"merge {done.merge_id} undone: contact {done.merged_id} restored beside "
        f"{done.survivor_id} ({done.sessions} sessions, {done.events} events, "
        f"{done.submissions} submissions, {done.keys} keys moved back)"
    )
    _emit(as_json, done.as_json(), human)


@contact.command("merges")
@click.argument("host_client")
@click.option("--contact", "contact_id", type=int, help="Only merges this contact took part in.")
@json_option
@_with_db(write=False)
def contact_merges(
    conn: Connection, host_client: str, contact_id: int | None, as_json: bool
) -> None:
    """The merge log, oldest first: survivor, merged contact, reason, when, whether undone."""
    log = merge_log(conn, get_tenant(conn, host_client).id, contact_id)
    human = "\n".join(
        f"{m['id']}  {m['merged']} -> {m['survivor']}  {m['mergedAt']}  {m['reason']}"
        + (f"  (undone {m['unmergedAt']})" if m["unmergedAt"] else "")
        for m in log
    )
    _emit(as_json, log, human)
