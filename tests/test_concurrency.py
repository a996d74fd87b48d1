"""The same person, event or code arriving many times at once, through three real server
processes on one database (SQLite file and PostgreSQL), ends up stored exactly once.

Nothing here measures time: every request must simply succeed with the same answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from pegada.ids import new_tracking_id
from pegada.settings import Settings
from pegada.storage.engine import build_engine
from pegada.storage.tables import contact_keys, contacts, events, idempotency_keys, submissions
from tests.conftest import SEED_EVENT_ID, SeedTenant
from tests.servers import Server, running_server, running_servers

pytestmark = pytest.mark.slow

PROCESSES = 3
#: Kept small so three processes per test (and two xdist workers) stay far below
#: PostgreSQL's connection limit; requests beyond it queue on the pool, as in production.
POOL = "5"

EMAIL_VARIANTS = [
    "maria.souza@example.com",
    "Maria.Souza@Example.com",
    "  MARIA.SOUZA@EXAMPLE.COM  ",
    "maria.souza@EXAMPLE.com\t",
    "\nMaria.souza@example.COM",
]
CPF_VARIANTS: list[str | int] = ["529.982.247-25", "52998224725", " 529.982.247-25 ", 52998224725]


@pytest.fixture
def servers(db_url: str, seed_tenant: SeedTenant, tmp_path: Path) -> Iterator[list[Server]]:
    """Three `pegada serve` processes on the test database, the seed tenant already in it."""
    with running_servers(db_url, PROCESSES, tmp_path / "logs", PEGADA_DB_POOL_SIZE=POOL) as procs:
        yield procs
        for server in procs:
            assert "Traceback" not in server.output(), server.output()


def fire(
    servers: list[Server], method: str, path: str, bodies: list[dict[str, Any]]
) -> list[httpx.Response]:
    """Send every body at once, request i to process i mod 3; all replies, in order."""

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.request(method, servers[i % len(servers)].url + path, json=body)
                        for i, body in enumerate(bodies)
                    )
                )
            )

    return asyncio.run(send_all())


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def assert_all_ok(replies: list[httpx.Response]) -> list[Any]:
    problems = [(r.status_code, r.text) for r in replies if r.status_code != 200]
    assert not problems, problems
    return [r.json() for r in replies]


def test_identify_and_send_event_races_store_one_contact_and_one_event(
    servers: list[Server], engine: Engine, seed_tenant: SeedTenant
) -> None:
    sessions = [new_tracking_id() for _ in range(50)]
    identifies = [
        {
            "hostClient": seed_tenant.host_client,
            **seed_tenant.creds(),
            "nome": "Maria Souza",
            "emailPrincipal": EMAIL_VARIANTS[i % len(EMAIL_VARIANTS)],
            "session_id": session,
            "substitute_id": new_tracking_id(),
        }
        for i, session in enumerate(sessions)
    ]
    bodies = assert_all_ok(fire(servers, "PATCH", "/api/identify", identifies))

    ids = {body["dados"]["id"] for body in bodies}
    assert len(ids) == 1, ids
    assert all(body["success"] is True for body in bodies)
    contact_id = int(ids.pop())
    assert count(engine, contacts) == 1
    assert count(engine, contact_keys, contact_keys.c.kind == "email") == 1
    with engine.connect() as conn:
        email, owner = conn.execute(
            select(contact_keys.c.value, contact_keys.c.contact_id).where(
                contact_keys.c.kind == "email"
            )
        ).one()
    assert (email, owner) == ("maria.souza@example.com", contact_id)

    send_event = {
        "event": [
            {
                "eventType": "29",
                "eventData": {
                    "codCurso": "1",
                    "codOferta": "3",
                    "codLocalOferta": "3-5",
                    **seed_tenant.creds(),
                },
            }
        ],
        "hostClient": seed_tenant.host_client,
        "session_id": sessions[0],
        "event_id": SEED_EVENT_ID,
    }
    replies = fire(servers, "PATCH", "/api/sendEvent", [send_event] * 20)
    assert {(r.status_code, r.text) for r in replies} == {(200, replies[0].text)}
    assert replies[0].json() == {"success": True, "dados": 1}
    assert count(engine, events) == 1
    assert count(engine, events, events.c.contact_id == contact_id) == 1
    assert count(engine, idempotency_keys) == 1


def test_cadastro_cpf_and_event_codigo_races_store_one_of_each(
    servers: list[Server], engine: Engine, seed_tenant: SeedTenant
) -> None:
    cadastros = [
        {
            **seed_tenant.creds(),
            "nome": "Ana Lima",
            "cpf": CPF_VARIANTS[i % len(CPF_VARIANTS)],
            # A different address each time: only the CPF says these are one person.
            "emailPrincipal": f"ana.lima.{i}@example.com",
        }
        for i in range(30)
    ]
    bodies = assert_all_ok(fire(servers, "POST", "/api/Contato/cadastro", cadastros))
    ids = {body["dados"]["id"] for body in bodies}
    assert len(ids) == 1, ids
    contact_id = int(ids.pop())
    assert count(engine, contacts) == 1
    assert count(engine, contact_keys, contact_keys.c.kind == "cpf") == 1
    assert count(engine, contact_keys, contact_keys.c.contact_id != contact_id) == 0

    evento = {
        **seed_tenant.creds(),
        "pessoa": {"id": contact_id},
        "tipo": seed_tenant.event_type_id,
        "codigo": "matricula-2026-0001",
        "codCurso": "7",
    }
    bodies = assert_all_ok(
        fire(
            servers,
            "POST",
            "/api/Evento/cadastro",
            [{**evento, "descricao": f"attempt {i}"} for i in range(20)],
        )
    )
    event_ids = {body["dados"]["id"] for body in bodies}
    assert len(event_ids) == 1, event_ids
    assert count(engine, events) == 1
    assert count(engine, events, events.c.codigo == "matricula-2026-0001") == 1
    assert count(engine, events, events.c.contact_id == contact_id) == 1


def test_a_send_data_resent_while_the_first_is_in_flight_is_stored_once(
    servers: list[Server], engine: Engine, seed_tenant: SeedTenant
) -> None:
    """The tracker's keepalive fetch and the next page's resend of it (same request_id)
    arrive together: one contact, one submission, one nested event, one reply."""
    body = {
        "hostClient": seed_tenant.host_client,
        **seed_tenant.creds(),
        "nome": "Ana Lima",
        "emailPrincipal": "ana.lima@example.com",
        "evento": {"tipo": seed_tenant.event_type_id, "codCurso": "7"},
        "session_id": new_tracking_id(),
        "substitute_id": new_tracking_id(),
        "request_id": new_tracking_id(),
    }
    replies = fire(servers, "PATCH", "/api/v2/sendData", [body] * 20)
    assert {(r.status_code, r.text) for r in replies} == {(200, replies[0].text)}
    assert count(engine, contacts) == 1
    assert count(engine, submissions) == 1
    assert count(engine, events) == 1
    assert count(engine, idempotency_keys) == 1


def _identify_body(seed: SeedTenant, email: str) -> dict[str, Any]:
    return {
        "hostClient": seed.host_client,
        **seed.creds(),
        "emailPrincipal": email,
        "session_id": new_tracking_id(),
        "substitute_id": new_tracking_id(),
    }


def _contact_emails(db_url: str) -> dict[int, str]:
    """Read back through a brand-new engine, as a restarted server would."""
    engine = build_engine(Settings(database_url=db_url))
    try:
        with engine.connect() as conn:
            return {row.id: row.email for row in conn.execute(select(contacts))}
    finally:
        engine.dispose()


def test_acknowledged_identify_survives_kill_9(
    db_url: str, seed_tenant: SeedTenant, tmp_path: Path
) -> None:
    with running_server(db_url, tmp_path / "logs") as server:
        reply = httpx.patch(
            f"{server.url}/api/identify",
            json=_identify_body(seed_tenant, "crash@example.com"),
            timeout=30,
        )
        server.kill_hard()  # no shutdown, no flush: only what was committed is left
    assert reply.status_code == 200, reply.text
    contact_id = int(reply.json()["dados"]["id"])
    assert _contact_emails(db_url) == {contact_id: "crash@example.com"}


def test_kill_9_with_requests_in_flight_loses_nothing_acknowledged(
    db_url: str, seed_tenant: SeedTenant, tmp_path: Path
) -> None:
    """The process dies right after the first 200 while others are still being written:
    every request that got a 200 is stored; the rest may or may not be."""
    emails = [f"inflight.{i}@example.com" for i in range(30)]

    async def send_and_kill(server: Server) -> list[httpx.Response | BaseException]:
        async with httpx.AsyncClient(timeout=30.0) as client:

            async def one(email: str) -> httpx.Response:
                reply = await client.patch(
                    f"{server.url}/api/identify", json=_identify_body(seed_tenant, email)
                )
                if reply.status_code == 200 and server.process.poll() is None:
                    server.kill_hard()
                return reply

            return await asyncio.gather(*(one(e) for e in emails), return_exceptions=True)

    with running_server(db_url, tmp_path / "logs") as server:
        outcomes = asyncio.run(send_and_kill(server))
    acknowledged = {
        int(o.json()["dados"]["id"]): email
        for o, email in zip(outcomes, emails, strict=True)
        if isinstance(o, httpx.Response) and o.status_code == 200
    }
    assert acknowledged
    stored = _contact_emails(db_url)
    assert {cid: stored.get(cid) for cid in acknowledged} == acknowledged
