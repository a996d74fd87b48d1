"""`pegada attribution …`: the channel rules applied again over a tenant's stored history.

Registered on the main command in cli.py, which imports this module at its top: the shared
helpers of cli.py are imported when a command runs, not when this module loads.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pegada.attribution.rules import ChannelRules, default_rules
from pegada.errors import PegadaError
from pegada.journeys.recompute import BATCH_SESSIONS, Recompute, RecomputeSummary
from pegada.settings import Settings
from pegada.storage.engine import build_engine, read_transaction
from pegada.storage.migrate import upgrade
from pegada.tenancy import get_tenant
from pegada.usecases import rollups


def load_rules(settings: Settings) -> ChannelRules:
    """The rules the servers use: PEGADA_CHANNEL_RULES, else the built-in file."""
    if not settings.channel_rules:
        return default_rules()
    path = Path(settings.channel_rules)
    try:
        return ChannelRules.load(path)
    except OSError as exc:
        raise click.ClickException(
            f"PEGADA_CHANNEL_RULES: cannot read {path}: {exc.strerror or exc}"
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise click.ClickException(f"PEGADA_CHANNEL_RULES: {path}: {detail}") from exc


@click.group()
def attribution() -> None:
    """Channel attribution of visits (the rules of attribution/channels.json)."""


@attribution.command("recompute")
@click.argument("host_client")
@click.option(
    "--batch-size",
    default=BATCH_SESSIONS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Sessions per transaction.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def recompute(host_client: str, batch_size: int, as_json: bool) -> None:
    """Apply the current channel rules (PEGADA_CHANNEL_RULES, else the built-in ones) and
    the tenant's current settings (visit idle time, time zone, allowed origins) again over
    all its stored history: visits regrouped, page views, visits and events given their
    channel again, every contact's first and last touch recomputed, the report rollups
    rebuilt. Progress on stderr, summary on stdout. Safe to run again; restart the servers
    with new rules first."""
    from pegada.cli import _database_errors, _emit, _settings

    settings = _settings()
    rules = load_rules(settings)
    with _database_errors(settings):
        engine = build_engine(settings)
        try:
            upgrade(engine)
            job = Recompute(engine, host_client, rules, batch_size)
            with read_transaction(engine) as conn:
                tenant_id = get_tenant(conn, host_client).id
            try:
                with click.progressbar(
                    length=job.steps,
                    label=f"Recomputing {host_client} (rules version {rules.version})",
                    file=sys.stderr,
                ) as bar:
                    summary = job.run(bar.update)
            finally:
                # The report rollups summarise the visits just rewritten (even if only some
                # batches were): they are written again, here rather than by the first
                # report read.
                rollups.request_rebuild(engine, tenant_id)
            rollups.refresh(engine, tenant_id)
        except PegadaError as exc:
            raise click.ClickException(exc.message) from exc
        finally:
            engine.dispose()
    _emit(as_json, summary.as_json(), _human(summary))


def _human(summary: RecomputeSummary) -> str:
    stats = summary.regrouped
    return "\n".join(
        [
            f"{summary.host_client}: channel rules version {summary.rules_version}",
            f"sessions            {summary.sessions}",
            f"visits              {summary.visits_before} -> {summary.visits_after}"
            f" ({stats.visits_written} written, {stats.visits_deleted} deleted)",
            f"page views changed  {stats.page_views_changed}",
            f"events changed      {stats.events_changed}",
            f"contacts refreshed  {summary.contacts_refreshed}",
        ]
    )
