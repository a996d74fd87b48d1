"""The two ways a batch of hits is written (ingest/in_order.py with driver statements, and the
exact path of ingest/commit.py) store the same rows, and a batch the quick path cannot take
(a resent hit, a late hit) is written by the exact path, whole and once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import Engine, select

from pegada.attribution.rules import default_rules
from pegada.ingest import commit
from pegada.ingest.payload import CollectBody
from pegada.ingest.pipeline import PageView, RequestContext, process
from pegada.storage.engine import read_transaction, write_transaction
from pegada.storage.tables import page_views, sessions, tenants, visits
from tests.conftest import SeedTenant

SITE = "https://www.escola.edu.br"
PHONE = (
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
START = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
#: Per session: (minutes after START, URL, referrer) of each hit, in the order sent.
JOURNEYS: dict[str, list[tuple[int, str, str]]] = {
    "1" * 45: [
        (0, f"{SITE}/?utm_source=google&utm_medium=cpc&utm_campaign=vestibular", ""),
        (2, f"{SITE}/cursos", f"{SITE}/"),
        (50, f"{SITE}/inscricao", ""),  # idle > 30 min: a second visit
    ],
    "2" * 45: [
        (5, f"{SITE}/", "https://www.google.com/"),
        (6, f"{SITE}/sobre", f"{SITE}/"),
        (7, f"{SITE}/?gclid=abc", "https://www.google.com/"),  # another campaign
    ],
    "3" * 45: [(9, f"{SITE}/" + "p" * 3000, "https://" + "x" * 300 + ".com/")],  # cut to fit
}


def _views(
    tenant_id: int, session: str, hits: list[tuple[int, str, str]], first: int = 1
) -> list[PageView]:
    body = {
        "h": "x",
        "s": session,
        "hits": [
            {
                "q": q,
                "u": url,
                "r": ref,
                "ts": int((START + timedelta(minutes=m)).timestamp() * 1000),
            }
            for q, (m, url, ref) in enumerate(hits, start=first)
        ],
    }
    decoded = msgspec.json.decode(msgspec.json.encode(body), type=CollectBody)
    context = RequestContext(tenant_id, PHONE, "203.0.113.0/24", START + timedelta(hours=1))
    return process(decoded, context, default_rules())[0]


def _tenant_id(engine: Engine, host_client: str) -> int:
    with read_transaction(engine) as conn:
        return int(
            conn.execute(select(tenants.c.id).where(tenants.c.host_client == host_client)).scalar()
        )


def _stored(engine: Engine, tenant_id: int) -> tuple[list[Any], list[Any], list[Any]]:
    """Page views, visits and sessions of the tenant without ids, comparable across tenants."""
    skip = {"id", "tenant_id", "session_id", "visit_id", "open_visit_id", "contact_id"}
    with read_transaction(engine) as conn:
        hashes = dict(
            conn.execute(
                select(sessions.c.id, sessions.c.session_hash).where(
                    sessions.c.tenant_id == tenant_id
                )
            ).all()
        )
        visit_rank = {
            row.id: (hashes[row.session_id], row.started_at)
            for row in conn.execute(select(visits).where(visits.c.tenant_id == tenant_id))
        }

        def plain(row: Any, table: Any) -> dict[str, Any]:
            values = {c: v for c, v in row._mapping.items() if c not in skip}
            if "session_id" in row._mapping:
                values["session"] = hashes[row.session_id]
            if table is page_views:
                values["visit"] = visit_rank[row.visit_id]
            return values

        views = [
            plain(r, page_views)
            for r in conn.execute(select(page_views).where(page_views.c.tenant_id == tenant_id))
        ]
        visit_rows = [
            plain(r, visits)
            for r in conn.execute(select(visits).where(visits.c.tenant_id == tenant_id))
        ]
        session_rows = [
            {"hash": r.session_hash, "has_open_visit": r.open_visit_id is not None}
            for r in conn.execute(select(sessions).where(sessions.c.tenant_id == tenant_id))
        ]
    key = str
    return sorted(views, key=key), sorted(visit_rows, key=key), sorted(session_rows, key=key)


@pytest.fixture(autouse=True)
def quick_outcomes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What the quick path answered for each batch given to `write_batch`."""
    outcomes: list[bool] = []
    quick = commit.write_in_order

    def recording(*args: Any) -> bool:
        outcomes.append(quick(*args))
        return outcomes[-1]

    monkeypatch.setattr(commit, "write_in_order", recording)
    return outcomes


def _write(engine: Engine, views: list[PageView], *, exact: bool) -> None:
    with write_transaction(engine) as conn:
        if exact:
            commit._write_views(conn, views, START)  # the reference
        else:
            commit.write_batch(conn, views, [], START)


def test_quick_and_exact_paths_store_the_same_rows(
    engine: Engine, seed_tenant: SeedTenant, other_tenant: SeedTenant, quick_outcomes: list[bool]
) -> None:
    quick = _tenant_id(engine, seed_tenant.host_client)
    exact = _tenant_id(engine, other_tenant.host_client)
    for split in (1, 2):  # each session's hits over two batches: the open visit continues
        for session, hits in JOURNEYS.items():
            part = hits[:1] if split == 1 else hits[1:]
            if part:
                _write(engine, _views(quick, session, part, split), exact=False)
                _write(engine, _views(exact, session, part, split), exact=True)
    assert quick_outcomes == [True] * 5  # every batch taken by the quick path
    got, want = _stored(engine, quick), _stored(engine, exact)
    assert got == want
    views, visit_rows, _ = got
    assert len(views) == 7
    assert len(visit_rows) == 5  # 2 + 2 + 1
    long_one = next(v for v in views if v["session"] == "3" * 45)
    assert len(long_one["referrer_host"]) == 255  # cut to the column, not refused


@pytest.mark.parametrize("case", ["resent", "late"])
def test_a_batch_the_quick_path_cannot_take_is_written_whole_by_the_exact_path(
    engine: Engine,
    seed_tenant: SeedTenant,
    other_tenant: SeedTenant,
    case: str,
    quick_outcomes: list[bool],
) -> None:
    quick = _tenant_id(engine, seed_tenant.host_client)
    exact = _tenant_id(engine, other_tenant.host_client)
    first, second = "1" * 45, "2" * 45
    for tenant_id, is_exact in ((quick, False), (exact, True)):
        _write(engine, _views(tenant_id, first, JOURNEYS[first][:2]), exact=is_exact)
        if case == "resent":  # hit 2 again, with a new session's hits in the same batch
            again = _views(tenant_id, first, JOURNEYS[first][:2])[1:]
        else:  # hit 3 arrives, then hit 1 of a second visit arrives before it (queued)
            _write(engine, _views(tenant_id, first, JOURNEYS[first]), exact=is_exact)
            again = [_late_copy(_views(tenant_id, first, JOURNEYS[first])[1], seq=9)]
        batch = again + _views(tenant_id, second, JOURNEYS[second])
        _write(engine, batch, exact=is_exact)
    assert quick_outcomes[-1] is False  # handed to the exact path
    got, want = _stored(engine, quick), _stored(engine, exact)
    assert got == want
    seqs = sorted((v["session"][0], v["seq"]) for v in got[0])
    expected_first = (
        [("1", 1), ("1", 2)] if case == "resent" else [("1", 1), ("1", 2), ("1", 3), ("1", 9)]
    )
    assert seqs == expected_first + [("2", 1), ("2", 2), ("2", 3)]


def _late_copy(view: PageView, seq: int) -> PageView:
    """The view as another, older hit (a queued one) with its own sequence number."""
    view.seq = seq
    view.row = dict(view.row, seq=seq, occurred_at=view.row["occurred_at"] + timedelta(seconds=30))
    return view
