"""Visits as a school sees them (SPEC §6, issue 4): a session's page accesses grouped by the
usual web-analytics rule — 30 minutes idle (a tenant setting), midnight in the tenant's time
zone, a landing from another campaign — each with its landing and exit page, page count,
duration, referrer, UTM and click ids, device and channel type. Queued hits that arrive late
and resent hits never change what the visits are: the visits of a session are the same
whatever order its hits came in. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Row, select
from starlette.testclient import TestClient

from pegada.attribution.rules import default_rules
from pegada.journeys.recompute import Recompute
from pegada.storage.tables import events, page_views, sessions, visits
from tests.conftest import SEED_HOST_CLIENT, SEED_ORIGEM, SEED_TOKEN, SeedTenant
from tests.test_collector import (
    IPHONE,
    OTHER_SESSION,
    SESSION,
    SITE,
    hit,
    now_ms,
    send,
    set_tenant,
)

MINUTE = 60_000
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
PAID = f"{SITE}/?utm_source=google&utm_medium=cpc&utm_campaign=vestibular"
PAID_LP = {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "vestibular"}


def moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def visits_of(engine: Engine, session: str = SESSION) -> list[Row[Any]]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(visits)
                .join(sessions, sessions.c.id == visits.c.session_id)
                .where(sessions.c.session_hash == session)
                .order_by(visits.c.started_at)
            )
        )


def views_of(engine: Engine, session: str = SESSION) -> list[Row[Any]]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(page_views)
                .join(sessions, sessions.c.id == page_views.c.session_id)
                .where(sessions.c.session_hash == session)
                .order_by(page_views.c.occurred_at, page_views.c.seq)
            )
        )


def open_visit(engine: Engine, session: str = SESSION) -> int | None:
    with engine.connect() as conn:
        found = conn.execute(
            select(sessions.c.open_visit_id).where(sessions.c.session_hash == session)
        ).scalar()
    return None if found is None else int(found)


def shape(engine: Engine, session: str = SESSION) -> list[tuple[Any, ...]]:
    """What a session's visits are, without their ids."""
    return [
        (
            v.started_at,
            v.ended_at,
            v.page_count,
            v.landing_url,
            v.exit_url,
            v.channel_type,
            v.source,
            v.medium,
            v.campaign,
        )
        for v in visits_of(engine, session)
    ]


def page_counts(engine: Engine, session: str = SESSION) -> list[int]:
    return [v.page_count for v in visits_of(engine, session)]


def assert_consistent(engine: Engine, session: str = SESSION) -> None:
    """Every page view points at a visit of its session that spans it, page counts add
    up, and the open visit is the latest one."""
    found = visits_of(engine, session)
    by_id = {v.id: v for v in found}
    views = views_of(engine, session)
    for view in views:
        visit = by_id[view.visit_id]
        assert visit.started_at <= view.occurred_at <= visit.ended_at
    assert sum(v.page_count for v in found) == len(views)
    assert open_visit(engine, session) == (found[-1].id if found else None)


def recompute_changes(engine: Engine) -> dict[str, Any]:
    """What a recompute with the same rules would change (nothing, when visits are right)."""
    summary = Recompute(engine, SEED_HOST_CLIENT, default_rules()).run().as_json()
    return {k: summary[k] for k in ("visitsWritten", "visitsDeleted", "pageViewsChanged")}


NOTHING = {"visitsWritten": 0, "visitsDeleted": 0, "pageViewsChanged": 0}


# --- when a new visit starts -----------------------------------------------------------------


def test_30_minutes_idle_continues_the_visit_31_starts_another(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 120 * MINUTE
    send(client, [hit(1, f"{SITE}/", ts=t0)])
    send(client, [hit(2, f"{SITE}/cursos", ts=t0 + 30 * MINUTE)])
    send(client, [hit(3, f"{SITE}/contato", ts=t0 + 61 * MINUTE)])
    assert page_counts(engine) == [2, 1]
    first, second = visits_of(engine)
    assert first.ended_at == moment(t0 + 30 * MINUTE)
    assert second.started_at == moment(t0 + 61 * MINUTE)
    assert_consistent(engine)


def test_the_tenants_idle_time_setting(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    set_tenant(client, engine, visit_idle_minutes=10)
    t0 = now_ms() - 60 * MINUTE
    send(client, [hit(1, ts=t0), hit(2, f"{SITE}/a", ts=t0 + 10 * MINUTE)])
    send(client, [hit(3, f"{SITE}/b", ts=t0 + 21 * MINUTE)])
    assert page_counts(engine) == [2, 1]


def latest_midnight(zone: ZoneInfo) -> datetime:
    """The most recent midnight in `zone` at least 10 minutes ago."""
    now = datetime.now(zone)
    midnight = datetime.combine(now.date(), time(0), tzinfo=zone)
    if now - midnight < timedelta(minutes=10):
        midnight -= timedelta(days=1)
    return midnight


def test_midnight_in_the_tenants_time_zone_splits_a_visit(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    midnight = int(latest_midnight(SAO_PAULO).timestamp() * 1000)
    send(client, [hit(1, f"{SITE}/antes", ts=midnight - 10 * MINUTE)])
    send(client, [hit(2, f"{SITE}/depois", ts=midnight + 5 * MINUTE)])
    before, after = visits_of(engine)
    assert (before.exit_url, after.landing_url) == (f"{SITE}/antes", f"{SITE}/depois")
    assert after.local_day - before.local_day == timedelta(days=1)
    assert after.local_day == latest_midnight(SAO_PAULO).date()
    # Midnight UTC (21:00 in São Paulo) is nothing special for this tenant.
    utc_midnight = int(latest_midnight(ZoneInfo("UTC")).timestamp() * 1000)
    send(client, [hit(1, ts=utc_midnight - 10 * MINUTE)], session=OTHER_SESSION)
    send(client, [hit(2, ts=utc_midnight + 5 * MINUTE)], session=OTHER_SESSION)
    assert page_counts(engine, OTHER_SESSION) == [2]


def test_landing_again_from_another_campaign_splits_internal_pages_do_not(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 30 * MINUTE
    second = f"{SITE}/?utm_source=google&utm_medium=cpc&utm_campaign=pos-graduacao"
    steps = [
        hit(1, PAID, ts=t0, r="https://www.google.com/", lp=PAID_LP),
        hit(2, f"{SITE}/cursos", ts=t0 + MINUTE, r=PAID),
        hit(3, f"{SITE}/cursos/direito", ts=t0 + 2 * MINUTE, r=f"{SITE}/cursos"),
        # The same ad again: the same visit.
        hit(4, PAID, ts=t0 + 3 * MINUTE, r="https://www.google.com/", lp=PAID_LP),
        # Another campaign, five minutes later: a new visit.
        hit(5, second, ts=t0 + 8 * MINUTE, r="https://www.google.com/"),
        hit(6, f"{SITE}/inscricao", ts=t0 + 9 * MINUTE, r=second),
    ]
    for step in steps:
        assert send(client, [step]).status_code == 204
    first, other = visits_of(engine)
    assert (first.campaign, first.page_count) == ("vestibular", 4)
    assert (other.campaign, other.page_count, other.landing_url) == ("pos-graduacao", 2, second)
    assert {first.channel_type, other.channel_type} == {"Mídia paga"}
    assert_consistent(engine)


def test_a_visit_records_its_landing_exit_pages_duration_source_and_device(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 20 * MINUTE
    landing = f"{SITE}/cursos?utm_source=google&utm_medium=cpc&utm_campaign=vest25&gclid=X1"
    lp = {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "vest25", "gclid": "X1"}
    send(
        client,
        [
            hit(1, landing, ts=t0, r="https://www.google.com.br/", lp=lp),
            hit(2, f"{SITE}/cursos/direito", ts=t0 + 2 * MINUTE, r=landing),
        ],
        ua=IPHONE,
    )
    send(client, [hit(3, f"{SITE}/inscricao", ts=t0 + 5 * MINUTE)], ua=IPHONE)
    (visit,) = visits_of(engine)
    assert (visit.landing_url, visit.landing_host, visit.landing_path) == (
        landing,
        "www.escola.edu.br",
        "/cursos",
    )
    assert (visit.exit_url, visit.page_count) == (f"{SITE}/inscricao", 3)
    assert (visit.started_at, visit.ended_at) == (moment(t0), moment(t0 + 5 * MINUTE))
    assert visit.ended_at - visit.started_at == timedelta(minutes=5)
    assert (visit.referrer, visit.referrer_host) == (
        "https://www.google.com.br/",
        "www.google.com.br",
    )
    assert visit.utm == lp  # UTM and the click id
    assert (visit.channel_type, visit.source, visit.medium, visit.campaign) == (
        "Mídia paga",
        "google",
        "cpc",
        "vest25",
    )
    assert (visit.device_type, visit.os, visit.browser) == ("phone", "iOS", "Mobile Safari")
    assert visit.local_day == moment(t0).astimezone(SAO_PAULO).date()
    assert visit.rules_version == default_rules().version
    assert_consistent(engine)


def test_any_paid_click_id_without_utm_is_display(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    for index, click_id in enumerate(["gclid", "fbclid", "msclkid", "ttclid"]):
        session = f"{index + 1}" * 45
        url = f"{SITE}/?{click_id}=abc123"
        send(client, [hit(1, url, lp={click_id: "abc123"})], session=session)
        # Even through a search engine or a social network.
        send(client, [hit(1, url, r="https://www.google.com/")], session=session[:-1] + "0")
        for one in (session, session[:-1] + "0"):
            (visit,) = visits_of(engine, one)
            assert visit.channel_type == "Display", (click_id, one)
            assert visit.utm == {click_id: "abc123"}


# --- late and resent hits ----------------------------------------------------------------------


def test_a_late_landing_becomes_the_first_page_of_its_visit(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """The ad landing was queued; the next page got through first."""
    t0 = now_ms() - 20 * MINUTE
    send(client, [hit(2, f"{SITE}/cursos", ts=t0 + 2 * MINUTE, r=PAID)])
    (before,) = visits_of(engine)
    assert (before.landing_url, before.channel_type) == (f"{SITE}/cursos", "Acesso direto")
    send(client, [hit(1, PAID, ts=t0, r="https://www.google.com/", lp=PAID_LP)])
    (visit,) = visits_of(engine)
    assert visit.id == before.id
    assert (visit.landing_url, visit.referrer, visit.utm) == (
        PAID,
        "https://www.google.com/",
        PAID_LP,
    )
    assert (visit.channel_type, visit.campaign, visit.page_count) == ("Mídia paga", "vestibular", 2)
    assert (visit.started_at, visit.ended_at) == (moment(t0), moment(t0 + 2 * MINUTE))
    assert [v.channel_type for v in views_of(engine)] == ["Mídia paga", "Mídia paga"]
    assert_consistent(engine)


def test_a_late_hit_within_the_idle_time_joins_the_open_visit(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 30 * MINUTE
    send(
        client, [hit(2, f"{SITE}/a", ts=t0 + 20 * MINUTE), hit(3, f"{SITE}/b", ts=t0 + 22 * MINUTE)]
    )
    send(client, [hit(1, f"{SITE}/", ts=t0)])
    (visit,) = visits_of(engine)
    assert (visit.page_count, visit.started_at, visit.landing_url) == (3, moment(t0), f"{SITE}/")
    assert visit.exit_url == f"{SITE}/b"
    assert_consistent(engine)


def test_a_late_hit_beyond_the_idle_time_is_a_visit_of_its_own(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 30 * MINUTE
    send(client, [hit(2, f"{SITE}/a", ts=t0), hit(3, f"{SITE}/b", ts=t0 + MINUTE)])
    (current,) = visits_of(engine)
    send(client, [hit(1, f"{SITE}/", ts=t0 - 45 * MINUTE)])
    early, later = visits_of(engine)
    assert (early.page_count, early.started_at) == (1, moment(t0 - 45 * MINUTE))
    assert later.page_count == 2
    # The open visit is still the latest one, and goes on.
    assert open_visit(engine) == later.id == current.id
    send(client, [hit(4, f"{SITE}/c", ts=t0 + 3 * MINUTE)])
    assert page_counts(engine) == [1, 3]
    assert_consistent(engine)


def test_late_hits_of_separate_requests_join_each_other(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 10 * MINUTE
    send(client, [hit(3, f"{SITE}/c", ts=t0)])
    send(client, [hit(1, f"{SITE}/a", ts=t0 - 60 * MINUTE)])
    send(client, [hit(2, f"{SITE}/b", ts=t0 - 55 * MINUTE)])
    assert page_counts(engine) == [2, 1]
    assert [v.landing_url for v in visits_of(engine)] == [f"{SITE}/a", f"{SITE}/c"]
    assert_consistent(engine)


def test_a_late_hit_in_the_gap_between_two_visits_joins_them(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 90 * MINUTE
    send(client, [hit(1, ts=t0), hit(2, f"{SITE}/a", ts=t0 + 5 * MINUTE)])
    send(client, [hit(4, f"{SITE}/c", ts=t0 + 40 * MINUTE), hit(5, ts=t0 + 45 * MINUTE)])
    first, second = visits_of(engine)
    send(client, [hit(3, f"{SITE}/b", ts=t0 + 22 * MINUTE)])
    (merged,) = visits_of(engine)
    assert merged.page_count == 5
    assert (merged.started_at, merged.ended_at) == (moment(t0), moment(t0 + 45 * MINUTE))
    assert merged.id == first.id  # kept; the other one is gone
    assert open_visit(engine) == first.id != second.id
    assert_consistent(engine)


def test_a_late_landing_from_another_campaign_inside_a_visit_splits_it(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 30 * MINUTE
    email = f"{SITE}/?utm_source=newsletter&utm_medium=email"
    send(
        client,
        [
            hit(1, PAID, ts=t0, lp=PAID_LP),
            hit(2, f"{SITE}/a", ts=t0 + 10 * MINUTE),
            hit(4, f"{SITE}/c", ts=t0 + 20 * MINUTE),
        ],
    )
    send(client, [hit(3, email, ts=t0 + 15 * MINUTE)])
    paid, mail = visits_of(engine)
    assert (paid.channel_type, paid.page_count, paid.exit_url) == ("Mídia paga", 2, f"{SITE}/a")
    assert (mail.channel_type, mail.page_count, mail.landing_url) == ("Email", 2, email)
    assert [v.channel_type for v in views_of(engine)] == [
        "Mídia paga",
        "Mídia paga",
        "Email",
        "Email",
    ]
    assert_consistent(engine)


def test_a_resent_hit_is_not_counted_twice(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 10 * MINUTE
    first, second = hit(1, PAID, ts=t0, lp=PAID_LP), hit(2, f"{SITE}/a", ts=t0 + MINUTE)
    send(client, [first, second])
    send(client, [second])  # the tracker did not see the reply
    send(client, [first, first, second])  # a queue flushed twice over
    assert page_counts(engine) == [2]
    assert len(views_of(engine)) == 2
    assert_consistent(engine)


def test_the_order_hits_arrive_in_does_not_change_the_visits(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 300 * MINUTE
    email = f"{SITE}/?utm_source=newsletter&utm_medium=email"
    timeline = [
        (0, PAID, "https://www.google.com/"),
        (2, f"{SITE}/a", PAID),
        (20, f"{SITE}/b", f"{SITE}/a"),
        (45, f"{SITE}/b", f"{SITE}/a"),  # 25 minutes: same visit
        (80, f"{SITE}/c", ""),  # 35 minutes: a new, direct visit
        (82, email, ""),  # another campaign
        (83, f"{SITE}/d", email),
        (150, f"{SITE}/", "https://www.bing.com/"),
        (151, f"{SITE}/e", f"{SITE}/"),
        (152, f"{SITE}/f", f"{SITE}/e"),
    ]
    hits = [
        hit(seq + 1, url, ts=t0 + minute * MINUTE, r=referrer)
        for seq, (minute, url, referrer) in enumerate(timeline)
    ]
    send(client, hits)
    for seed in range(3):
        session = f"{seed + 5}" * 45
        shuffled = hits[:]
        random.Random(seed).shuffle(shuffled)
        while shuffled:
            size = random.Random(seed + len(shuffled)).randint(1, 3)
            send(client, shuffled[:size], session=session)
            shuffled = shuffled[size:]
        assert shape(engine, session) == shape(engine), seed
        assert_consistent(engine, session)
    assert page_counts(engine) == [4, 1, 2, 3]
    assert [v.channel_type for v in visits_of(engine)] == [
        "Mídia paga",
        "Acesso direto",
        "Email",
        "Busca orgânica",
    ]
    assert recompute_changes(engine) == NOTHING


# --- events credited to visits -----------------------------------------------------------------


def send_v2_event(client: TestClient, session: str, **event: Any) -> None:
    body = {
        "hostClient": SEED_HOST_CLIENT,
        "session_id": session,
        "event": {"tipo": 29, "origem": SEED_ORIGEM, "token": SEED_TOKEN, **event},
    }
    reply = client.patch("/api/v2/sendEvent", json=body)
    assert reply.status_code == 200, reply.text


def event_rows(engine: Engine) -> list[Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(select(events).order_by(events.c.id)))


def test_an_event_that_beat_the_first_page_hit_is_credited_to_its_visit(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """A page's event can reach the database before the hit of the page that sent it."""
    send_v2_event(client, SESSION)
    (event,) = event_rows(engine)
    assert (event.visit_id, event.channel_type) == (None, None)
    send(client, [hit(1, PAID, ts=now_ms() - 2000, lp=PAID_LP)])
    (visit,) = visits_of(engine)
    (event,) = event_rows(engine)
    assert (event.visit_id, event.channel_type) == (visit.id, "Mídia paga")


def test_events_follow_their_pages_when_a_late_hit_regroups_the_visits(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    t0 = now_ms() - 20 * MINUTE
    send(client, [hit(2, f"{SITE}/cursos", ts=t0 + MINUTE)])
    send_v2_event(client, SESSION)
    (event,) = event_rows(engine)
    assert event.channel_type == "Acesso direto"
    send(client, [hit(1, PAID, ts=t0, lp=PAID_LP)])  # the queued landing
    (visit,) = visits_of(engine)
    (event,) = event_rows(engine)
    assert (event.visit_id, event.channel_type) == (visit.id, "Mídia paga")
