"""Hits are committed to the spool before their reply and projected into the database
afterwards (storage/spool.py, ingest/projector.py). What a school relies on: an acknowledged
hit survives a crash before projection; each is stored exactly once, whatever stops in
between and however many projectors run; a request that cannot be projected is kept, not
lost; and an API call always sees the hits acknowledged before it. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from pegada.attribution.rules import default_rules
from pegada.ids import new_tracking_id
from pegada.ingest import projector as projector_module
from pegada.ingest.projector import Projector
from pegada.ingest.tenants import TenantDirectory
from pegada.settings import Settings
from pegada.storage.engine import build_engine, read_transaction
from pegada.storage.spool import Spool
from pegada.storage.tables import ingest_drops, page_views, unprojected_requests
from tests.conftest import SEED_HOST_CLIENT, SeedTenant
from tests.servers import PEGADA, pegada_env, running_server

SITE = "https://www.escola.edu.br"
SESSION = "663303050524637653063286663526141567525958427"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36"
)


def body(q: int, session: str = SESSION, page: str = "/") -> bytes:
    hits = [{"q": q, "u": f"{SITE}{page}", "ts": 0, "t": f"Página {q}"}]
    return json.dumps({"h": SEED_HOST_CLIENT, "s": session, "hits": hits}).encode()


def record(raw: bytes) -> tuple[int, str, str, str, None, int, bytes]:
    return (1_700_000_000_000_000, SEED_HOST_CLIENT, CHROME, "203.0.113.0/24", None, 0, raw)


def count(engine: Engine, table: Any) -> int:
    with read_transaction(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def projector(engine: Engine, spool: Spool, batch: int = 500) -> Projector:
    return Projector(engine, spool, TenantDirectory(engine), default_rules(), batch=batch)


def post(url: str, raw: bytes) -> int:
    headers = {"content-type": "text/plain", "user-agent": CHROME}
    return httpx.post(f"{url}/api/collect", content=raw, headers=headers).status_code


def settings_of(db_url: str, spool: Path) -> Settings:
    return Settings(database_url=db_url, spool_path=str(spool))


@pytest.mark.slow
def test_an_acknowledged_hit_survives_a_crash_before_it_was_projected(
    db_url: str, engine: Engine, seed_tenant: SeedTenant, tmp_path: Path
) -> None:
    """No projector runs; the server is killed outright right after its replies. The hits
    wait in the spool, and are in the database once a projector has run."""
    logs = tmp_path / "logs"
    with running_server(db_url, logs, serve_args=("--no-projector",)) as server:
        assert [post(server.url, body(q)) for q in (1, 2, 3)] == [204, 204, 204]
        server.kill_hard()
    assert count(engine, page_views) == 0
    done = subprocess.run(
        [PEGADA, "project", "--once"],
        env=pegada_env(db_url, PEGADA_SPOOL_PATH=str(logs / "spool.db")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert count(engine, page_views) == 3


@pytest.mark.slow
def test_a_stopped_server_leaves_every_acknowledged_hit_in_the_database(
    db_url: str, engine: Engine, seed_tenant: SeedTenant, tmp_path: Path
) -> None:
    with running_server(db_url, tmp_path / "logs") as server:
        assert {post(server.url, body(q)) for q in range(1, 41)} == {204}
    assert count(engine, page_views) == 40


def test_a_request_is_projected_once_when_the_projector_stops_before_tidying_the_spool(
    db_url: str, engine: Engine, seed_tenant: SeedTenant, tmp_path: Path
) -> None:
    """The mark moves with the rows; deleting projected requests from the spool comes
    after. A stop in between must not project them again."""
    path = tmp_path / "spool.db"
    writer = Spool(path)
    writer.append([record(body(q)) for q in range(1, 6)])
    first = projector(engine, Spool(path, durable=False))

    def stop_before_tidying(_last: int) -> None:
        raise KeyboardInterrupt

    first._spool.forget_through = stop_before_tidying  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        first.catch_up()
    assert count(engine, page_views) == 5
    assert writer.pending_after(0) == 5  # still spooled

    writer.append([record(body(6))])
    projector(engine, Spool(path, durable=False)).catch_up()
    assert count(engine, page_views) == 6
    assert writer.pending_after(0) == 0


def test_request_ids_run_on_across_batches_and_are_never_handed_out_again(
    tmp_path: Path,
) -> None:
    """A group commit is one row, but every request keeps an id of its own: consecutive
    in commit order, readable from the middle of a batch, and not reused once the
    projector has deleted everything (the mark in the database would skip them)."""
    spool = Spool(tmp_path / "spool.db")
    spool.append([record(body(q)) for q in (1, 2, 3)])
    spool.append([record(body(4))])
    assert [r.id for r in spool.read_after(0, 10)] == [1, 2, 3, 4]
    middle = spool.read_after(1, 2)
    assert [(r.id, r.body) for r in middle] == [(2, body(2)), (3, body(3))]
    assert spool.pending_after(2) == 2
    spool.forget_through(2)  # the first batch is not projected whole: kept
    assert [r.id for r in spool.read_after(2, 10)] == [3, 4]
    spool.forget_through(4)
    assert spool.pending_after(0) == 0
    spool.append([record(body(5))])
    assert [r.id for r in spool.read_after(0, 10)] == [5]
    assert spool.newest_id() == 5


def test_a_spool_with_a_row_per_request_is_taken_over_with_its_ids(tmp_path: Path) -> None:
    """Spool files from before a group commit became one row: what they still hold is
    projected under the same ids, and new requests come after the highest id used."""
    path = tmp_path / "spool.db"
    with closing(sqlite3.connect(path)) as old, old:
        old.execute(
            "CREATE TABLE spooled_requests (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " received_us INTEGER NOT NULL, host_client TEXT NOT NULL, user_agent TEXT,"
            " network TEXT, refusal TEXT, refused_hits INTEGER NOT NULL DEFAULT 0, body BLOB)"
        )
        old.execute("CREATE TABLE spool_identity (spool_id TEXT NOT NULL)")
        old.execute("INSERT INTO spool_identity VALUES ('old-spool')")
        old.executemany(
            "INSERT INTO spooled_requests (received_us, host_client, user_agent, network,"
            " refusal, refused_hits, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [record(body(q)) for q in (1, 2, 3)],
        )
        old.execute("DELETE FROM spooled_requests WHERE id = 1")  # already projected
    spool = Spool(path)
    assert spool.spool_id == "old-spool"
    assert [(r.id, r.body) for r in spool.read_after(1, 10)] == [(2, body(2)), (3, body(3))]
    spool.append([record(body(4))])
    assert [r.id for r in spool.read_after(1, 10)] == [2, 3, 4]


def test_two_projectors_of_one_spool_take_turns(
    db_url: str, engine: Engine, seed_tenant: SeedTenant, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    writer = Spool(path)
    sessions = [f"{n:045d}" for n in range(1, 21)]
    writer.append([record(body(q, session)) for q in range(1, 11) for session in sessions])
    workers = [projector(engine, Spool(path, durable=False), batch=7) for _ in range(2)]
    errors: list[BaseException] = []

    def drain(worker: Projector) -> None:
        try:
            while worker.project_next():
                pass
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert count(engine, page_views) == 200
    assert count(engine, unprojected_requests) == 0
    with read_transaction(engine) as conn:
        keys = conn.execute(select(page_views.c.session_id, page_views.c.seq)).all()
    assert len(set(keys)) == 200


def test_a_request_that_cannot_be_projected_is_kept_and_the_rest_goes_on(
    db_url: str, engine: Engine, seed_tenant: SeedTenant, tmp_path: Path
) -> None:
    path = tmp_path / "spool.db"
    writer = Spool(path)
    broken = body(2).replace(b'"hits"', b'"hats"')  # cannot happen through the API
    writer.append([record(body(1)), record(broken), record(body(3))])
    projector(engine, Spool(path, durable=False)).catch_up()
    assert count(engine, page_views) == 2
    with read_transaction(engine) as conn:
        kept = conn.execute(select(unprojected_requests)).one()
    assert kept.body == broken
    assert kept.host_client == SEED_HOST_CLIENT
    assert kept.tenant_id is not None
    assert "hits" in kept.error
    assert writer.pending_after(0) == 0  # nothing waits behind it


def test_an_api_call_sees_the_hits_acknowledged_before_it_without_a_projector(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """The in-process app has no projector process: the identify and the CRM read project
    what they need themselves."""
    for q in (1, 2):
        reply = client.post(
            "/api/collect",
            content=body(q, page=f"/pagina-{q}"),
            headers={"content-type": "text/plain", "user-agent": CHROME},
        )
        assert reply.status_code == 204
    assert count(engine, page_views) == 0
    identified = client.patch(
        "/api/identify",
        json={
            **seed_tenant.creds(),
            "hostClient": SEED_HOST_CLIENT,
            "session_id": SESSION,
            "substitute_id": new_tracking_id(),
            "nome": "Ana",
            "emailPrincipal": "ana@example.com",
        },
    )
    assert identified.status_code == 200, identified.text
    contact_id = identified.json()["dados"]["id"]
    details = client.post(
        "/api/Contato/dadosPessoa", json={**seed_tenant.creds(), "id": contact_id}
    )
    pages = [a["url"] for a in details.json()["dados"]["acessos"]]
    assert pages == [f"{SITE}/pagina-1", f"{SITE}/pagina-2"]


def test_a_refused_request_is_spooled_as_a_count_only(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine, settings: Settings
) -> None:
    """A visitor who asked not to be tracked leaves no URL, title or user agent on disk,
    not even in the spool; the refusal is counted."""
    reply = client.post(
        "/api/collect",
        content=body(1, page="/segredo"),
        headers={"content-type": "text/plain", "user-agent": CHROME, "DNT": "1"},
    )
    assert reply.status_code == 204
    spooled = Spool(settings.spool_file()).read_after(0, 10)
    assert [(r.refusal, r.refused_hits, r.body, r.user_agent) for r in spooled] == [
        ("do_not_track", 1, None, None)
    ]
    client.app.state.projector.catch_up()  # type: ignore[attr-defined]
    with read_transaction(engine) as conn:
        counted = conn.execute(select(ingest_drops.c.reason, ingest_drops.c.count)).all()
    assert [tuple(row) for row in counted] == [("do_not_track", 1)]
    assert count(engine, page_views) == 0


class _RecordedWaits(threading.Event):
    """A stop event that is never set and notes each pause the projector asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.pauses: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout or 0.0)
        return False


def test_under_a_burst_the_projector_steps_aside_until_the_backlog_is_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the backlog grows the projector pauses after each batch (3x what the batch
    spent not running), so the workers answering browsers get the machine; once the backlog
    is large it runs flat out, so a load that never lets up cannot grow the spool forever."""
    monkeypatch.setattr(projector_module, "STEP_ASIDE_UP_TO", 10)
    engine = build_engine(Settings(database_url=f"sqlite:///{tmp_path / 'pegada.db'}"))
    path = tmp_path / "spool.db"
    writer = Spool(path)
    reader = Spool(path, durable=False)
    worker = projector(engine, reader, batch=2)
    stop = _RecordedWaits()
    # A batch that took half a second of wall time and none of this thread's CPU.
    began = time.perf_counter()
    slow_batch = (began - 0.5, time.thread_time())

    writer.append([record(body(q)) for q in range(1, 5)])
    assert worker._step_aside(stop, slow_batch, None) == 4  # the first batch: no trend yet
    writer.append([record(body(q)) for q in range(5, 7)])
    assert worker._step_aside(stop, slow_batch, 4) == 6  # growing: steps aside
    waited_at_most = 0.5 + time.perf_counter() - began
    assert worker._step_aside(stop, slow_batch, 8) == 6  # shrinking: goes on
    writer.append([record(body(q)) for q in range(7, 13)])
    assert worker._step_aside(stop, slow_batch, 6) == 12  # growing, but at the bound
    assert len(stop.pauses) == 1
    assert 3 * 0.5 <= stop.pauses[0] <= 3 * waited_at_most
    writer.close()
    reader.close()
    engine.dispose()
