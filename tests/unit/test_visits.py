"""Grouping a session's hits into visits (journeys/visits.py), without a database: idle
time, local midnight, campaign changes, what a visit records, and that the order hits are
grouped in (one batch, or many) never changes the visits. Also the pure helpers the
regrouping of late hits and the recompute rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegada.attribution.rules import default_rules
from pegada.journeys.landing import classify_access, own_hosts, stored_params
from pegada.journeys.recompute import batches
from pegada.journeys.regroup import late_stretch, under_way
from pegada.journeys.visits import CampaignKey, HitFacts, VisitState, assign

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
UTC_ZONE = ZoneInfo("UTC")
IDLE = timedelta(minutes=30)
#: 10:00 in São Paulo (13:00 UTC), far from midnight in both zones.
T0 = datetime(2025, 3, 10, 13, 0, tzinfo=UTC)
DIRECT: CampaignKey = ("Acesso direto", None, None, None)
PAID_A: CampaignKey = ("Mídia paga", "google", "cpc", "vestibular")
PAID_B: CampaignKey = ("Mídia paga", "google", "cpc", "pos-graduacao")
ORGANIC: CampaignKey = ("Busca orgânica", "google", None, None)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def page(
    minutes: float, url: str = "/", *, entry: bool = False, key: CampaignKey = DIRECT
) -> HitFacts:
    return HitFacts(at(minutes), entry, key, url)


def landing(minutes: float, key: CampaignKey, url: str = "/") -> HitFacts:
    return page(minutes, url, entry=True, key=key)


def grouped(
    hits: list[HitFacts], idle: timedelta = IDLE, zone: ZoneInfo = SAO_PAULO
) -> list[list[int]]:
    """The hits' indices per visit."""
    plan = assign(None, hits, idle, zone)
    visits: list[list[int]] = [[] for _ in plan.visits]
    for index, target in enumerate(plan.hit_visit):
        visits[target].append(index)
    return visits


# --- when a new visit starts -------------------------------------------------------------------


def test_a_page_30_minutes_after_the_last_continues_the_visit() -> None:
    assert grouped([page(0), page(30)]) == [[0, 1]]


def test_a_page_31_minutes_after_the_last_starts_a_new_visit() -> None:
    assert grouped([page(0), page(31)]) == [[0], [1]]


def test_idle_time_counts_from_the_last_page_not_the_first() -> None:
    assert grouped([page(0), page(25), page(50), page(75), page(106)]) == [[0, 1, 2, 3], [4]]


def test_idle_time_just_over_the_limit_splits() -> None:
    hits = [page(0), HitFacts(at(30) + timedelta(milliseconds=1), False, DIRECT, "/")]
    assert grouped(hits) == [[0], [1]]


def test_the_tenants_idle_time_is_used() -> None:
    hits = [page(0), page(10), page(21)]
    assert grouped(hits, idle=timedelta(minutes=10)) == [[0, 1], [2]]
    assert grouped(hits) == [[0, 1, 2]]


def test_midnight_in_the_tenants_time_zone_splits() -> None:
    sp_midnight = datetime(2025, 3, 11, 0, 0, tzinfo=SAO_PAULO)  # 03:00 UTC
    hits = [
        HitFacts(sp_midnight - timedelta(minutes=10), False, DIRECT, "/antes"),
        HitFacts(sp_midnight + timedelta(minutes=5), False, DIRECT, "/depois"),
    ]
    assert grouped(hits, zone=SAO_PAULO) == [[0], [1]]
    plan = assign(None, hits, IDLE, SAO_PAULO)
    assert [v.local_day.isoformat() for v in plan.visits] == ["2025-03-10", "2025-03-11"]
    # The same two pages in a UTC tenant are one visit: it is 03:00 there.
    assert grouped(hits, zone=UTC_ZONE) == [[0, 1]]


def test_midnight_utc_does_not_split_a_sao_paulo_visit() -> None:
    utc_midnight = datetime(2025, 3, 11, 0, 0, tzinfo=UTC)  # 21:00 in São Paulo
    hits = [
        HitFacts(utc_midnight - timedelta(minutes=10), False, DIRECT, "/"),
        HitFacts(utc_midnight + timedelta(minutes=5), False, DIRECT, "/"),
    ]
    assert grouped(hits, zone=SAO_PAULO) == [[0, 1]]
    assert grouped(hits, zone=UTC_ZONE) == [[0], [1]]


def test_a_landing_from_another_campaign_splits() -> None:
    assert grouped([landing(0, PAID_A), page(2), landing(5, PAID_B), page(6)]) == [
        [0, 1],
        [2, 3],
    ]


def test_a_landing_from_the_same_campaign_continues() -> None:
    assert grouped([landing(0, PAID_A), page(2), landing(5, PAID_A)]) == [[0, 1, 2]]


def test_another_source_splits_even_with_the_same_channel() -> None:
    other_source: CampaignKey = ("Mídia paga", "facebook", "cpc", "vestibular")
    assert grouped([landing(0, PAID_A), landing(1, other_source)]) == [[0], [1]]


def test_internal_pages_never_split() -> None:
    hits = [landing(0, ORGANIC), page(1, "/cursos"), page(2, "/contato"), page(3, "/")]
    assert grouped(hits) == [[0, 1, 2, 3]]


def test_a_page_without_landing_after_the_idle_time_is_a_direct_visit() -> None:
    plan = assign(None, [landing(0, PAID_A), page(45, "/cursos")], IDLE, SAO_PAULO)
    assert [v.key for v in plan.visits] == [PAID_A, DIRECT]


# --- what a visit records ---------------------------------------------------------------------


def test_landing_exit_pages_and_times() -> None:
    hits = [landing(0, PAID_A, "/lp"), page(3, "/cursos"), page(7, "/inscricao")]
    plan = assign(None, hits, IDLE, SAO_PAULO)
    (visit,) = plan.visits
    assert visit.first_hit == 0
    assert (visit.started_at, visit.ended_at) == (at(0), at(7))
    assert visit.ended_at - visit.started_at == timedelta(minutes=7)
    assert (visit.page_count, visit.exit_url) == (3, "/inscricao")
    assert visit.key == PAID_A
    assert visit.id is None and plan.open_index == 0


def test_the_open_visit_is_extended() -> None:
    stored = VisitState(at(0), at(5), at(0).astimezone(SAO_PAULO).date(), PAID_A, 2, "/b", id=7)
    plan = assign(stored, [page(10, "/c"), page(50, "/d")], IDLE, SAO_PAULO)
    assert plan.visits[0] is stored
    assert (stored.page_count, stored.ended_at, stored.exit_url, stored.changed) == (
        3,
        at(10),
        "/c",
        True,
    )
    assert plan.hit_visit == [0, 1]
    assert plan.visits[1].id is None and plan.open_index == 1


def test_hits_older_than_the_open_visits_last_page_are_refused() -> None:
    """The writer regroups the stretch of history a late hit falls in instead."""
    stored = VisitState(at(0), at(5), at(0).date(), DIRECT, 2, "/", id=1)
    with pytest.raises(ValueError, match="regroup"):
        assign(stored, [page(4)], IDLE, SAO_PAULO)
    with pytest.raises(ValueError, match="regroup"):
        assign(None, [page(5), page(4)], IDLE, SAO_PAULO)


def test_a_late_hit_in_time_order_joins_the_visit_within_the_idle_time() -> None:
    """How the regrouped history of a session with a late hit comes out: the late landing
    becomes the visit's first page; one more than the idle time before is its own visit."""
    assert grouped([landing(0, PAID_A, "/lp"), page(20), page(25)]) == [[0, 1, 2]]
    assert grouped([landing(0, PAID_A, "/lp"), page(40), page(45)]) == [[0], [1, 2]]


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=90), min_size=1, max_size=25),
    kinds=st.lists(st.sampled_from(["page", "a", "b", "organic"]), min_size=25, max_size=25),
    cuts=st.sets(st.integers(min_value=1, max_value=24), max_size=6),
    idle=st.sampled_from([10, 30]),
)
def test_grouping_in_batches_equals_grouping_at_once(
    gaps: list[int], kinds: list[str], cuts: set[int], idle: int
) -> None:
    """Hits written in several batches (each continuing the open visit) make exactly the
    visits of all of them grouped at once — also across local midnights."""
    keys = {"a": PAID_A, "b": PAID_B, "organic": ORGANIC}
    start = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)  # 23:00 in São Paulo
    hits, moment = [], start
    for gap, kind in zip(gaps, kinds, strict=False):
        moment += timedelta(minutes=gap)
        key = keys.get(kind, DIRECT)
        hits.append(HitFacts(moment, kind != "page", key, f"/{len(hits)}"))
    whole = assign(None, hits, timedelta(minutes=idle), SAO_PAULO)

    bounds = [0, *sorted(c for c in cuts if c < len(hits)), len(hits)]
    open_visit: VisitState | None = None
    made: list[VisitState] = []  # every visit, in the order made (the open one grows)
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        if lo == hi:
            continue
        plan = assign(open_visit, hits[lo:hi], timedelta(minutes=idle), SAO_PAULO)
        made += [visit for visit in plan.visits if visit is not open_visit]
        assert plan.open_index is not None
        open_visit = plan.visits[plan.open_index]

    def facts(visits: list[VisitState]) -> list[tuple[object, ...]]:
        return [
            (v.started_at, v.ended_at, v.local_day, v.page_count, v.exit_url, v.key) for v in visits
        ]

    assert facts(made) == facts(whole.visits)


# --- the stretch a late hit can change ----------------------------------------------------------


SPANS = [(at(0), at(10)), (at(60), at(70)), (at(85), at(95)), (at(200), at(210))]


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        # Inside the last visit: only it (the gap before it is long and empty).
        ([at(205)], (3, 4)),
        # Before everything: the first visit, which it may join.
        ([at(-20)], (0, 1)),
        # In the long gap after the first visit: both sides, and what is chained to them.
        ([at(30)], (0, 3)),
        # Inside the second visit: the third is within the idle time after it.
        ([at(65)], (1, 3)),
        # Hits in two places: everything between them.
        ([at(5), at(205)], (0, 4)),
        # Between two visits closer than the idle time (different campaigns).
        ([at(80)], (1, 3)),
    ],
)
def test_late_stretch(times: list[datetime], expected: tuple[int, int]) -> None:
    assert late_stretch(SPANS, times, IDLE) == expected


def test_under_way_is_the_latest_begun_else_the_first() -> None:
    begun = [at(0), at(60), at(120)]
    assert under_way(at(61), begun) == 1
    assert under_way(at(60), begun) == 1
    assert under_way(at(500), begun) == 2
    assert under_way(at(-5), begun) == 0
    assert under_way(at(0), []) is None


# --- classification of stored page views --------------------------------------------------------


def test_stored_parameters_under_the_current_rules() -> None:
    names = frozenset({"utm_source", "utm_medium", "gclid", "newclid"})
    # Stored values win; the URL adds what the rules learned since; unknown names are dropped.
    found = stored_params(
        "https://escola.edu.br/?utm_source=url&newclid=9&foo=1",
        {"utm_source": "stored", "utm_medium": "cpc", "yclid": "old"},
        names,
    )
    assert found == {"utm_source": "stored", "utm_medium": "cpc", "newclid": "9"}
    assert stored_params("https://escola.edu.br/?UTM_SOURCE=x", None, names) == {"utm_source": "x"}
    assert stored_params("not a url", None, names) == {}


def test_an_access_is_a_landing_with_parameters_or_an_outside_referrer() -> None:
    rules = default_rules()
    own = own_hosts(["https://www.escola.edu.br/", "https://inscricao.escola.edu.br"])
    assert own == {"escola.edu.br", "inscricao.escola.edu.br"}

    def entry(params: dict[str, str], referrer: str | None) -> bool:
        return classify_access(rules, params, referrer, "www.escola.edu.br", own).is_entry

    assert entry({"gclid": "x"}, None)
    assert entry({}, "www.google.com")
    assert not entry({}, None)
    assert not entry({}, "www.escola.edu.br")
    assert not entry({}, "inscricao.escola.edu.br")  # the tenant's other site


def test_recompute_batches_keep_a_contacts_sessions_together() -> None:
    sessions = [(1, 10), (2, 10), (3, 10), (4, 11), (5, None), (6, None), (7, None)]
    assert batches(sessions, size=2) == [[1, 2, 3], [4, 5], [6, 7]]
    assert batches(sessions, size=100) == [[1, 2, 3, 4, 5, 6, 7]]
    assert batches([], size=2) == []
