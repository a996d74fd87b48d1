"""`pegada attribution recompute`: the current channel rules and the tenant's current
settings (idle time, time zone, own sites) applied again over all its stored history.

Every session's page views are classified again and regrouped into visits
(journeys/regroup.py), which rewrites the page views' visit and channel, the visits (and
their `rules_version`), the events' visit and channel and each session's open visit; then
every contact's first and last touch is recomputed. Sessions go in batches, one transaction
each, a contact's sessions always in the same batch, so a contact's touches are refreshed
once, from all its sessions, in the transaction that regrouped them. Running it again with
the same rules and settings changes nothing.

Hits that arrive meanwhile are grouped by the servers with the rules they loaded: restart
them with the new rules first, then recompute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from pegada.attribution.rules import ChannelRules
from pegada.journeys.landing import Scope, own_hosts
from pegada.journeys.regroup import RegroupStats, regroup_sessions
from pegada.journeys.touches import refresh_touches
from pegada.storage import recompute_repo, visits_repo
from pegada.storage.engine import read_transaction
from pegada.storage.transact import transact
from pegada.tenancy import get_tenant, tenant_settings

#: Sessions per transaction (more when one contact has more sessions than this).
BATCH_SESSIONS = 500


@dataclass
class RecomputeSummary:
    host_client: str
    rules_version: int
    sessions: int
    visits_before: int
    visits_after: int
    contacts_refreshed: int
    regrouped: RegroupStats

    def as_json(self) -> dict[str, Any]:
        return {
            "hostClient": self.host_client,
            "rulesVersion": self.rules_version,
            "sessions": self.sessions,
            "visitsBefore": self.visits_before,
            "visitsAfter": self.visits_after,
            "visitsWritten": self.regrouped.visits_written,
            "visitsDeleted": self.regrouped.visits_deleted,
            "pageViewsChanged": self.regrouped.page_views_changed,
            "eventsChanged": self.regrouped.events_changed,
            "contactsRefreshed": self.contacts_refreshed,
        }


def batches(sessions: list[tuple[int, int | None]], size: int = BATCH_SESSIONS) -> list[list[int]]:
    """Session ids in runs of about `size`, never splitting one contact's sessions (given
    as (session id, contact id), a contact's sessions next to each other)."""
    runs: list[list[int]] = []
    ids: list[int] = []
    previous: int | None = None
    for session_id, contact_id in sessions:
        if len(ids) >= size and (contact_id is None or contact_id != previous):
            runs.append(ids)
            ids = []
        ids.append(session_id)
        previous = contact_id
    if ids:
        runs.append(ids)
    return runs


class Recompute:
    """One tenant's recompute: `Recompute(engine, host_client, rules)` reads what there is
    to do (`steps`: sessions plus contacts without any), `run(advance)` does it."""

    def __init__(
        self,
        engine: Engine,
        host_client: str,
        rules: ChannelRules,
        batch_size: int = BATCH_SESSIONS,
    ) -> None:
        self._engine = engine
        self._rules = rules
        with read_transaction(engine) as conn:
            tenant = get_tenant(conn, host_client)
            settings = tenant_settings(conn, tenant)
            self._sessions = recompute_repo.sessions_of_tenant(conn, tenant.id)
            self._lonely = recompute_repo.contacts_without_sessions(conn, tenant.id)
            self._visits_before = recompute_repo.count_visits(conn, tenant.id)
        self._host_client = tenant.host_client
        self._scope = Scope(
            tenant.id,
            rules,
            own_hosts(settings.allowed_origins),
            ZoneInfo(settings.timezone),
            timedelta(minutes=settings.visit_idle_minutes),
        )
        self._batches = batches(self._sessions, batch_size)

    @property
    def steps(self) -> int:
        return len(self._sessions) + len(self._lonely)

    def run(self, advance: Callable[[int], None] = lambda steps: None) -> RecomputeSummary:
        total = RegroupStats()
        refreshed: set[int] = set()
        tenant_id = self._scope.tenant_id
        unknown = self._rules.unknown_channel
        for session_ids in self._batches:

            def work(conn: Connection, ids: list[int] = session_ids) -> tuple[Any, set[int]]:
                stats = regroup_sessions(conn, self._scope, visits_repo.lock_sessions(conn, ids))
                # Owners read under the lock: a session may have been identified meanwhile.
                contacts = set(visits_repo.contacts_of_sessions(conn, ids).values())
                refresh_touches(conn, tenant_id, contacts, unknown=unknown)
                return stats, contacts

            stats, contacts = transact(self._engine, work)
            total.add(stats)
            refreshed |= contacts
            advance(len(session_ids))
        for start in range(0, len(self._lonely), BATCH_SESSIONS):
            chunk = self._lonely[start : start + BATCH_SESSIONS]

            def touches(conn: Connection, ids: list[int] = chunk) -> None:
                refresh_touches(conn, tenant_id, ids, unknown=unknown)

            transact(self._engine, touches)
            refreshed.update(chunk)
            advance(len(chunk))
        with read_transaction(self._engine) as conn:
            visits_after = recompute_repo.count_visits(conn, tenant_id)
        return RecomputeSummary(
            self._host_client,
            self._rules.version,
            len(self._sessions),
            self._visits_before,
            visits_after,
            len(refreshed),
            total,
        )
