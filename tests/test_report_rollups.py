"""The report rollups (report_visits, report_pages, report_gaps) kept off the hit path: after
new hits, late hits, identifies and a recompute, every report equals what a rebuild from
scratch gives, and the rebuild equals the hand-built numbers of test_reports.py. A page
view committed after a later one was already read is not missed (PostgreSQL, where ids are
handed out before commit). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from pegada.storage.engine import read_transaction
from pegada.storage.reports import refresh_state
from pegada.storage.tables import page_views, report_pages, report_visits, sessions, visits
from pegada.tenancy import get_tenant
from pegada.usecases import rollups
from tests.conftest import SEED_HOST_CLIENT, SeedTenant
from tests.test_cli import assert_clean_failures, ok_json
from tests.test_recompute import recompute
from tests.test_reports import (
    ANDROID_PHONE,
    IPHONE,
    S1,
    S2,
    S3,
    S4,
    DataSet,
    build_dataset,
    dados,
    hit,
    identify,
    send_hits,
)

DIMENSIONS = ("channel", "source_medium_campaign", "landing_page", "device", "browser", "os")
METRICS = ("visitors", "visits", "pageviews", "contacts", "conversions")
S5 = "500000000000000000000000000000051567525958427"


@pytest.fixture
def data(
    client: TestClient, engine: Engine, seed_tenant: SeedTenant, other_tenant: SeedTenant
) -> DataSet:
    return build_dataset(client, engine, seed_tenant, other_tenant)


def tenant_id(engine: Engine, host_client: str = SEED_HOST_CLIENT) -> int:
    with read_transaction(engine) as conn:
        return get_tenant(conn, host_client).id


def every_report(client: TestClient, tenant: SeedTenant, window: dict[str, str]) -> Any:
    """Each report over the window, as the API answers it."""
    reports: dict[str, Any] = {
        "overview": dados(client, tenant, "/api/v1/reports/overview", **window),
        "top-pages": dados(client, tenant, "/api/v1/reports/top-pages", **window),
        "completeness": dados(client, tenant, "/api/v1/reports/completeness", **window),
    }
    for by in DIMENSIONS:
        reports[by] = dados(client, tenant, "/api/v1/reports/breakdown", by=by, **window)
    for metric in METRICS:
        reports[metric] = dados(
            client, tenant, "/api/v1/reports/timeseries", metric=metric, **window
        )
    return reports


def rebuilt_reports(
    client: TestClient, engine: Engine, tenant: SeedTenant, window: dict[str, str]
) -> Any:
    """Every report after the tenant's rollups were thrown away and built again."""
    rollups.request_rebuild(engine, tenant_id(engine, tenant.host_client))
    return every_report(client, tenant, window)


def test_new_late_and_identified_sessions_reach_the_reports(
    client: TestClient, engine: Engine, seed_tenant: SeedTenant, data: DataSet
) -> None:
    """Each change read by a refresh of its own (as reports are read between hits), then
    all the reports compared with a rebuild from scratch."""
    clock, window = data.clock, data.window()
    before = every_report(client, seed_tenant, window)  # rollups built and up to date
    google = "https://www.google.com/"
    changes = [
        # S3 comes back today (a new visit) and is identified: a new conversion.
        lambda: send_hits(
            client, S3, [hit(3, "/vestibular", clock.ms(0, 10), google)], ua=ANDROID_PHONE
        ),
        lambda: identify(
            client, seed_tenant, S3, nome="Ana Araújo", emailPrincipal="ana@example.com"
        ),
        # S2's lost #3 arrives late, inside its visit of D-3: no longer missing.
        lambda: send_hits(client, S2, [hit(3, "/bolsas", clock.ms(3, 14, 5))], ua=IPHONE),
        # S1 gets a late hit an hour before its first visit (a visit of its own, earlier).
        lambda: send_hits(
            client, S1, [hit(5, "/?utm_source=bing&utm_medium=cpc", clock.ms(5, 9, 0))]
        ),
        # A new browser, and S4 identified without any new hit.
        lambda: send_hits(client, S5, [hit(1, "/contato", clock.ms(2, 16))], ua=IPHONE),
        lambda: identify(
            client, seed_tenant, S4, nome="Rui Simões", emailPrincipal="rui@example.com"
        ),
    ]
    for change in changes:
        change()
        rollups.refresh(engine, tenant_id(engine))

    after = every_report(client, seed_tenant, window)
    overview = after["overview"]
    assert (overview["visitors"], overview["visits"], overview["pageviews"]) == (5, 10, 15)
    assert (overview["contacts"], overview["conversions"]) == (5, 4)
    assert after["completeness"]["totals"]["missing"] == 0
    pages = {(i["path"], i["pageviews"], i["visitors"]) for i in after["top-pages"]["items"]}
    assert {("/vestibular", 1, 1), ("/bolsas", 1, 1), ("/contato", 2, 2)} <= pages
    assert after != before
    assert rebuilt_reports(client, engine, seed_tenant, window) == after


def test_recompute_rebuilds_the_rollups(
    client: TestClient, engine: Engine, seed_tenant: SeedTenant, data: DataSet, db_url: str
) -> None:
    """A longer idle time joins S4's two direct visits (40 minutes apart) into one."""
    window = data.window()
    assert dados(client, seed_tenant, "/api/v1/reports/overview", **window)["visits"] == 7
    ok_json(db_url, "tenant", "set", SEED_HOST_CLIENT, "--visit-idle-minutes", "60")
    recompute(db_url)
    with read_transaction(engine) as conn:
        state = refresh_state.peek(conn, tenant_id(engine))
    assert state is not None and not state.rebuild  # rebuilt by the command itself
    after = every_report(client, seed_tenant, window)
    assert (after["overview"]["visits"], after["overview"]["visitors"]) == (6, 4)
    assert rebuilt_reports(client, engine, seed_tenant, window) == after


def test_a_rebuild_in_batches_equals_one_in_a_single_batch(
    client: TestClient,
    engine: Engine,
    seed_tenant: SeedTenant,
    data: DataSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = data.window()
    whole = every_report(client, seed_tenant, window)
    monkeypatch.setattr(rollups, "REBUILD_BATCH", {"sqlite": 1, "postgresql": 1})
    assert rebuilt_reports(client, engine, seed_tenant, window) == whole


def test_rollups_of_one_tenant_never_hold_another_ones_rows(
    client: TestClient,
    engine: Engine,
    seed_tenant: SeedTenant,
    other_tenant: SeedTenant,
    data: DataSet,
) -> None:
    every_report(client, seed_tenant, data.window())
    other = tenant_id(engine, other_tenant.host_client)
    with read_transaction(engine) as conn:
        for table in (report_visits, report_pages):
            owners = conn.execute(
                select(table.c.tenant_id, func.count()).group_by(table.c.tenant_id)
            ).all()
            assert {owner for owner, _ in owners} == {tenant_id(engine)}, table.name
    rollups.refresh(engine, other)
    overview = dados(client, other_tenant, "/api/v1/reports/overview", **data.window())
    assert (overview["visits"], overview["pageviews"]) == (1, 2)


# --- a page view committed late (PostgreSQL) ---------------------------------------------------


def _insert_session_with_a_visit(conn: Any, tenant: int, session_hash: str, at: datetime) -> None:
    """One session, one visit of one page view, as the hit path would store them."""
    session_id = conn.execute(
        sessions.insert()
        .values(tenant_id=tenant, session_hash=session_hash, created_at=at)
        .returning(sessions.c.id)
    ).scalar_one()
    url = "https://www.escola.edu.br/tarde"
    visit_id = conn.execute(
        visits.insert()
        .values(
            tenant_id=tenant,
            session_id=session_id,
            started_at=at,
            ended_at=at,
            local_day=at.date(),
            page_count=1,
            landing_url=url,
            landing_host="www.escola.edu.br",
            landing_path="/tarde",
            exit_url=url,
            channel_type="Acesso direto",
            rules_version=1,
        )
        .returning(visits.c.id)
    ).scalar_one()
    conn.execute(
        page_views.insert().values(
            tenant_id=tenant,
            session_id=session_id,
            visit_id=visit_id,
            seq=1,
            occurred_at=at,
            received_at=at,
            url=url,
            host="www.escola.edu.br",
            path="/tarde",
            channel_type="Acesso direto",
        )
    )


def visits_in_rollup(engine: Engine, tenant: int) -> int:
    query = select(func.count()).where(report_visits.c.tenant_id == tenant)
    with read_transaction(engine) as conn:
        return int(conn.execute(query).scalar_one())


# PostgreSQL only: SQLite runs one write transaction at a time, so its ids commit in order.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_page_view_committed_after_a_later_one_is_not_missed(
    engine: Engine, seed_tenant: SeedTenant, db_url: str
) -> None:
    tenant = tenant_id(engine)
    at = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    rollups.refresh(engine, tenant)
    slow = engine.connect()
    slow_transaction = slow.begin()
    _insert_session_with_a_visit(slow, tenant, "slow-session", at)  # the lower id
    with engine.begin() as fast:
        _insert_session_with_a_visit(fast, tenant, "fast-session", at)  # committed first
    rollups.refresh(engine, tenant)  # sees the fast one only
    assert visits_in_rollup(engine, tenant) == 1
    with read_transaction(engine) as conn:
        state = refresh_state.peek(conn, tenant)
    # What it saw is not known to be complete while the slow transaction runs, however
    # often it looks again.
    assert state is not None and len(state.pending) == 1 and state.page_view_id == 0
    rollups.refresh(engine, tenant)
    with read_transaction(engine) as conn:
        state = refresh_state.peek(conn, tenant)
    assert state is not None and state.page_view_id == 0
    slow_transaction.commit()
    slow.close()
    rollups.refresh(engine, tenant)
    assert visits_in_rollup(engine, tenant) == 2
    rollups.refresh(engine, tenant)  # nothing running any more: every mark is reached
    with read_transaction(engine) as conn:
        state = refresh_state.peek(conn, tenant)
    assert state is not None and state.pending == []
    assert state.page_view_id >= 2


# --- built ahead of the first report by an operator ---------------------------------------------


def test_an_operator_builds_the_rollups_before_the_first_report(
    client: TestClient,
    engine: Engine,
    db_url: str,
    seed_tenant: SeedTenant,
    other_tenant: SeedTenant,
    data: DataSet,
) -> None:
    """`pegada reports refresh` (all tenants, or the ones named) leaves every tenant's
    rollups built, so the first report only checks them; a tenant code that does not exist
    is a clean error."""
    assert visits_in_rollup(engine, tenant_id(engine)) == 0  # nothing read yet
    done = ok_json(db_url, "reports", "refresh")
    assert sorted(d["host_client"] for d in done) == sorted(
        [seed_tenant.host_client, other_tenant.host_client]
    )
    with read_transaction(engine) as conn:
        stored = conn.execute(select(func.count()).select_from(visits)).scalar_one()
    built = sum(
        visits_in_rollup(engine, tenant_id(engine, t.host_client))
        for t in (seed_tenant, other_tenant)
    )
    assert built == stored > 0
    assert every_report(client, seed_tenant, data.window()) == rebuilt_reports(
        client, engine, seed_tenant, data.window()
    )
    again = ok_json(db_url, "reports", "refresh", other_tenant.host_client)
    assert [d["host_client"] for d in again] == [other_tenant.host_client]
    assert_clean_failures(
        db_url, [(["reports", "refresh", "NoSuchTenant00000001"], {}, ["NoSuchTenant00000001"])]
    )
