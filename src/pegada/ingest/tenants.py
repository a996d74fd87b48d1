"""A per-process cache of what the hit path needs to know about a tenant.

Every hit names its tenant by hostClient; reading the tenants table for each would cost
more than the rest of the pipeline. Entries (unknown codes included) live for a short TTL,
so a new tenant or a changed setting is picked up within seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine

from pegada.ingest.urls import site_host
from pegada.storage import tenancy_repo
from pegada.storage.engine import read_transaction


@dataclass(frozen=True, slots=True)
class TrackedTenant:
    id: int
    host_client: str
    timezone: str
    honor_dnt: bool
    allowed_origins: frozenset[str]
    visit_idle_minutes: int = 30
    #: Hosts of the allowed origins, without "www.": the tenant's own sites.
    own_hosts: frozenset[str] = frozenset()

    def allows_origin(self, origin: str | None) -> bool:
        """Any origin until the tenant lists some; then only those (and no Origin header
        is refused too, since browsers always send one on these requests)."""
        if not self.allowed_origins:
            return True
        return origin is not None and origin.rstrip("/").lower() in self.allowed_origins


class TenantDirectory:
    def __init__(self, engine: Engine, ttl_seconds: float = 15.0) -> None:
        self._engine = engine
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[float, TrackedTenant | None]] = {}

    def cached(self, host_client: str) -> tuple[bool, TrackedTenant | None]:
        """(hit, tenant) without touching the database."""
        entry = self._entries.get(host_client)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def get(self, host_client: str) -> TrackedTenant | None:
        """Cached, else read from the database (blocking)."""
        hit, tenant = self.cached(host_client)
        return tenant if hit else self.load(host_client)

    def load(self, host_client: str) -> TrackedTenant | None:
        """Read from the database (blocking; call from a worker thread) and cache."""
        tenant = None
        if len(host_client) == 20 and host_client.isalnum():
            with read_transaction(self._engine) as conn:
                row = tenancy_repo.tenant_by_host_client(conn, host_client)
            if row is not None:
                origins = frozenset(o.rstrip("/").lower() for o in row.allowed_origins)
                tenant = TrackedTenant(
                    row.id,
                    row.host_client,
                    row.timezone,
                    bool(row.honor_dnt),
                    origins,
                    int(row.visit_idle_minutes),
                    frozenset(filter(None, (site_host(o) for o in origins))),
                )
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[host_client] = (time.monotonic() + self._ttl, tenant)
        return tenant

    def forget(self) -> None:
        self._entries.clear()
